// Endpoint ports, multipath routing (fat trees, parallel switches and links), efficiency
// classes and traffic files.
#include <filesystem>
#include <fstream>

#include "test_specs.hpp"
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "mozart/core/error.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/net/collectives.hpp"
#include "mozart/net/traffic.hpp"
#include "mozart/sim/engine.hpp"

namespace mozart::net {
namespace {

using test_specs::fat_tree;
using test_specs::spec;

hw::HwSpec mesh(int rows, int cols, const std::string& extra = "") {
  return spec(fmt::format(
      "chiplets: [{{name: n, kind: c, count: {}, holds_weights: false}}]\n"
      "topology: {{kind: mesh, rows: {}, cols: {}, nodes: n, link: {{bandwidth: 1}}{}}}\n",
      rows * cols, rows, cols, extra));
}

hw::HwSpec tapered_tree() {  // BookSim's tree4: 4 roots, 2 middle switches per position
  return spec(
      "chiplets: [{name: n, kind: c, count: 64, holds_weights: false}]\n"
      "topology: {kind: tree, fanouts: [4, 4, 4], parallel: [4, 2, 1], leaves: n,\n"
      "           link: {bandwidth: 1}}\n");
}

std::vector<int> chiplets(const hw::HwSpec& hw) {
  std::vector<int> out;
  for (size_t c = 0; c < hw.chiplets.size(); ++c)
    out.push_back(int(c));
  return out;
}

double run(const Network& net, const CollectivePlan& plan) {
  sim::TaskGraph graph;
  graph.add_collective(plan);
  return sim::run(graph, net.capacities()).makespan_s;
}

double all_to_all_time(const hw::HwSpec& hw, double bytes, NetworkOptions options = {}) {
  const Network net(hw, options);
  return run(net, all_to_all(net, chiplets(hw), bytes));
}

TEST(EndpointPorts, NoneUnlessTheSpecGivesThem) {
  for (const std::string& name : hw::preset_names()) {
    const hw::HwSpec hw = *hw::find_preset(name);
    const Network net(hw);
    EXPECT_FALSE(net.has_endpoints()) << name;
    EXPECT_EQ(net.channels().size(), 2 * hw.links.size()) << name;
  }
}

// A row of three: S between the middle and each end, into the middle or out of it.
double row_of_three(const hw::HwSpec& hw, bool into_middle, double s) {
  const Network net(hw);
  CollectivePlan plan;
  for (int end : {0, 2}) {
    PlannedFlow f;
    f.spec = into_middle ? net.flow(end, 1, s) : net.flow(1, end, s);
    plan.flows.push_back(f);
  }
  return run(net, plan);
}

TEST(EndpointPorts, ANodeReceivesNoFasterThanItsEjectionPort) {
  // Both ends send S to the middle over their own links. Without ports the middle takes both
  // at once (time S); with an ejection port of the links' bandwidth, one at a time (2 S).
  const double s = 1000;
  auto both_to_middle = [&](const hw::HwSpec& hw) { return row_of_three(hw, true, s); };
  EXPECT_DOUBLE_EQ(both_to_middle(mesh(1, 3)), s);
  EXPECT_DOUBLE_EQ(both_to_middle(mesh(1, 3, ", endpoint: {bandwidth: 1}")), 2 * s);
  // A chiplet kind's own port overrides the topology's.
  hw::HwSpec wide = mesh(1, 3, ", endpoint: {bandwidth: 1}");
  for (hw::Chiplet& c : wide.chiplets)
    c.endpoint = {2, 2};
  EXPECT_DOUBLE_EQ(both_to_middle(wide), s);
  // Only the ejection port limits a node that receives: a wide ejection port with narrow
  // injection ports takes both at once; a narrow ejection port one at a time.
  EXPECT_DOUBLE_EQ(both_to_middle(mesh(1, 3, ", endpoint: {injection: 1, ejection: 2}")), s);
  EXPECT_DOUBLE_EQ(both_to_middle(mesh(1, 3, ", endpoint: {injection: 2, ejection: 1}")), 2 * s);
  EXPECT_DOUBLE_EQ(both_to_middle(mesh(1, 3, ", endpoint: {ejection: 1}")), 2 * s);
}

TEST(EndpointPorts, InjectionAndEjectionHaveTheirOwnBandwidths) {
  // The middle of a row of three sends S to both ends: its injection port carries 2 S.
  const double s = 1000;
  auto middle_to_both = [&](const hw::HwSpec& hw) { return row_of_three(hw, false, s); };
  EXPECT_DOUBLE_EQ(middle_to_both(mesh(1, 3, ", endpoint: {bandwidth: 1}")), 2 * s);
  EXPECT_DOUBLE_EQ(middle_to_both(mesh(1, 3, ", endpoint: {injection: 2, ejection: 1}")), s);
  EXPECT_DOUBLE_EQ(middle_to_both(mesh(1, 3, ", endpoint: {injection: 0.5, ejection: 1}")), 4 * s);
  EXPECT_DOUBLE_EQ(middle_to_both(mesh(1, 3, ", endpoint: {ejection: 1}")), s);  // no injection
  // `bandwidth` is both; a direction named beside it wins.
  const Network mixed(mesh(1, 3, ", endpoint: {bandwidth: 1, ejection: 3}"));
  EXPECT_DOUBLE_EQ(mixed.channels()[size_t(mixed.injection_port(1))].bytes_per_s, 1);
  EXPECT_DOUBLE_EQ(mixed.channels()[size_t(mixed.ejection_port(1))].bytes_per_s, 3);
  const Network one_way(mesh(1, 3, ", endpoint: {injection: 1}"));
  EXPECT_TRUE(one_way.has_endpoints());
  EXPECT_EQ(one_way.ejection_port(1), -1);
  EXPECT_EQ(one_way.channels().size(), 2 * 2 + 3u);
}

TEST(EndpointPorts, HotSpotIsBoundByEjectionAndPortsNeverSpeedUp) {
  const hw::HwSpec bare = mesh(4, 4), ported = mesh(4, 4, ", endpoint: {bandwidth: 1}");
  std::vector<double> weight(16, 1.0);
  weight[5] = 4;
  const double bytes = 10;
  auto time = [&](const hw::HwSpec& hw) {
    const Network net(hw);
    return run(net, all_to_all(net, chiplets(hw), bytes, weight));
  };
  const double into_hot = 15 * 4 * bytes;  // through one ejection port of bandwidth 1
  EXPECT_LT(time(bare), into_hot);         // four links in: faster than one port
  EXPECT_GE(time(ported), into_hot * (1 - 1e-12));
  EXPECT_GE(time(ported), time(bare));
}

TEST(EndpointPorts, TreesUseThePortsOfTheirEnds) {
  const hw::HwSpec hw = spec(
      "chiplets: [{name: n, kind: c, count: 4, holds_weights: false}]\n"
      "topology: {kind: star, nodes: n, switch: {multicast: true, aggregate: true},\n"
      "           link: {bandwidth: 1}, endpoint: {bandwidth: 1}}\n");
  const Network net(hw);
  const CollectivePlan plan = broadcast(net, chiplets(hw), 100);
  ASSERT_EQ(plan.flows.size(), 1u);
  int ports = 0;
  for (const ChannelUse& u : plan.flows[0].spec.uses)
    if (net.channels()[size_t(u.channel)].kind != ChannelKind::link) {
      ++ports;
      EXPECT_DOUBLE_EQ(u.coefficient, 1);
    }
  EXPECT_EQ(ports, 4);  // the root's injection, three ejections
}

TEST(Multipath, PresetsKeepOnePathPerPair) {
  // Their least-cost paths are unique, so split flows are route()'s unicasts: presets' results
  // do not change with multipath.
  for (const std::string& name : hw::preset_names()) {
    const hw::HwSpec hw = *hw::find_preset(name);
    const Network net(hw);
    for (int s = 0; s < int(hw.chiplets.size()); ++s)
      for (int d = 0; d < int(hw.chiplets.size()); ++d) {
        const FlowSpec split = net.flow(s, d, 1), one = net.unicast(net.route(s, d), 1);
        ASSERT_EQ(split.uses.size(), one.uses.size()) << name << " " << s << "->" << d;
        for (size_t i = 0; i < one.uses.size(); ++i) {
          EXPECT_EQ(split.uses[i].channel, one.uses[i].channel) << name;
          EXPECT_EQ(split.uses[i].coefficient, one.uses[i].coefficient) << name;
        }
        EXPECT_EQ(split.latency_s, one.latency_s) << name << " " << s << "->" << d;
      }
  }
}

TEST(Multipath, FatTreeBuilderHasFullBisection) {
  const hw::HwSpec hw = fat_tree(4, 3);  // 64 terminals, 3 levels of 16 switches
  EXPECT_EQ(hw.switches.size(), 48u);
  EXPECT_EQ(hw.links.size(), 64u + 2 * 64u);
  // Uniform all-to-all: each terminal's one link carries (N - 1) S each way; with fractional
  // ECMP no link inside carries more, so that is the time.
  const double s = 10;
  EXPECT_NEAR(all_to_all_time(hw, s), 63 * s, 1e-9 * 63 * s);
  EXPECT_NEAR(all_to_all_time(fat_tree(2, 3), s), 7 * s, 1e-9 * 7 * s);
  // One path per pair, or one hashed path per flow, is never faster.
  EXPECT_GE(all_to_all_time(hw, s, {.multipath = Multipath::single}), 63 * s * (1 - 1e-12));
  EXPECT_GE(all_to_all_time(hw, s, {.multipath = Multipath::hash}), 63 * s * (1 - 1e-12));
}

TEST(Multipath, TaperedTreeWithParallelSwitches) {
  const hw::HwSpec hw = tapered_tree();
  EXPECT_EQ(hw.switches.size(), 4u + 8u + 16u);
  EXPECT_EQ(hw.links.size(), 32u + 32u + 64u);
  // Leaf up-links are the bottleneck: 4 terminals x 60 remote peers x S over 2 links.
  const double s = 80;
  const double bound = 4 * 60 * s / 2;
  EXPECT_NEAR(all_to_all_time(hw, s), bound, 1e-9 * bound);
  EXPECT_GT(all_to_all_time(hw, s, {.multipath = Multipath::single}), 2 * bound);
}

TEST(Multipath, SplitFlowsConserveTheirStreamAtEveryNode) {
  const hw::HwSpec hw = tapered_tree();
  const Network net(hw);
  for (int src : {0, 5, 63})
    for (int dst = 0; dst < 64; ++dst) {
      if (dst == src)
        continue;
      const FlowSpec f = net.flow(src, dst, 1);
      std::vector<double> balance(size_t(hw.node_count()), 0);
      for (const ChannelUse& u : f.uses) {
        const Channel& c = net.channels()[size_t(u.channel)];
        EXPECT_GT(u.coefficient, 0);
        balance[size_t(c.from)] -= u.coefficient;
        balance[size_t(c.to)] += u.coefficient;
      }
      for (int node = 0; node < hw.node_count(); ++node) {
        const double expected = node == src ? -1 : node == dst ? 1 : 0;
        EXPECT_NEAR(balance[size_t(node)], expected, 1e-12) << src << "->" << dst;
      }
    }
}

TEST(Multipath, ParallelLinksShareByBandwidth) {
  const hw::HwSpec hw = spec(
      "chiplets: [{name: n, kind: c, count: 2, holds_weights: false}]\n"
      "topology: {kind: explicit, links: [{a: n0, b: n1, bandwidth: 1}, {a: n0, b: n1, "
      "bandwidth: 3}]}\n");
  const Network net(hw);
  auto time = [](const Network& network) {
    CollectivePlan plan;
    plan.flows.emplace_back();
    plan.flows.back().spec = network.flow(0, 1, 100);
    return run(network, plan);
  };
  EXPECT_DOUBLE_EQ(time(net), 25);
  EXPECT_GT(time(Network(hw, {.multipath = Multipath::single})), 25);
}

TEST(Multipath, AFlowWaitsForTheLatestPathItTakes) {
  // Two paths of equal cost from a to b: through s1 (links of latency 1/8) and through s2 (links
  // of latency 3/8, a hop of 1/8). Split, half the stream takes each at twice a link's bandwidth,
  // and its last bytes arrive over the slower one; hashed, it takes one path and its latency.
  const hw::HwSpec hw = spec(
      "chiplets: [{name: a, kind: c, holds_weights: false}, {name: b, kind: c, holds_weights: "
      "false}]\n"
      "topology: {kind: explicit, switches: [{name: s1}, {name: s2, hop_latency: 0.125}],\n"
      "           link: {bandwidth: 1}, links: [{a: a, b: s1, latency: 0.125}, {a: s1, b: b, "
      "latency: 0.125},\n"
      "           {a: a, b: s2, latency: 0.375}, {a: s2, b: b, latency: 0.375}]}\n");
  const double s = 100;
  auto time = [&](Multipath multipath) {
    NetworkOptions options;
    options.multipath = multipath;
    const Network net(hw, options);
    CollectivePlan plan;
    plan.flows.push_back(PlannedFlow{});
    plan.flows[0].spec = net.flow(0, 1, s);
    return std::pair{plan.flows[0].spec.latency_s, run(net, plan)};
  };
  EXPECT_DOUBLE_EQ(time(Multipath::split).first, 0.875);
  EXPECT_DOUBLE_EQ(time(Multipath::split).second, 0.875 + s / 2);
  EXPECT_DOUBLE_EQ(time(Multipath::single).second, 0.25 + s);  // route(): through s1
  const auto [hashed_latency, hashed] = time(Multipath::hash);
  EXPECT_TRUE(hashed_latency == 0.25 || hashed_latency == 0.875) << hashed_latency;
  EXPECT_DOUBLE_EQ(hashed, hashed_latency + s);
  // Parallel links on a mesh: a flow split over links of latency 0 and 1/2 waits 1/2.
  const Network grid(mesh(1, 2, ", extra_links: [{a: n0, b: n1, latency: 0.5}]"));
  EXPECT_DOUBLE_EQ(grid.flow(0, 1, s).latency_s, 0.5);
  EXPECT_DOUBLE_EQ(grid.latency(grid.route(0, 1)), 0);
}

TEST(Efficiency, ClassesScaleTheirChannels) {
  const double s = 160;
  const double ideal = all_to_all_time(mesh(4, 4), s);
  hw::HwSpec half = mesh(4, 4, ", efficiency: {link: 0.5}");
  EXPECT_NEAR(all_to_all_time(half, s), 2 * ideal, 1e-9 * ideal);
  // A mesh has no switches: the switch class changes nothing there.
  EXPECT_NEAR(all_to_all_time(mesh(4, 4, ", efficiency: {switch: 0.5}"), s), ideal, 1e-9 * ideal);
  // On a star every flow leaves the switch once: halving the switch class doubles the time.
  const std::string star =
      "chiplets: [{name: n, kind: c, count: 5, holds_weights: false}]\n"
      "topology: {kind: star, nodes: n, link: {bandwidth: 1}";
  const double star_ideal = all_to_all_time(spec(star + "}\n"), s);
  EXPECT_NEAR(all_to_all_time(spec(star + ", efficiency: {switch: 0.5}}\n"), s), 2 * star_ideal,
              1e-9 * star_ideal);
  EXPECT_THROW(mesh(2, 2, ", efficiency: {link: 1.5}"), core::InputError);
  EXPECT_THROW(mesh(2, 2, ", efficiency: {link: 0}"), core::InputError);
  EXPECT_THROW(mesh(2, 2, ", efficiency: {lnk: 0.5}"), core::InputError);
}

class TrafficFile : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const auto path = std::filesystem::temp_directory_path() /
                      fmt::format("mozart-traffic-{}-{}", ::getpid(), name);
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path.string();
  }
  void TearDown() override {
    for (const auto& p : paths_)
      std::filesystem::remove(p);
  }
  std::vector<std::filesystem::path> paths_;
};

double run_traffic(const Network& net, const Traffic& t) {
  sim::TaskGraph graph;
  std::vector<sim::TaskId> ids;
  const CollectivePlan plan = plan_traffic(net, t);
  for (size_t i = 0; i < plan.flows.size(); ++i) {
    std::vector<sim::TaskId> after;
    for (int a : plan.flows[i].after)
      after.push_back(ids[size_t(a)]);
    if (t.flows[i].start_s > 0)
      after.push_back(graph.add_delay("start", t.flows[i].start_s));
    ids.push_back(graph.add_flow("f", plan.flows[i].spec, after));
  }
  return sim::run(graph, net.capacities()).makespan_s;
}

TEST_F(TrafficFile, CsvWithStartsAndDependencies) {
  const hw::HwSpec hw = mesh(1, 3);
  // b waits for a (100 s on its link); c starts at 50 on another link; d waits for b and c.
  const std::string path = write("t.csv",
                                 "# a comment\n"
                                 "id,source,destination,bytes,start,after\n"
                                 "d,n1,n2,10,,b;c\n"
                                 "a,n0,n1,100,,\n"
                                 "b,n0,n1,20,,a\n"
                                 "c,n2,n1,30,50,\n");
  const Traffic t = read_traffic(path, hw);
  ASSERT_EQ(t.flows.size(), 4u);
  EXPECT_EQ(t.flows.back().id, "d");  // after those it waits for
  const Network net(hw);
  EXPECT_DOUBLE_EQ(run_traffic(net, t), 130);  // a 0-100, b 100-120, c 50-80, d 120-130
}

TEST_F(TrafficFile, JsonGivesTheSameFlows) {
  const hw::HwSpec hw = mesh(1, 3);
  const std::string path =
      write("t.json",
            R"({"flows": [{"source": "n0", "destination": "n2", "bytes": "1 KB"},
                   {"source": "n2", "destination": "n0", "bytes": 500, "start": "1 ms", "after": [1]}]})");
  const Traffic t = read_traffic(path, hw);
  ASSERT_EQ(t.flows.size(), 2u);
  EXPECT_DOUBLE_EQ(t.flows[0].bytes, 1000);
  EXPECT_DOUBLE_EQ(t.flows[1].start_s, 1e-3);
  EXPECT_EQ(t.flows[1].after, std::vector<int>{0});
}

TEST_F(TrafficFile, BadInputNamesTheField) {
  const hw::HwSpec hw = mesh(1, 3);
  auto message = [&](const std::string& name, const std::string& text) -> std::string {
    try {
      read_traffic(write(name, text), hw);
    } catch (const core::InputError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message("u.csv", "source,destination,bytes\nn0,n9,10\n").find("destination"),
            std::string::npos);
  EXPECT_NE(message("n.csv", "source,destination,bytes\nn0,n1,-5\n").find("bytes"),
            std::string::npos);
  EXPECT_NE(message("c.csv", "id,source,destination,bytes,after\na,n0,n1,1,b\nb,n1,n0,1,a\n")
                .find("cycle"),
            std::string::npos);
  EXPECT_NE(message("s.csv", "id,source,destination,bytes,after\na,n0,n1,1,a\n").find("cycle"),
            std::string::npos);
  EXPECT_NE(message("m.csv", "source,destination,bytes,after\nn0,n1,1,7\n").find("after"),
            std::string::npos);
  EXPECT_NE(message("h.csv", "src,destination,bytes\nn0,n1,1\n").find("header"), std::string::npos);
  EXPECT_NE(
      message("j.json", R"([{"source": "n0", "destination": "n1", "bytes": -1}])").find("bytes"),
      std::string::npos);
}

TEST(WeightedAllToAll, WeightsScaleEachDestination) {
  const hw::HwSpec hw = mesh(2, 2);
  const Network net(hw);
  const CollectivePlan plan = all_to_all(net, chiplets(hw), 10, {1, 4, 0, 1});
  EXPECT_EQ(plan.flows.size(), 9u);  // three senders to each of nodes 0, 1, 3; none to 2
  EXPECT_DOUBLE_EQ(plan.payload_bytes, 3 * 10 + 3 * 40 + 3 * 10);
}

}  // namespace
}  // namespace mozart::net
