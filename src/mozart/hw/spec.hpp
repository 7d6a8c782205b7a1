// The hardware specification: chiplets and their kinds, memory stacks, switches, links and the
// topology that joins them, as read from a YAML file (configs/hw/*.yaml are the presets).
//
// Nodes of the network graph are numbered chiplets first (0 .. chiplets-1), then switches.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/core/config.hpp"
#include "mozart/core/units.hpp"
#include "mozart/hw/technology.hpp"

namespace mozart::hw {

// Compute engines as systolic arrays: a GEMM is cut into rows x cols output tiles shared by
// `count` arrays, so small GEMMs leave arrays idle (see compute.hpp).
struct ComputeArray {
  int rows = 0;
  int cols = 0;
  int count = 0;
};

struct SramSpec {
  double bytes = 0;
  double bytes_per_s = 0;
  bool stacked_3d = false;  // hybrid-bonded on the compute die
  double energy_per_bit_j = 0;
};

// A chiplet's injection and ejection ports into the network, per direction; 0: no port that
// way (the chiplet sends or receives on all its links at once).
struct Endpoint {
  double injection_bytes_per_s = 0;
  double ejection_bytes_per_s = 0;

  bool any() const { return injection_bytes_per_s > 0 || ejection_bytes_per_s > 0; }
};

struct ChipletKind {
  std::string name;
  std::vector<std::pair<core::DataType, double>> peak_flops_per_s;
  ComputeArray array;
  SramSpec sram;
  double energy_per_flop_j = 0;
  // Its chiplets' injection and ejection ports, per direction as given (a direction it does
  // not give: the topology's `endpoint`, if any).
  std::optional<double> injection_bytes_per_s;
  std::optional<double> ejection_bytes_per_s;

  // Peak for a data type; 0 when the kind cannot compute in it.
  double peak(core::DataType type) const;
};

enum class Role { attention, expert, any };

struct Coord {
  int x = 0;  // column
  int y = 0;  // row
};

struct Chiplet {
  std::string name;   // "expert3"
  std::string group;  // "expert": the entry of `chiplets` it came from
  int index_in_group = 0;
  int kind = 0;  // index into HwSpec::kinds
  Role role = Role::any;
  bool holds_weights = true;
  std::optional<Coord> coord;  // on a mesh or torus
  // Its injection and ejection ports into the network (one channel each).
  Endpoint endpoint;
};

enum class MemoryKind { hbm, dram, ssd };

struct LinkSpec {
  double bytes_per_s = 0;  // per direction
  double latency_s = 0;
  double energy_per_bit_j = 0;
};

// A memory stack is attached either directly to chiplets (their private or shared memory:
// transfers use the stack's bandwidth and the chiplet's SRAM port only) or to one node of the
// network, a switch or a chiplet (`node` >= 0): then the chiplets it serves reach it over the
// network's links, from that node, sharing them with every other flow; an optional port link
// of its own bandwidth joins the stack to its node.
struct MemoryStack {
  std::string name;
  MemoryKind kind = MemoryKind::hbm;
  double bytes = 0;
  double bytes_per_s = 0;
  double energy_per_bit_j = 0;
  std::vector<int> chiplets;  // chiplets whose memory traffic it carries (they share its bandwidth)
  int node = -1;              // network node it hangs off; -1: attached directly to `chiplets`
  std::optional<LinkSpec> port;  // the link from the stack to `node`, when it has its own

  bool networked() const { return node >= 0; }
};

struct Switch {
  std::string name;
  int ports = 0;  // 0: as many as it has links
  bool multicast = false;
  bool aggregate = false;  // sums partial results in the network
  double hop_latency_s = 0;
};

struct Link {
  int a = 0;  // node ids
  int b = 0;
  LinkSpec spec;
  std::string label;  // "nop", "nvlink", "infiniband" ...
};

// What fraction of its bandwidth each class of channel delivers under load (packet-level
// losses: arbitration, flow control, serialisation), calibrated with `mozart net calibrate`.
// A channel out of a switch is a switch traversal: it takes both the link's and the switch's.
struct Efficiency {
  double link = 1;
  double endpoint = 1;
  double switch_traversal = 1;
};

struct Topology {
  std::string kind;  // tree, mesh, torus, star, cluster, fat_tree, explicit
  std::vector<int> fanouts;
  std::vector<int> parallel;  // tree: switches side by side at each switch level, root first
  int k = 0;                  // fat_tree: k-ary n-tree
  int n = 0;
  int rows = 0;
  int cols = 0;
  int nodes_per_group = 0;  // cluster: chiplets per node
  Efficiency efficiency;
  // Mesh or torus of several wafers: each wafer a wafer_rows x wafer_cols tile of the grid;
  // links that cross a tile's edge are the wafer-to-wafer links (label "wafer"). 0: one wafer.
  int wafer_rows = 0;
  int wafer_cols = 0;

  int wafers() const {
    return wafer_rows > 0 ? (rows / wafer_rows) * (cols / wafer_cols) : (rows > 0 ? 1 : 0);
  }
  // The wafer of grid cell (x, y), row-major over the tiles.
  int wafer_of(int x, int y) const {
    return wafer_rows > 0 ? (y / wafer_rows) * (cols / wafer_cols) + x / wafer_cols : 0;
  }
};

struct HwSpec {
  std::string name;
  std::string description;
  double clock_hz = 0;
  std::vector<ChipletKind> kinds;
  std::vector<Chiplet> chiplets;
  std::vector<MemoryStack> memories;
  std::vector<Switch> switches;
  std::vector<Link> links;
  Topology topology;
  std::optional<Technology> technology;  // for area and power (cost.hpp); absent: no cost model

  int node_count() const { return int(chiplets.size() + switches.size()); }
  bool is_switch(int node) const { return node >= int(chiplets.size()); }
  const std::string& node_name(int node) const;
  std::optional<int> find_node(const std::string& node) const;
  std::vector<int> chiplets_with_role(Role role) const;
};

std::string_view to_string(Role role);
std::string_view to_string(MemoryKind kind);

// Reads and checks a hardware spec; every problem is an InputError naming the field.
HwSpec read_hw(const core::ConfigNode& root);

// The checks `mozart hw check` reports: connected topology, positive sizes and bandwidths,
// every weight-holding chiplet attached to a memory, switch port counts.
void check(const HwSpec& hw, const std::string& source);

nlohmann::ordered_json to_json(const HwSpec& hw);

}  // namespace mozart::hw
