// Schedules of a training step, as composable options. The four named policies of the Mozart
// study are points in this space, as the paper defines them (docs/training.md, "Policies"):
//
//   baseline  bulk-synchronous: on each chiplet memory and compute take turns, each micro-batch's
//             layer waits for the previous one, every dispatch and combine is a synchronous
//             phase; k copies per token; contiguous placement;
//   A         baseline + overlap: DRAM traffic (weight loads, gradient writes, activation spills)
//             streams under compute and micro-batches pipeline; the all-to-all stays a
//             synchronous phase (the paper: it "is synchronous and cannot be overlapped with
//             computation");
//   B         A + efficient all-to-all: one copy per chiplet, multicast and summed in switches;
//   C         B + the `mozart` placement + streaming: weights prefetched ahead of need (during
//             attention, across layers and micro-batches) as far as SRAM allows, each chiplet's
//             experts heaviest first by the priors.
//
// `overlap-a2a`, in no named policy, goes a step beyond the paper: each dispatch and combine flow
// starts as soon as its sender is done, and each expert chiplet computes as soon as its own
// tokens have arrived.
#pragma once

#include <string>

#include "mozart/net/collectives.hpp"

namespace mozart::workload {

struct Policy {
  std::string name = "baseline";
  bool overlap = false;      // DRAM traffic under compute; micro-batches pipeline
  bool overlap_a2a = false;  // dispatch and combine per sender and receiver, not as phases
  net::AllToAllMode all_to_all = net::AllToAllMode::copy_per_expert;
  bool streaming = false;
  std::string placer = "contiguous";
};

// "baseline", "A", "B", "C", or options joined by '+': overlap, overlap-a2a, per-expert |
// per-chiplet | in-network, streaming, placer=NAME (e.g. "overlap+per-chiplet+placer=mozart").
// Unknown words are an InputError naming `field`.
Policy parse_policy(const std::string& text, const std::string& field = "--policy");

// The options spelled as parse_policy reads them back.
std::string describe(const Policy& policy);

}  // namespace mozart::workload
