// Serving iterations with a balancer moving experts between them.
//
// Before each iteration the balancer sees the routed loads of the iterations served so far and
// may copy experts into shadow slots (balance::Balancer). Copies are real flows of the expert's
// weights on the simulated network:
//
//   invasive (eplb)  serving stops until every copy has arrived: the copies run together on the
//                    idle network and their makespan is the iteration's stall;
//   non-invasive     each copy travels beside the iterations, split into a global step (to the
//                    member of the target's FTD nearest the source, across FTDs) and a local step
//                    (inside the target's FTD, to the target), each riding the phase that
//                    `rides` names for it; a replica takes tokens from the first iteration that
//                    starts after its last byte arrived.
//
// Which phase each step rides is derived from link loads the simulation reports (derive_rides):
// one iteration is simulated and, for the links inside FTDs and those between FTDs, each stage's
// bytes over what those links could carry in its time; each step rides the stage that leaves its
// class of links coldest.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "mozart/balance/balancer.hpp"
#include "mozart/workload/inference.hpp"

namespace mozart::study {

struct Rides {
  workload::Stage local = workload::Stage::attention;
  workload::Stage global = workload::Stage::attention;
  // Per stage, the utilisation of the links inside FTDs and of those between FTDs.
  std::array<double, workload::kStages> local_load{};
  std::array<double, workload::kStages> global_load{};
};

// From one simulated iteration (iteration 0, every phase) of `inputs` under `config`.
Rides derive_rides(const workload::ServeInputs& inputs, const workload::ServeConfig& config);

// Each expert's routed choices in iteration i, per MoE layer (what the balancers learn from).
std::vector<std::vector<double>> routed_loads(const workload::ServeInputs& inputs,
                                              const workload::ServeConfig& config, int iteration);

struct BalancedIteration {
  workload::IterationResult result;
  double stall_s = 0;  // serving stopped for an invasive balancer's copies before it
  int copies = 0;      // experts copied, decided before it
  int late = 0;        // non-invasive copies still travelling when it ended
};

struct BalancedRun {
  std::string balancer;
  std::vector<BalancedIteration> iterations;
  int copies = 0;
  double copied_bytes = 0;
  double stall_s = 0;
  int late = 0;
  double clock_s = 0;  // iterations and stalls, end to end
};

// InputError for unknown balancers and bad options (balance::check_options), and for what
// workload::check_serving_inputs and check_serving_memory refuse. The placement's layout slots
// are the homes; the config's shadow_slots come on top. `iteration_done`, when given, is called
// with each iteration's index once it is simulated, in order, on the calling thread (progress).
BalancedRun serve_balanced(const workload::ServeInputs& inputs, const workload::ServeConfig& config,
                           const std::string& balancer, const balance::BalancerOptions& options,
                           const Rides& rides, const std::string& command = "mozart serve",
                           const std::function<void(int)>& iteration_done = {});

}  // namespace mozart::study
