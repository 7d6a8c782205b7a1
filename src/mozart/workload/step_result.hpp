// Runs a training step on the engine and measures it: step time and its breakdown, overlap,
// utilisation of every chiplet, link and memory stack, peak SRAM and memory use, energy,
// MoE-CAP's sparsity-aware utilisation (S-MFU, S-MBU), and the step's lower bound.
//
// Definitions (docs/training.md):
//  * what the step loses to communication (memory, compute) is its time less the time of the
//    same task graph re-simulated with every network channel (memory stack and SRAM port;
//    compute task) a million times faster (taking no time), when StepOptions::resimulate asks;
//  * compute, memory and communication times are the lengths of the unions of the intervals in
//    which any compute task, memory transfer or network flow runs; `*_without_compute_s` the
//    part of them in which no chiplet computes (not what the step would save without them:
//    one chiplet computing hides another's wait); the overlap ratio is the share of
//    memory-or-communication time during which some chiplet computes;
//  * the lower bound, per phase, is the largest of: the busiest engine's compute time, the
//    busiest memory stack's or SRAM port's bytes over its bandwidth, the busiest network
//    channel's bytes over its capacity; with the end-of-step optimizer, the bound of the part
//    before the barrier plus that of the optimizer, which cannot overlap. No schedule beats it;
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
  double memory_without_compute_s = 0;
  double communication_without_compute_s = 0;
  double overlap_ratio = 0;
};

struct LowerBound {
  double compute_s = 0;  // the busiest resource of each kind over the whole step
  double memory_s = 0;
  double network_s = 0;
  double before_optimizer_s = 0;  // the bound of the part before the optimizer's barrier
  double optimizer_s = 0;         // and of the end-of-step optimizer (0 without one)
  double bound_s = 0;             // their sum
  std::string binding;            // "compute", "memory" or "network": what binds before the barrier
};

// The step re-simulated with one kind of resource made (nearly) free.
struct Ideal {
  double step_s = 0;
  double lost_s = 0;  // the step's time less this one's
  LowerBound bound;   // of the re-simulated graph
};

struct Losses {
  bool measured = false;
  Ideal communication;  // network channels a million times faster
  Ideal memory;         // memory stacks and SRAM ports a million times faster
  Ideal compute;        // compute tasks taking no time
};

struct StepOptions {
  bool resimulate = false;  // measure Losses: three more runs of the step's graph
  sim::Timeline* timeline = nullptr;
  // The plan's graph's dependents, for a caller that measures one plan several times (a
  // bandwidth sweep); computed per measurement when null.
  const sim::Dependents* dependents = nullptr;
};

struct Energy {
  double compute_j = 0;
  double sram_j = 0;
  double memory_j = 0;
  double network_j = 0;
  double static_j = 0;  // leakage over the step (hw::static_power_w x step time; 0 without a
                        // technology in the spec): a faster step leaks less
  double total_j() const { return compute_j + sram_j + memory_j + network_j + static_j; }
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
  Losses lost;
  LowerBound lower_bound;
  Energy energy;
  double s_mfu = 0;
  double s_mbu = 0;
  double tokens = 0;
  double routed_slots = 0;
  double copies_per_token = 0;  // C_T of the forward dispatches
  std::string priors;           // where streaming's priors came from
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
                                  const StepConfig& config, const StepOptions& options = {});

// Runs a built step over channels of `capacities` and measures it: the plan's own
// (`plan.platform.capacities`, as simulate_training_step does), or scaled ones, so that a sweep
// of link or memory bandwidth reuses one plan (bandwidths change no decision the builder makes:
// routes, memory and SRAM planning depend on the topology and capacities in bytes only).
StepResult measure_training_step(const StepInputs& inputs, const Policy& policy,
                                 const StepConfig& config, const StepPlan& plan,
                                 const std::vector<double>& capacities,
                                 const StepOptions& options = {});

// The lower bound of running `graph` (a plan's graph, or a copy with other durations) over
// channels of `capacities`.
LowerBound lower_bound_of(const StepPlan& plan, const sim::TaskGraph& graph,
                          const std::vector<double>& capacities);

nlohmann::ordered_json to_json(const StepResult& result);

}  // namespace mozart::workload
