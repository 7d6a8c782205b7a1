// Runs a training step on the engine and measures it: step time and its breakdown, overlap,
// utilisation of every chiplet, link and memory stack, peak SRAM and memory use, energy,
// MoE-CAP's sparsity-aware utilisation (S-MFU, S-MBU), and the step's lower bound.
//
// Definitions (docs/training.md):
//  * compute, memory and communication times are the lengths of the unions of the intervals in
//    which any compute task, memory transfer or network flow runs; "exposed" is the part of
//    memory or communication time when no compute runs; the overlap ratio is the share of
//    memory-or-communication time hidden under compute;
//  * the lower bound is the largest of: the busiest engine's compute time, the busiest memory
//    stack's or SRAM port's bytes over its bandwidth, the busiest network channel's bytes over
//    its capacity. No schedule beats it;
//  * S-MFU is the FLOPs the step needs over the step time × the peak of every chiplet; S-MBU
//    the weight, gradient and optimizer-state bytes it moves over the step time × the
//    bandwidth of every memory stack.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/sim/timeline.hpp"
#include "mozart/workload/training.hpp"

namespace mozart::workload {

struct Breakdown {
  double compute_s = 0;
  double memory_s = 0;
  double communication_s = 0;
  double exposed_memory_s = 0;
  double exposed_communication_s = 0;
  double overlap_ratio = 0;
};

struct LowerBound {
  double compute_s = 0;
  double memory_s = 0;
  double network_s = 0;
  double bound_s = 0;
  std::string binding;  // "compute", "memory" or "network"
};

struct Energy {
  double compute_j = 0;
  double sram_j = 0;
  double memory_j = 0;
  double network_j = 0;
  double total_j() const { return compute_j + sram_j + memory_j + network_j; }
};

struct ChipletUse {
  std::string name;
  double busy_s = 0;
  double utilisation = 0;
  double flops = 0;
  double sram_capacity = 0;
  double sram_reserved = 0;  // working and retained activations
  double sram_peak = 0;      // reserved plus the most streamed weights held at once
};

struct StackUse {
  std::string name;
  std::string kind;
  double capacity = 0;
  double weights = 0;  // resident
  double needed = 0;   // weights, gradients, optimizer states and spilled activations
  double bytes = 0;    // moved during the step
  double utilisation = 0;
};

struct LinkUse {
  std::string name;
  double bytes = 0;
  double utilisation = 0;
};

struct StepResult {
  std::string model;
  std::string hardware;
  Policy policy;
  StepConfig config;
  double step_s = 0;
  Breakdown breakdown;
  LowerBound lower_bound;
  Energy energy;
  double s_mfu = 0;
  double s_mbu = 0;
  double tokens = 0;
  double routed_slots = 0;
  double copies_per_token = 0;  // C_T of the forward dispatches
  double flops = 0;
  std::array<double, kTrafficKinds> memory_bytes{};  // by traffic kind
  double network_bytes = 0;                          // on the wire, summed over channels
  bool memory_fits = true;  // weights, gradients, optimizer states and spills in every stack
  std::vector<ChipletUse> chiplets;
  std::vector<StackUse> stacks;
  std::vector<LinkUse> links;
  std::size_t tasks = 0;
  std::uint64_t events = 0;
};

StepResult simulate_training_step(const StepInputs& inputs, const Policy& policy,
                                  const StepConfig& config, sim::Timeline* timeline = nullptr);

nlohmann::ordered_json to_json(const StepResult& result);

}  // namespace mozart::workload
