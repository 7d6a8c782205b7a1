// How good a placement is on a trace: the copies a token needs (C_T) over chiplets and over
// groups, the routed load of each chiplet and group, hop-weighted traffic, and the memory the
// expert weights take on each chiplet.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/placement/placement.hpp"
#include "mozart/trace/trace.hpp"

namespace mozart::placement {

struct LayerMetrics {
  int layer_id = 0;
  double copies_chiplets = 0;    // C_T: distinct chiplets per token
  double copies_groups = 0;      // distinct groups per token
  double chiplet_imbalance = 0;  // max/mean routed slots
  double group_imbalance = 0;
  double hop_copies = 0;             // Σ over a token's copies of the hops to their chiplets
  std::vector<double> chiplet_load;  // routed slots per chiplet
  std::vector<double> group_load;
};

struct Metrics {
  std::vector<LayerMetrics> layers;
  double copies_chiplets = 0;  // means over layers
  double copies_groups = 0;
  double chiplet_imbalance = 0;
  double group_imbalance = 0;
  double hop_copies = 0;
  double worst_chiplet_imbalance = 0;     // the largest layer's chiplet max/mean
  std::vector<double> step_chiplet_load;  // routed slots per chiplet summed over the layers
  double step_chiplet_imbalance = 0;      // max/mean of that: the step's balance
  double step_group_imbalance = 0;
  double expert_bytes = 0;      // one expert's weights; 0 when unknown
  double max_weight_bytes = 0;  // the fullest chiplet's expert weights over all layers
  double memory_bytes = 0;      // per chiplet, from the layout
};

// A token needing a replicated expert uses a replica on a chiplet it already sends to, else the
// replica whose chiplet has the least load so far. Layers are matched by id; a trace layer the
// placement lacks, or a different expert count, is an InputError (a placement for another model).
Metrics evaluate(const Placement& placement, const trace::Trace& trace, double expert_bytes = 0);

nlohmann::ordered_json to_json(const Metrics& metrics, bool per_layer);

// max/mean of a load vector (1 when all equal, 0 when empty or all zero).
double max_over_mean(const std::vector<double>& load);

}  // namespace mozart::placement
