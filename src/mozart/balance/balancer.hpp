// Expert load balancing while serving: balancers behind one interface, chosen by name.
//
//   none  never moves anything;
//   eplb  invasive, EPLB-style: every `period` iterations, from the expert loads of the last
//         `window` iterations, redundant replicas (one at a time to the expert with the largest
//         load per replica, as many as the shadow slots hold) and balanced packing (replicas by
//         load, each onto the lightest device with a free slot), every layer laid out anew;
//         serving stops until every copied expert has arrived;
//   ni    NI-Balancer (non-invasive): expert load predicted as the mean of the last `window`
//         iterations; when a layer's predicted imbalance (max / mean device load − 1) exceeds
//         `alpha`, the hottest expert (by load per replica l_e / r_e) of the most loaded device is
//         copied into a free shadow slot of the topologically nearest device that the copy does
//         not make the new maximum; up to `moves` copies per layer per iteration. A replica
//         whose expert no longer needs it (dropping it keeps the predicted maximum) frees its
//         slot first when no slot is free. Copies ride links the serving phases leave cold
//         (the caller schedules them); serving never waits for them.
//
// A balancer sees loads and placements in device indices (the placement's chiplet order) and
// the hops between devices; it knows nothing of the network, so that the caller decides how
// copies travel. Every decision keeps each expert placed at least once and no device over its
// slots, and never raises the layer's predicted maximum device load.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mozart/placement/placement.hpp"

namespace mozart::balance {

struct BalancerOptions {
  int period = 10;     // eplb: iterations between rebalancings
  int window = 10;     // iterations of load history the decisions use
  double alpha = 0.2;  // ni: the predicted imbalance (max / mean − 1) that triggers a copy
  int moves = 1;       // ni: copies per layer per iteration at most
};

// InputError (naming `command`'s option) for alpha ≤ 0, a window, period or moves below 1, or a
// window longer than the `iterations` of the run.
void check_options(const BalancerOptions& options, int iterations, const std::string& command);

// One expert copied from one device to another (device indices).
struct Copy {
  int layer = 0;  // index into the placement's layers
  int expert = 0;
  int from = 0;
  int to = 0;
};

// What a balancer decided at one iteration.
struct Decision {
  std::vector<placement::LayerPlacement> layers;  // the placement once the copies have landed
  std::vector<Copy> copies;
};

// What a balancer knows at an iteration: the current experts' devices, the routed loads of the
// iterations served so far (history[i][layer][expert]), the hops between devices and the slots
// per device (homes and shadow slots).
struct View {
  int iteration = 0;
  const std::vector<placement::LayerPlacement>& layers;
  const std::vector<std::vector<std::vector<double>>>& history;
  const std::vector<std::vector<int>>& hops;
  int slots = 0;
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  virtual std::string name() const = 0;
  // Whether serving waits for the copies (invasive) or they travel alongside it.
  virtual bool invasive() const = 0;
  // Nothing (an empty decision, layers left empty) when the placement stays as it is.
  virtual Decision decide(const View& view) const = 0;
};

std::vector<std::string> balancer_names();
// InputError naming the choices for an unknown name.
std::unique_ptr<Balancer> make_balancer(const std::string& name, const BalancerOptions& options,
                                        const std::string& command = "--balancer");

// Mean load per expert of one layer over the last `window` iterations of the history.
std::vector<double> predicted_load(const std::vector<std::vector<std::vector<double>>>& history,
                                   int layer, int window);

// Each device's load when every replica of an expert takes an equal share of it (l_e / r_e).
std::vector<double> device_loads(const placement::LayerPlacement& layer,
                                 const std::vector<double>& expert_load, int devices);

// The copies that turn `before` into `after`: each new (expert, device) pair fetched from the
// nearest device that held the expert before (ties: the lower device).
std::vector<Copy> copies_between(int layer, const placement::LayerPlacement& before,
                                 const placement::LayerPlacement& after,
                                 const std::vector<std::vector<int>>& hops);

}  // namespace mozart::balance
