#include "mozart/hw/cost.hpp"

#include <cmath>

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/hw/paper.hpp"
#include "mozart/hw/zoo.hpp"

namespace mozart::hw {
namespace {

HwSpec parse(const std::string& yaml) {
  return read_hw(core::ConfigNode::parse(yaml, "hw.yaml"));
}

// One chiplet of 4 arrays of 10x10 PEs (400 PEs) and 3 MB of SRAM on the same die.
const char* kOneChiplet = R"(
name: one
clock: 1 GHz
technology:
  node: 28nm
  pe_area_um2: 1000
  sram_area_mm2_per_mb: 2
  sram_leakage_w_per_mb: 0.01
  logic_leakage_w_per_mm2: 0.05
chiplet_kinds:
  c:
    peak_flops: {fp16: 1 TFLOP/s}
    array: {rows: 10, cols: 10, count: 4}
    sram: {capacity: 3 MB, bandwidth: 100 GB/s, energy_per_bit: 0.5 pJ}
    energy_per_flop: 1 pJ
chiplets: [{name: n, kind: c, holds_weights: false}]
topology: {kind: explicit, links: []}
)";

TEST(Cost, OneChipletHasItsClosedFormAreaAndPower) {
  const HwSpec hw = parse(kOneChiplet);
  const Area a = area(hw);
  ASSERT_EQ(a.kinds.size(), 1u);
  EXPECT_DOUBLE_EQ(a.kinds[0].compute_mm2, 400 * 1000e-6);  // 0.4 mm2
  EXPECT_DOUBLE_EQ(a.kinds[0].sram_mm2, 3 * 2.0);
  EXPECT_DOUBLE_EQ(a.kinds[0].footprint_mm2, 6.4);  // one die: the sum
  EXPECT_DOUBLE_EQ(a.total_mm2, 6.4);
  EXPECT_DOUBLE_EQ(a.logic_mm2, 0.4);
  EXPECT_DOUBLE_EQ(static_power_w(hw), 0.4 * 0.05 + 3 * 0.01);
  const Power p = power(hw, peak_rates(hw));
  EXPECT_DOUBLE_EQ(p.compute_w, 1e-12 * 1e12);
  EXPECT_DOUBLE_EQ(p.sram_w, 0.5e-12 * 8 * 100e9);
  EXPECT_DOUBLE_EQ(p.total_w, 1 + 0.4 + 0.02 + 0.03);
}

TEST(Cost, StackedSramTakesNoFootprintBesideALargerComputeDie) {
  std::string yaml = kOneChiplet;
  yaml.replace(yaml.find("capacity: 3 MB"), 14, "capacity: 0.1 MB, stacked_3d: true");
  const Area a = area(parse(yaml));
  EXPECT_DOUBLE_EQ(a.kinds[0].footprint_mm2, 0.4);          // compute die over SRAM die
  EXPECT_DOUBLE_EQ(a.kinds[0].silicon_mm2, 0.4 + 0.1 * 2);  // both dies are silicon
}

TEST(Cost, LinksSwitchesAndHbmPackagesAddTheirArea) {
  // Two chiplets on a switch, 1 GB/s links: 8 wires per direction at 0.125 GB/s, 16 bumps of
  // 50 um x 50 um at each end of each link.
  const HwSpec hw = parse(R"(
name: two
clock: 1 GHz
technology: {node: 28nm, switch_port_area_mm2: 0.5, hbm_package_area_mm2: 90}
chiplet_kinds:
  c: {peak_flops: {fp16: 1 TFLOP/s}, array: {rows: 1, cols: 1, count: 1}, sram: {capacity: 1 MB, bandwidth: 1 GB/s}}
chiplets: [{name: n, kind: c, count: 2}]
memories: [{name: m, kind: hbm, capacity: 1 GiB, bandwidth: 1 GB/s, attach: [n]}]
topology: {kind: star, nodes: n, link: {bandwidth: 1 GB/s, energy_per_bit: 1 pJ}}
)");
  const double end = 16 * 0.05 * 0.05;
  const Area a = area(hw);
  EXPECT_NEAR(a.kinds[0].phy_mm2, 2 * end, 1e-12);
  EXPECT_NEAR(a.switches_mm2, 2 * 0.5 + 2 * end, 1e-12);
  EXPECT_DOUBLE_EQ(a.memory_mm2, 90);
  const Power p = power(hw, peak_rates(hw));
  EXPECT_DOUBLE_EQ(p.link_w, 2 * 2 * 1e9 * 8 * 1e-12);  // 2 links, both directions
}

TEST(Cost, MoreTilesOrLargerArraysCostMoreAreaAndPower) {
  const Technology tech = technology_28nm();
  double last_area = 0, last_static = 0;
  for (int tiles : paper::kTileChoices) {
    const paper::Derived d = paper::derive_config(tech, {tiles, 16});
    const HwSpec hw = paper::paper_system(tech, d);
    EXPECT_GT(d.system_area_mm2, last_area) << tiles;
    EXPECT_GT(static_power_w(hw), last_static) << tiles;
    last_area = d.system_area_mm2;
    last_static = static_power_w(hw);
  }
  // Dynamic power at peak grows with the arrays, too.
  HwSpec qwen = *find_preset("mozart-paper-qwen3");
  const double before = power(qwen, peak_rates(qwen)).total_w;
  const double area_before = area(qwen).total_mm2;
  qwen.kinds[0].array.count *= 2;
  qwen.kinds[0].peak_flops_per_s.front().second *= 2;
  EXPECT_GT(power(qwen, peak_rates(qwen)).total_w, before);
  EXPECT_GT(area(qwen).total_mm2, area_before);
}

TEST(Cost, WithoutTechnologyThereIsNoStaticPower) {
  const HwSpec hw = *find_preset("mozart-nop-tree-ucie");
  EXPECT_FALSE(hw.technology.has_value());
  EXPECT_EQ(static_power_w(hw), 0);
  EXPECT_GT(power(hw, peak_rates(hw)).dynamic_w, 0);
}

TEST(Cost, TechnologyOutOfRangeIsAnInputErrorNamingTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"sram_area_mm2_per_mb: -1", "technology.sram_area_mm2_per_mb"},
      {"pe_area_um2: 0", "technology.pe_area_um2"},
      {"logic_leakage_w_per_mm2: -0.1", "technology.logic_leakage_w_per_mm2"},
      {"wire_pitch_um: lots", "technology.wire_pitch_um"},
      {"wire_rate: 0 GB/s", "technology.wire_rate"},
      {"sram_area_per_mb: 1", "unknown key 'sram_area_per_mb'"},
  };
  for (const auto& [entry, expect] : cases) {
    std::string yaml = kOneChiplet;
    yaml.replace(yaml.find("pe_area_um2: 1000"), 17, entry);
    try {
      parse(yaml);
      ADD_FAILURE() << entry << " was accepted";
    } catch (const core::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
    }
  }
  std::string unknown_node = kOneChiplet;
  unknown_node.replace(unknown_node.find("node: 28nm"), 10, "node: 3nm");
  EXPECT_THROW(parse(unknown_node), core::InputError);
}

TEST(PaperDerivation, RecoversAConfigurationFromItsOwnArea) {
  const Technology tech = technology_28nm();
  for (paper::ChipletConfig c : {paper::ChipletConfig{36, 16}, paper::ChipletConfig{64, 21},
                                 paper::ChipletConfig{100, 24}}) {
    const paper::Derived d =
        paper::derive_for_area(tech, paper::derive_config(tech, c).system_area_mm2);
    EXPECT_EQ(d.config.tiles, c.tiles);
    EXPECT_EQ(d.config.array_side, c.array_side);
  }
}

TEST(PaperDerivation, LinksFollowTheChipletEdge) {
  const Technology tech = technology_28nm();
  const paper::Derived d = paper::derive_config(tech, {64, 20});
  // 64 x 16 x 400 PEs of 1,393.8 um2 (the compute die, larger than 145 MB of SRAM).
  EXPECT_NEAR(d.footprint_mm2, 409600 * tech.pe_area_um2 * 1e-6, 1e-9);
  EXPECT_EQ(d.wires_per_direction, int(std::sqrt(d.footprint_mm2) * 1000 / 50));
  EXPECT_DOUBLE_EQ(d.link_bytes_per_s, d.wires_per_direction * 0.125e9);
  EXPECT_DOUBLE_EQ(d.peak_flops_per_s, 409600 * 2 * 1e9);
}

TEST(PaperDerivation, PresetsFollowTheirDerivation) {
  for (const paper::Table2& row : paper::table2()) {
    SCOPED_TRACE(row.preset);
    const HwSpec hw = *find_preset(row.preset);
    ASSERT_TRUE(hw.technology.has_value());
    const paper::Derived d = paper::derive_for_area(*hw.technology, row.area_mm2);
    ASSERT_EQ(hw.kinds.size(), 1u);  // every chiplet alike
    const ChipletKind& k = hw.kinds[0];
    EXPECT_EQ(k.array.rows, d.config.array_side);
    EXPECT_EQ(k.array.cols, d.config.array_side);
    EXPECT_EQ(k.array.count, d.arrays);
    EXPECT_NEAR(k.peak(core::DataType::fp16), d.peak_flops_per_s, 1e-9 * d.peak_flops_per_s);
    EXPECT_NEAR(k.sram.bytes, d.sram_bytes, 1e-9 * d.sram_bytes);
    EXPECT_NEAR(k.sram.bytes_per_s, d.sram_bytes_per_s, 1e-9 * d.sram_bytes_per_s);
    EXPECT_TRUE(k.sram.stacked_3d);
    EXPECT_EQ(hw.chiplets.size(), 17u);
    EXPECT_EQ(hw.switches.size(), 4u);
    EXPECT_EQ(hw.memories.size(), 6u);
    int behind_switches = 0;  // the paper: each expert group's stack hangs off its switch
    for (const MemoryStack& m : hw.memories)
      behind_switches += m.networked() && hw.is_switch(m.node) ? 1 : 0;
    EXPECT_EQ(behind_switches, 4);
    for (const Link& l : hw.links)
      EXPECT_NEAR(l.spec.bytes_per_s, d.link_bytes_per_s, 1e-9 * d.link_bytes_per_s);
    // The derivation's system is the preset's: the same area.
    EXPECT_NEAR(area(hw).total_mm2, d.system_area_mm2, 1e-6 * d.system_area_mm2);
  }
}

}  // namespace
}  // namespace mozart::hw
