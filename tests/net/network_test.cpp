#include "mozart/net/network.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/net/collectives.hpp"
#include "mozart/sim/engine.hpp"

namespace mozart::net {
namespace {

hw::HwSpec grid(const std::string& kind, int rows, int cols, const std::string& bandwidth = "1",
                const std::string& latency = "0") {
  std::string yaml = fmt::format(R"(
name: {kind}-{rows}x{cols}
clock: 1 GHz
chiplet_kinds: {{c: {{peak_flops: {{bf16: 1 TFLOP/s}}, array: {{rows: 1, cols: 1, count: 1}}, sram: {{capacity: 1 MB, bandwidth: 1 GB/s}}}}}}
chiplets: [{{name: n, kind: c, count: {count}, holds_weights: false}}]
topology: {{kind: {kind}, rows: {rows}, cols: {cols}, nodes: n, link: {{bandwidth: {bw}, latency: {lat}}}}}
)",
                                 fmt::arg("kind", kind), fmt::arg("rows", rows),
                                 fmt::arg("cols", cols), fmt::arg("count", rows * cols),
                                 fmt::arg("bw", bandwidth), fmt::arg("lat", latency));
  return hw::read_hw(core::ConfigNode::parse(yaml, "grid"));
}

std::vector<int> all_chiplets(const hw::HwSpec& hw) {
  std::vector<int> nodes;
  for (size_t c = 0; c < hw.chiplets.size(); ++c)
    nodes.push_back(int(c));
  return nodes;
}

double run_plan(const Network& net, const CollectivePlan& plan) {
  sim::TaskGraph graph;
  graph.add_collective(plan);
  return sim::run(graph, net.capacities()).makespan_s;
}

TEST(Network, MeshRoutesAreDimensionOrderedAndMinimal) {
  hw::HwSpec hw = grid("mesh", 4, 4);
  Network net(hw);
  Route r = net.route(0, 15);  // (0,0) -> (3,3)
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(net.channels()[r[2]].to, 3);  // X first: along row 0 to (3,0)
  Network yx(hw, NetworkOptions{.mesh_routing = MeshRouting::yx});
  EXPECT_EQ(yx.channels()[yx.route(0, 15)[2]].to, 12);  // Y first: down column 0
  for (int s = 0; s < 16; ++s) {
    for (int d = 0; d < 16; ++d) {
      int manhattan = std::abs(s % 4 - d % 4) + std::abs(s / 4 - d / 4);
      EXPECT_EQ(int(net.route(s, d).size()), manhattan);
    }
  }
}

TEST(Network, TorusTakesTheShorterWayRound) {
  Network net(grid("torus", 1, 8));
  EXPECT_EQ(net.route(0, 7).size(), 1u);
  EXPECT_EQ(net.route(0, 4).size(), 4u);
  EXPECT_EQ(net.route(1, 6).size(), 3u);
}

TEST(Network, AdaptiveRoutingAvoidsTheLoadedOrder) {
  hw::HwSpec hw = grid("mesh", 2, 2);
  Network net(hw, NetworkOptions{.mesh_routing = MeshRouting::adaptive});
  std::vector<double> load(net.channels().size(), 0);
  Route xy = net.route(0, 3);
  load[xy[0]] = 10;
  Route chosen = net.route(0, 3, load);
  EXPECT_NE(chosen[0], xy[0]);
  EXPECT_EQ(chosen.size(), 2u);
}

TEST(Network, TreeRoutesPassTheSwitchAndAddItsLatency) {
  Network net(*hw::find_preset("mozart-nop-tree-ucie"));
  const hw::HwSpec& hw = net.hw();
  int attn = *hw.find_node("attn"), e5 = *hw.find_node("expert5"), e6 = *hw.find_node("expert6");
  Route down = net.route(attn, e5);
  ASSERT_EQ(down.size(), 2u);
  EXPECT_EQ(hw.node_name(net.channels()[down[0]].to), "sw1_1");
  EXPECT_DOUBLE_EQ(net.latency(down), 10e-9 + 20e-9 + 10e-9);
  EXPECT_EQ(net.route(e5, e6).size(), 2u);  // siblings meet at their switch
  EXPECT_EQ(net.route(e5, *hw.find_node("expert12")).size(), 4u);
}

TEST(Network, ClusterKeepsIntraNodeTrafficOnNvlink) {
  Network net(*hw::find_preset("dgx-h100"));
  const hw::HwSpec& hw = net.hw();
  Route inside = net.route(*hw.find_node("gpu0"), *hw.find_node("gpu7"));
  EXPECT_EQ(hw.node_name(net.channels()[inside[0]].to), "node0.switch");
  Route across = net.route(*hw.find_node("gpu0"), *hw.find_node("gpu8"));
  EXPECT_EQ(hw.node_name(net.channels()[across[0]].to), "fabric");
}

TEST(Network, BadOptionsAndLinksAreInputErrors) {
  hw::HwSpec hw = grid("mesh", 2, 2);
  EXPECT_THROW(Network(hw, NetworkOptions{.efficiency = 0}), core::InputError);
  EXPECT_THROW(Network(hw, NetworkOptions{.efficiency = 1.5}), core::InputError);
  hw.links[0].spec.bytes_per_s = 0;
  EXPECT_THROW(Network{hw}, core::InputError);
}

TEST(Network, RouteBetweenUnconnectedNodesIsAnInputError) {
  // Only a spec that skipped `hw check` can be disconnected: cut the tree's link to expert5.
  hw::HwSpec hw = *hw::find_preset("mozart-nop-tree-ucie");
  const int e5 = *hw.find_node("expert5");
  std::erase_if(hw.links, [&](const hw::Link& l) { return l.a == e5 || l.b == e5; });
  Network net(hw);
  try {
    net.route(*hw.find_node("attn"), e5);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("expert5"), std::string::npos) << e.what();
  }
}

TEST(Network, UniformAllToAllOnAn8x8MeshMeetsItsBisectionBound) {
  // Every node sends 160 units to each of 63 peers over unit links: 128 flows share each
  // middle X channel, so ideal max-min sharing takes exactly 20,480 units.
  hw::HwSpec hw = grid("mesh", 8, 8);
  Network net(hw);
  CollectivePlan plan = all_to_all(net, all_chiplets(hw), 160);
  EXPECT_EQ(plan.flows.size(), 64u * 63);
  double t = run_plan(net, plan);
  const double bisection = 32.0 * 32 * 160 / 8;
  EXPECT_NEAR(t, 20480, 1e-6 * 20480);
  EXPECT_GE(t, bisection * (1 - 1e-12));
}

TEST(Network, EfficiencyScalesTimeAndBandwidthNeverSlows) {
  hw::HwSpec hw = grid("mesh", 4, 4);
  Network ideal(hw);
  Network lossy(hw, NetworkOptions{.efficiency = 0.5});
  double t_ideal = run_plan(ideal, all_to_all(ideal, all_chiplets(hw), 10));
  double t_lossy = run_plan(lossy, all_to_all(lossy, all_chiplets(hw), 10));
  EXPECT_NEAR(t_lossy, 2 * t_ideal, 1e-9 * t_lossy);
  hw::HwSpec faster = grid("mesh", 4, 4, "2");
  Network fast(faster);
  EXPECT_LE(run_plan(fast, all_to_all(fast, all_chiplets(faster), 10)), t_ideal);
}

TEST(Network, PacketisationAddsHeaderBytes) {
  hw::HwSpec hw = grid("mesh", 1, 2);
  Network net(hw, NetworkOptions{.packet_payload_bytes = 256, .packet_header_bytes = 32});
  EXPECT_DOUBLE_EQ(run_plan(net, all_to_all(net, {0, 1}, 256)), 288);
}

}  // namespace
}  // namespace mozart::net
