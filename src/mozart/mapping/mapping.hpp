// Mappings of inference's tensor-parallel attention onto devices, chosen by name:
//
//   baseline  each TP group a compact block of the mesh (consecutive devices off a mesh); a
//             device's Full Token Domain (FTD: one member of every TP group, a set holding all
//             tokens) is the nearest member of each group, so FTDs overlap and span the mesh;
//   er        Entwined Ring: the mesh is tiled by disjoint compact FTDs of devices/tp devices
//             (2 x 2 when tp = devices / 4), TP group g is the g-th device of every FTD, so each
//             MoE all-to-all stays inside one FTD and the TP all-reduce runs on a ring whose
//             neighbours are an FTD's side apart;
//   her       Hierarchical Entwined Ring across wafers: each wafer tiled as er, each TP group
//             holding tp / wafers members on every wafer; the all-reduce is a reduce-scatter
//             inside each wafer, an all-reduce of the shards across wafers and an all-gather
//             inside each wafer.
//
// Tokens: every member of a TP group holds all of its group's tokens after attention's
// all-reduce. The tokens of group g bound for an expert on device d leave from source[d][g]
// (d's FTD member of g), which also takes their outputs back; the partial outputs of a group's
// members are summed by the group's all-reduce that ends the MoE layer.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/net/network.hpp"

namespace mozart::mapping {

struct Mapping {
  std::string name;
  std::string hardware;
  int devices = 0;
  int tp = 0;
  int wafers = 1;
  std::vector<std::vector<int>> groups;  // TP groups, members in all-reduce ring order
  std::vector<int> group_of;             // per device
  std::vector<int> rank_of;              // per device: its index in its group
  std::vector<std::vector<int>> source;  // [device][group]: who sends the group's tokens to it
  std::vector<std::vector<int>> ftds;    // disjoint FTDs (er, her); empty for baseline
  std::vector<int> ftd_of;               // per device; -1 for baseline
  std::vector<int> wafer_of;             // per device
  // FTD block shape on the mesh (er, her) or TP block shape (baseline); 0 off a mesh.
  int block_rows = 0;
  int block_cols = 0;
  bool hierarchical = false;  // her: the all-reduce goes wafer by wafer

  int group_count() const { return static_cast<int>(groups.size()); }
  // The members of group g on wafer w, in ring order.
  std::vector<int> members_on(int g, int w) const;
};

std::vector<std::string> mapping_names();

// InputError (naming `command`'s --mapping or --tp) for an unknown name, a tp that does not
// divide the devices, or a mapping that does not fit the hardware (er and her need a mesh tiled
// by FTDs; her several wafers and tp a multiple of them).
Mapping make_mapping(const net::Network& net, const std::string& name, int tp,
                     const std::string& command);

// The mapping drawn on the mesh as text: each device's TP group and rank, and its FTD.
std::string draw(const hw::HwSpec& hw, const Mapping& mapping);

// Checks a mapping keeps its promises (the tests' and `map show`'s invariants): every device in
// exactly one group of tp members, each source a member of its group, disjoint FTDs that each
// hold one member of every group. Returns the first broken one, empty when none.
std::string broken_invariant(const Mapping& mapping);

nlohmann::ordered_json to_json(const Mapping& mapping);

}  // namespace mozart::mapping
