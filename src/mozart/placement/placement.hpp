// Expert placement: for each MoE layer, which chiplets hold each expert (the first is its home,
// any others are replicas of a hot expert), on a device layout that says which chiplets hold
// experts, how they group (under one switch, or on one shared memory stack), how many experts
// each can hold, and how far each is from where tokens come from.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/hw/spec.hpp"

namespace mozart::placement {

struct DeviceLayout {
  std::string hardware;               // the spec's name
  std::vector<std::string> chiplets;  // the expert chiplets' names
  std::vector<int> group;             // group of each chiplet, 0-based and dense
  std::vector<std::string> group_names;
  int slots = 0;             // experts (homes and replicas) one chiplet may hold per layer
  std::vector<double> hops;  // mean hops from the token sources to each chiplet
  double memory_bytes = 0;   // memory for expert weights per chiplet; 0 = unknown

  int chiplet_count() const { return static_cast<int>(chiplets.size()); }
  int group_count() const { return static_cast<int>(group_names.size()); }
  std::vector<int> chiplets_in_group(int g) const;
};

// The expert chiplets of a spec (role expert, else every weight-holding chiplet), grouped by the
// switch they hang from, else by a memory stack they share, else one group each; or in
// contiguous groups of `group_size` when it is positive. Hops are counted from the attention
// chiplets (every chiplet when there is none). `slots` 0 means ceil(experts / chiplets).
DeviceLayout layout_from_hw(const hw::HwSpec& hw, int experts, int slots = 0, int group_size = 0);

// A synthetic layout: `chiplets` devices in contiguous groups of `group_size`, one hop each.
DeviceLayout uniform_layout(int chiplets, int group_size, int slots, const std::string& name);

// Where one layer's experts live: chiplets_of[e] lists expert e's chiplets, home first.
struct LayerPlacement {
  int layer_id = 0;
  std::vector<std::vector<int>> chiplets_of;
};

// What a solver said about a layer, for placers that run one.
struct SolverReport {
  std::string status;    // "optimal", "time limit", "trivial", ...
  double objective = 0;  // the largest group load (mozart); Σ_g |deviation| (mozart-paper)
  double bound = 0;      // the solver's lower bound on it
  double gap = 0;        // (objective - bound) / objective
  double seconds = 0;
};

struct Placement {
  std::string source;  // the file it was read from, for messages; empty when made here
  std::string model;
  int experts = 0;
  std::string placer;
  DeviceLayout layout;
  std::vector<LayerPlacement> layers;
  std::vector<std::optional<SolverReport>> solver;  // per layer, where a solver ran

  // chiplet → expert list of one layer
  std::vector<std::vector<int>> experts_on(std::size_t layer) const;
};

// Checks every layer: each expert placed at least once, on distinct valid chiplets, and no
// chiplet over its slots. InputError naming `source`, the layer and the expert or chiplet.
void validate(const Placement& placement, const std::string& source);

// The one memory rule of place, place compare and simulate: the expert weights on the fullest
// chiplet (homes and replicas, summed over the layers) fit the layout's memory per chiplet.
// Nothing is checked when either size is unknown (0).
void check_expert_memory(const Placement& placement, double expert_bytes);

// A placement read from a file must be one for what it is used with (`used_with`, named in
// errors: a model or a trace): `experts` routed experts, every layer of `layer_ids` placed, and,
// when given, the chiplets of `layout` in its order. InputError naming the placement's file, the
// field, the value and the expectation.
void check_matches(const Placement& placement, const std::string& used_with, int experts,
                   const std::vector<int>& layer_ids, const DeviceLayout* layout = nullptr);

nlohmann::ordered_json to_json(const Placement& placement);
Placement placement_from_json(const nlohmann::json& json, const std::string& source);
// CSV: layer,expert,chiplet,group,replica (one row per copy), after a "# {layout}" line.
std::string to_csv(const Placement& placement);
Placement placement_from_csv(std::string_view text, const std::string& source);

// A placement file: CSV when `path` ends in .csv, JSON otherwise, both ways.
Placement read_placement(const std::string& path);
std::string placement_file_text(const Placement& placement, const std::string& path);

}  // namespace mozart::placement
