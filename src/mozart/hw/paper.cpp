#include "mozart/hw/paper.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "mozart/hw/cost.hpp"

namespace mozart::hw::paper {
namespace {

constexpr double kFlopsPerPePerCycle = 2;  // one multiply-add

ChipletKind chiplet_kind(const Derived& d) {
  ChipletKind k;
  k.name = "chiplet";
  k.peak_flops_per_s = {{core::DataType::fp16, d.peak_flops_per_s}};
  k.array = {d.config.array_side, d.config.array_side, d.arrays};
  k.sram.bytes = d.sram_bytes;
  k.sram.bytes_per_s = d.sram_bytes_per_s;
  k.sram.stacked_3d = true;
  return k;
}

}  // namespace

const std::vector<Table2>& table2() {
  static const std::vector<Table2> rows = {
      {"qwen3-30b-a3b", "mozart-paper-qwen3", 14175, 3340},
      {"olmoe-1b-7b", "mozart-paper-olmoe", 10200, 3550},
      {"deepseek-moe-16b", "mozart-paper-deepseek", 11230, 3190},
  };
  return rows;
}

std::optional<Table2> table2_for_preset(const std::string& preset) {
  for (const Table2& row : table2()) {
    if (row.preset == preset)
      return row;
  }
  return std::nullopt;
}

Derived derive_config(const Technology& tech, ChipletConfig config) {
  Derived d;
  d.config = config;
  d.arrays = config.tiles * kArraysPerTile;
  const double pes = double(d.arrays) * config.array_side * config.array_side;
  d.peak_flops_per_s = pes * kFlopsPerPePerCycle * kClockHz;
  d.sram_bytes = config.tiles * kSramBytesPerTile;
  d.sram_bytes_per_s = config.tiles * kSramBytesPerSPerTile;
  d.footprint_mm2 = core_footprint_mm2(chiplet_kind(d), tech);
  d.edge_mm = std::sqrt(d.footprint_mm2);
  d.wires_per_direction = wires_along_mm(tech, d.edge_mm);
  d.link_bytes_per_s = d.wires_per_direction * tech.wire_bytes_per_s;
  d.system_area_mm2 = area(paper_system(tech, d)).total_mm2;
  return d;
}

HwSpec paper_system(const Technology& tech, const Derived& derived) {
  HwSpec hw;
  hw.name = "paper-system";
  hw.clock_hz = kClockHz;
  hw.technology = tech;
  hw.kinds = {chiplet_kind(derived)};
  hw.chiplets.push_back(Chiplet{"attn", "attn", 0, 0, Role::attention, true, std::nullopt, {}});
  for (int i = 0; i < kExpertChiplets; ++i) {
    hw.chiplets.push_back(
        Chiplet{fmt::format("expert{}", i), "expert", i, 0, Role::expert, true, std::nullopt, {}});
  }
  const LinkSpec link{derived.link_bytes_per_s, 0, 0};
  const int per_switch = kExpertChiplets / kSwitches;
  for (int s = 0; s < kSwitches; ++s) {
    hw.switches.push_back(Switch{fmt::format("sw1_{}", s), per_switch + 1, true, true, 0});
    const int node = int(hw.chiplets.size()) + s;
    hw.links.push_back(Link{0, node, link, "nop"});
    for (int i = 0; i < per_switch; ++i)
      hw.links.push_back(Link{node, 1 + s * per_switch + i, link, "nop"});
  }
  for (int m = 0; m < kHbmStacks; ++m) {
    MemoryStack stack;
    stack.name = fmt::format("hbm{}", m);
    stack.kind = MemoryKind::hbm;
    hw.memories.push_back(stack);
  }
  return hw;
}

Derived derive_for_area(const Technology& tech, double target_area_mm2) {
  Derived best;
  double best_gap = std::numeric_limits<double>::infinity();
  for (int tiles : kTileChoices) {
    for (int side = kMinArraySide; side <= kMaxArraySide; ++side) {
      Derived d = derive_config(tech, {tiles, side});
      const double gap = std::abs(d.system_area_mm2 - target_area_mm2);
      if (gap < best_gap) {  // strict: the first (fewer tiles, smaller array) wins a tie
        best_gap = gap;
        best = d;
      }
    }
  }
  return best;
}

}  // namespace mozart::hw::paper
