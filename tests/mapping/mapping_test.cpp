// Mappings keep their promises: TP groups partition the devices, ER's FTDs are disjoint compact
// blocks that each hold every group (so every token), its rings' neighbours an FTD's side apart,
// HER's FTDs each inside one wafer; and the shapes that cannot be mapped are refused.
#include "mozart/mapping/mapping.hpp"

#include <cstdlib>
#include <set>

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/hw/zoo.hpp"

namespace mozart::mapping {
namespace {

int manhattan(const hw::HwSpec& hw, int a, int b) {
  const auto& p = *hw.chiplets[a].coord;
  const auto& q = *hw.chiplets[b].coord;
  return std::abs(p.x - q.x) + std::abs(p.y - q.y);
}

// Each FTD's devices fill a rows x cols block exactly.
void expect_compact(const hw::HwSpec& hw, const Mapping& m, int rows, int cols) {
  for (const auto& ftd : m.ftds) {
    int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;
    for (int d : ftd) {
      x0 = std::min(x0, hw.chiplets[d].coord->x);
      x1 = std::max(x1, hw.chiplets[d].coord->x);
      y0 = std::min(y0, hw.chiplets[d].coord->y);
      y1 = std::max(y1, hw.chiplets[d].coord->y);
    }
    EXPECT_EQ(y1 - y0 + 1, rows);
    EXPECT_EQ(x1 - x0 + 1, cols);
    EXPECT_EQ(int(ftd.size()), rows * cols);
  }
}

TEST(Mapping, ErOnTheWaferGivesDisjointTwoByTwoFtdsAndARingOfTwoHops) {
  const hw::HwSpec hw = hw::load_hw("wsc-mesh-8x8");
  const net::Network net(hw);
  const Mapping m = make_mapping(net, "er", 16, "test");
  EXPECT_EQ(broken_invariant(m), "");
  ASSERT_EQ(m.ftds.size(), 16u);
  expect_compact(hw, m, 2, 2);
  for (const auto& group : m.groups)
    for (std::size_t i = 0; i < group.size(); ++i)
      EXPECT_EQ(manhattan(hw, group[i], group[(i + 1) % group.size()]), 2);
  // Every device's tokens come from its own FTD: the all-to-all stays inside it.
  for (int d = 0; d < m.devices; ++d)
    for (int s : m.source[d])
      EXPECT_EQ(m.ftd_of[s], m.ftd_of[d]);
}

TEST(Mapping, ErWithTpFourTilesTheWaferWithFourByFourFtds) {
  const hw::HwSpec hw = hw::load_hw("wsc-mesh-8x8");
  const net::Network net(hw);
  const Mapping m = make_mapping(net, "er", 4, "test");
  EXPECT_EQ(broken_invariant(m), "");
  EXPECT_EQ(m.ftds.size(), 4u);
  expect_compact(hw, m, 4, 4);
}

TEST(Mapping, EveryTpThatTilesTheWaferKeepsTheInvariants) {
  const hw::HwSpec hw = hw::load_hw("wsc-mesh-8x8");
  const net::Network net(hw);
  for (int tp : {1, 2, 4, 8, 16, 32, 64})
    for (const char* name : {"baseline", "er"}) {
      const Mapping m = make_mapping(net, name, tp, "test");
      EXPECT_EQ(broken_invariant(m), "") << name << " tp " << tp;
    }
}

TEST(Mapping, BaselineGroupsAreCompactAndEachDeviceTakesTheNearestMember) {
  const hw::HwSpec hw = hw::load_hw("wsc-mesh-8x8");
  const net::Network net(hw);
  const Mapping m = make_mapping(net, "baseline", 4, "test");
  EXPECT_EQ(broken_invariant(m), "");
  EXPECT_TRUE(m.ftds.empty());
  for (const auto& group : m.groups)
    for (int a : group)
      for (int b : group)
        EXPECT_LE(manhattan(hw, a, b), 2);
  for (int d = 0; d < m.devices; ++d)
    for (std::size_t g = 0; g < m.groups.size(); ++g)
      for (int member : m.groups[g])
        EXPECT_LE(manhattan(hw, m.source[d][g], d), manhattan(hw, member, d));
}

TEST(Mapping, HerKeepsEachFtdOnOneWaferAndEachGroupOnEveryWafer) {
  const hw::HwSpec hw = hw::load_hw("wsc-mesh-4x8x8");
  const net::Network net(hw);
  const Mapping m = make_mapping(net, "her", 16, "test");
  EXPECT_EQ(broken_invariant(m), "");
  EXPECT_EQ(m.wafers, 4);
  EXPECT_TRUE(m.hierarchical);
  expect_compact(hw, m, 4, 4);
  for (const auto& ftd : m.ftds) {
    std::set<int> wafers;
    for (int d : ftd)
      wafers.insert(m.wafer_of[d]);
    EXPECT_EQ(wafers.size(), 1u);
  }
  for (int g = 0; g < m.group_count(); ++g)
    for (int w = 0; w < 4; ++w)
      EXPECT_EQ(m.members_on(g, w).size(), 4u);
}

TEST(Mapping, ShapesThatDoNotFitAreRefused) {
  const hw::HwSpec wafer = hw::load_hw("wsc-mesh-8x8");
  const net::Network wafer_net(wafer);
  EXPECT_THROW(make_mapping(wafer_net, "er", 3, "test"), core::InputError);   // not a divisor
  EXPECT_THROW(make_mapping(wafer_net, "her", 4, "test"), core::InputError);  // one wafer
  EXPECT_THROW(make_mapping(wafer_net, "ring", 4, "test"), core::InputError);
  const hw::HwSpec nvl = hw::load_hw("nvl72");
  const net::Network nvl_net(nvl);
  EXPECT_THROW(make_mapping(nvl_net, "er", 4, "test"), core::InputError);  // not a mesh
  EXPECT_EQ(broken_invariant(make_mapping(nvl_net, "baseline", 4, "test")), "");
  const hw::HwSpec four = hw::load_hw("wsc-mesh-4x8x8");
  const net::Network four_net(four);
  EXPECT_THROW(make_mapping(four_net, "her", 2, "test"), core::InputError);  // tp < wafers
  try {
    make_mapping(four_net, "er", 3, "mozart serve");
    FAIL();
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--tp"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mozart::mapping
