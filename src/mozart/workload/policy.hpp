// Schedules of a training step, as composable options. The four named policies of the Mozart
// study are points in this space:
//
//   baseline  bulk-synchronous phases (attention, dispatch, load-and-compute, combine, each
//             waiting for the last to end), k copies per token, contiguous placement;
//   A         baseline + overlap: each expert computes as soon as its weights and tokens are in,
//             its chiplet's results leave as soon as they are done, and weights load while
//             tokens travel;
//   B         A + efficient all-to-all: one copy per chiplet, multicast and summed in switches;
//   C         B + the `mozart` placement + streaming: weights prefetched ahead of need (during
//             attention, across layers and micro-batches) as far as SRAM allows, each chiplet's
//             experts heaviest first.
#pragma once

#include <string>

#include "mozart/net/collectives.hpp"

namespace mozart::workload {

struct Policy {
  std::string name = "baseline";
  bool overlap = false;
  net::AllToAllMode all_to_all = net::AllToAllMode::copy_per_expert;
  bool streaming = false;
  std::string placer = "contiguous";
};

// "baseline", "A", "B", "C", or options joined by '+': overlap, per-expert | per-chiplet |
// in-network, streaming, placer=NAME (e.g. "overlap+per-chiplet+placer=mozart"). Unknown words
// are an InputError naming `field`.
Policy parse_policy(const std::string& text, const std::string& field = "--policy");

// The options spelled as parse_policy reads them back.
std::string describe(const Policy& policy);

}  // namespace mozart::workload
