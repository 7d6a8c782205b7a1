#include "mozart/net/collectives.hpp"

#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/sim/engine.hpp"

namespace mozart::net {
namespace {

hw::HwSpec from_yaml(const std::string& yaml) {
  return hw::read_hw(core::ConfigNode::parse(yaml, "test"));
}

// n chiplets on a ring (torus 1 x n) or on one switch (star), links of bandwidth B, latency L.
hw::HwSpec ring(int n, double bandwidth, double latency) {
  return from_yaml(fmt::format(R"(
name: ring
clock: 1 GHz
chiplet_kinds: {{c: {{peak_flops: {{bf16: 1 TFLOP/s}}, array: {{rows: 1, cols: 1, count: 1}}, sram: {{capacity: 1 MB, bandwidth: 1 GB/s}}}}}}
chiplets: [{{name: n, kind: c, count: {}, holds_weights: false}}]
topology: {{kind: torus, rows: 1, cols: {}, nodes: n, link: {{bandwidth: {}, latency: {}}}}}
)",
                               n, n, bandwidth, latency));
}

hw::HwSpec star(int n, bool in_network) {
  return from_yaml(fmt::format(R"(
name: star
clock: 1 GHz
chiplet_kinds: {{c: {{peak_flops: {{bf16: 1 TFLOP/s}}, array: {{rows: 1, cols: 1, count: 1}}, sram: {{capacity: 1 MB, bandwidth: 1 GB/s}}}}}}
chiplets: [{{name: n, kind: c, count: {}, holds_weights: false}}]
topology: {{kind: star, nodes: n, switch: {{multicast: {}, aggregate: {}}}, link: {{bandwidth: 1}}}}
)",
                               n, in_network, in_network));
}

std::vector<int> first_nodes(int n) {
  std::vector<int> nodes;
  for (int i = 0; i < n; ++i)
    nodes.push_back(i);
  return nodes;
}

sim::RunResult execute(const Network& net, const CollectivePlan& plan) {
  sim::TaskGraph graph;
  graph.add_collective(plan);
  return sim::run(graph, net.capacities());
}

TEST(Collectives, OneMemberIsTriviallyEmptyAndTakesNoTime) {
  // A torus of one chiplet: valid, and without a single link.
  Network net(ring(1, 1, 0));
  const std::vector<int> one = {0};
  std::vector<CollectivePlan> plans = {all_to_all(net, one, 100), all_gather(net, one, 100),
                                       reduce_scatter(net, one, 100), broadcast(net, one, 100)};
  for (AllReduceAlgorithm a : {AllReduceAlgorithm::ring, AllReduceAlgorithm::tree,
                               AllReduceAlgorithm::in_network, AllReduceAlgorithm::mesh_2d})
    plans.push_back(all_reduce(net, one, 100, a));
  for (const CollectivePlan& plan : plans) {
    EXPECT_TRUE(plan.flows.empty());
    EXPECT_EQ(plan.payload_bytes, 0);
    EXPECT_EQ(execute(net, plan).makespan_s, 0);
  }
}

TEST(Collectives, AnAllToAllTooLargeForMemoryIsRefusedWithItsEstimate) {
  Network net(ring(64, 1, 0));  // 4032 flows of 1024/63 = 16.25 hops on average: ~3 MiB
  ::setenv("MOZART_MEMORY_LIMIT", "64 KiB", 1);
  try {
    all_to_all(net, first_nodes(64), 1);
    ADD_FAILURE() << "an all-to-all over the memory limit was planned";
  } catch (const core::InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("an all-to-all of 64 members (4032 flows, 16.3 channel uses each"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("expected at most 64.0 KiB"), std::string::npos) << message;
  }
  ::setenv("MOZART_MEMORY_LIMIT", "1 GiB", 1);
  EXPECT_EQ(all_to_all(net, first_nodes(64), 1).flows.size(), 64u * 63u);
  ::unsetenv("MOZART_MEMORY_LIMIT");
}

TEST(Collectives, RingCollectivesTooLargeForMemoryAreRefusedBeforeTheirPlan) {
  Network net(ring(64, 1, 0));  // n(n - 1) = 4032 flows of one hop each
  ::setenv("MOZART_MEMORY_LIMIT", "64 KiB", 1);
  const std::vector<std::pair<std::string, std::function<CollectivePlan()>>> plans = {
      {"a ring all-gather of 64 members (4032 flows, 1.0 channel uses",
       [&] { return all_gather(net, first_nodes(64), 64); }},
      {"a ring reduce-scatter of 64 members (4032 flows",
       [&] { return reduce_scatter(net, first_nodes(64), 64); }},
      {"a ring all-reduce of 64 members (8064 flows",
       [&] { return all_reduce(net, first_nodes(64), 64, AllReduceAlgorithm::ring); }}};
  for (const auto& [says, plan] : plans) {
    try {
      plan();
      ADD_FAILURE() << says << ": planned over the memory limit";
    } catch (const core::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  }
  ::setenv("MOZART_MEMORY_LIMIT", "1 GiB", 1);
  EXPECT_EQ(all_gather(net, first_nodes(64), 64).flows.size(), 64u * 63u);
  ::unsetenv("MOZART_MEMORY_LIMIT");
}

TEST(Collectives, RingAllReduceClosedForm) {
  for (int n : {2, 4, 8}) {
    const double S = 64, B = 2, L = 0.5;
    Network net(ring(n, B, L));
    double t =
        execute(net, all_reduce(net, first_nodes(n), S, AllReduceAlgorithm::ring)).makespan_s;
    EXPECT_NEAR(t, 2.0 * (n - 1) * (S / n / B + L), 1e-9) << n;
  }
}

TEST(Collectives, RingAllGatherAndReduceScatterClosedForm) {
  const int n = 6;
  const double S = 60, B = 1;
  Network net(ring(n, B, 0));
  EXPECT_NEAR(execute(net, all_gather(net, first_nodes(n), S)).makespan_s, (n - 1) * S / n / B,
              1e-9);
  EXPECT_NEAR(execute(net, reduce_scatter(net, first_nodes(n), S)).makespan_s, (n - 1) * S / n / B,
              1e-9);
}

TEST(Collectives, InNetworkAllReduceStreamsOnceThroughTheSwitch) {
  const int n = 8;
  Network net(star(n, true));
  CollectivePlan plan = all_reduce(net, first_nodes(n), 100, AllReduceAlgorithm::in_network);
  // Each uplink carries the buffer once up, each downlink once down, pipelined: S / B.
  EXPECT_NEAR(execute(net, plan).makespan_s, 100, 1e-9);
  double ring_time =
      execute(net, all_reduce(net, first_nodes(n), 100, AllReduceAlgorithm::ring)).makespan_s;
  EXPECT_NEAR(ring_time, 2.0 * (n - 1) / n * 100, 1e-9);
  Network plain(star(n, false));
  EXPECT_THROW(all_reduce(plain, first_nodes(n), 100, AllReduceAlgorithm::in_network),
               core::InputError);
}

TEST(Collectives, TreeAllReduceSendsTheWholeBufferUpAndDown) {
  Network net(star(7, false));
  sim::RunResult r = execute(net, all_reduce(net, first_nodes(7), 10, AllReduceAlgorithm::tree));
  double sent = 0;
  for (const ChannelStats& c : r.channels)
    sent += c.bytes;
  EXPECT_NEAR(sent, 2 * 6 * 10 * 2, 1e-9);     // 6 reduce + 6 broadcast messages, 2 channels each
  EXPECT_GE(r.makespan_s, 2 * 2 * 10 - 1e-9);  // at least two levels up and two down
}

TEST(Collectives, MeshAllReduceMovesTheExpectedBytes) {
  hw::HwSpec hw = from_yaml(R"(
name: m
clock: 1 GHz
chiplet_kinds: {c: {peak_flops: {bf16: 1 TFLOP/s}, array: {rows: 1, cols: 1, count: 1}, sram: {capacity: 1 MB, bandwidth: 1 GB/s}}}
chiplets: [{name: n, kind: c, count: 12, holds_weights: false}]
topology: {kind: torus, rows: 3, cols: 4, nodes: n, link: {bandwidth: 1}}
)");
  Network net(hw);
  const double S = 120;
  CollectivePlan plan = all_reduce(net, first_nodes(12), S, AllReduceAlgorithm::mesh_2d);
  const double rows = 3, cols = 4;
  double expected =
      rows * cols * (cols - 1) * S / cols * 2 + cols * rows * 2 * (rows - 1) * S / (cols * rows);
  EXPECT_NEAR(plan.payload_bytes, expected, 1e-9);
  sim::RunResult r = execute(net, plan);
  // Every node must receive (n-1)/n of the buffer twice over its 4 links.
  EXPECT_GE(r.makespan_s, 2 * (12 - 1) / 12.0 * S / 4 - 1e-9);
  EXPECT_THROW(all_reduce(net, first_nodes(11), S, AllReduceAlgorithm::mesh_2d), core::InputError);
}

TEST(Collectives, BroadcastMulticastsWhereItCan) {
  Network multicast(star(8, true));
  EXPECT_EQ(broadcast(multicast, first_nodes(8), 10).flows.size(), 1u);
  EXPECT_NEAR(execute(multicast, broadcast(multicast, first_nodes(8), 10)).makespan_s, 10, 1e-9);
  Network unicast(star(8, false));
  CollectivePlan binomial = broadcast(unicast, first_nodes(8), 10);
  EXPECT_EQ(binomial.flows.size(), 7u);
  EXPECT_NEAR(execute(unicast, binomial).makespan_s, 3 * 10, 1e-9);  // log2(8) rounds
}

TokenRoutes random_tokens(const hw::HwSpec& hw, int tokens, int k, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<int> experts = hw.chiplets_with_role(hw::Role::expert);
  std::vector<int> attention = hw.chiplets_with_role(hw::Role::attention);
  std::uniform_int_distribution<size_t> pick(0, experts.size() - 1);
  TokenRoutes r;
  for (int t = 0; t < tokens; ++t) {
    r.source.push_back(attention.front());
    std::vector<int> dest;
    for (int i = 0; i < k; ++i)
      dest.push_back(experts[pick(rng)]);
    r.destinations.push_back(dest);
  }
  return r;
}

TEST(Collectives, DispatchModesOnTheNopTree) {
  Network net(*hw::find_preset("mozart-nop-tree-ucie"));
  TokenRoutes tokens = random_tokens(net.hw(), 256, 8, 5);
  const double bytes = 4096;
  double previous = 0;
  for (AllToAllMode mode :
       {AllToAllMode::in_network, AllToAllMode::copy_per_chiplet, AllToAllMode::copy_per_expert}) {
    CollectivePlan plan = dispatch(net, tokens, bytes, mode);
    sim::RunResult r = execute(net, plan);
    // Bytes on the root's four links: every token once per subtree it reaches (in_network),
    // once per chiplet, or once per expert.
    double root_bytes = 0;
    for (size_t c = 0; c < net.channels().size(); ++c) {
      if (net.hw().node_name(net.channels()[c].from) == "attn")
        root_bytes += r.channels[c].bytes;
    }
    double expected = 0;
    for (const auto& dest : tokens.destinations) {
      std::set<int> chiplets(dest.begin(), dest.end()), switches;
      for (int d : dest)
        switches.insert(net.channels()[net.route(*net.hw().find_node("attn"), d)[0]].to);
      expected += mode == AllToAllMode::copy_per_expert    ? double(dest.size())
                  : mode == AllToAllMode::copy_per_chiplet ? double(chiplets.size())
                                                           : double(switches.size());
    }
    EXPECT_NEAR(root_bytes, expected * bytes, 1e-6 * root_bytes) << int(mode);
    EXPECT_GE(r.makespan_s, previous) << "less traffic is never slower";
    previous = r.makespan_s;
  }
}

TEST(Collectives, CombineAggregatesInTheSwitches) {
  Network net(*hw::find_preset("mozart-nop-tree-ucie"));
  TokenRoutes tokens = random_tokens(net.hw(), 64, 8, 9);
  sim::RunResult r = execute(net, combine(net, tokens, 100, AllToAllMode::in_network));
  double into_root = 0;
  for (size_t c = 0; c < net.channels().size(); ++c) {
    if (net.hw().node_name(net.channels()[c].to) == "attn")
      into_root += r.channels[c].bytes;
  }
  double subtrees = 0;
  for (const auto& dest : tokens.destinations) {
    std::set<int> switches;
    for (int d : dest)
      switches.insert(net.channels()[net.route(d, *net.hw().find_node("attn")).back()].from);
    subtrees += double(switches.size());
  }
  EXPECT_NEAR(into_root, subtrees * 100, 1e-6 * into_root);
}

TEST(Collectives, InNetworkModeNeedsSwitchesThatCan) {
  Network mesh(*hw::find_preset("mozart-mesh"));
  const hw::HwSpec& hw = mesh.hw();
  // From expert0 at (0,0), XY routes to (1,1) and (2,1) part at expert1, a chiplet.
  TokenRoutes branching{{*hw.find_node("expert0")},
                        {{*hw.find_node("expert5"), *hw.find_node("expert6")}}};
  EXPECT_THROW(dispatch(mesh, branching, 10, AllToAllMode::in_network), core::InputError);
  EXPECT_NO_THROW(dispatch(mesh, branching, 10, AllToAllMode::copy_per_chiplet));
  // From the attention chiplet every row is a line: a token bound for two chiplets of one row
  // needs the nearer one to keep a copy and pass the token on, which a chiplet cannot do.
  const int attn = *hw.find_node("attn");
  TokenRoutes one_row{{attn}, {{*hw.find_node("expert1"), *hw.find_node("expert2")}}};
  EXPECT_THROW(dispatch(mesh, one_row, 10, AllToAllMode::in_network), core::InputError);
  EXPECT_THROW(combine(mesh, one_row, 10, AllToAllMode::in_network), core::InputError);
  // One chiplet per row: the tree branches only at its root.
  TokenRoutes row_heads{{attn}, {{*hw.find_node("expert1"), *hw.find_node("expert5")}}};
  EXPECT_NO_THROW(dispatch(mesh, row_heads, 10, AllToAllMode::in_network));
}

// Tokens from three chiplets, with repeats, so that many share a (source, destination set);
// only those whose trees the in-network modes can build.
TokenRoutes tokens_with_repeats(const Network& net, int tokens, int k, unsigned seed) {
  std::mt19937 rng(seed);
  const int chiplets = int(net.hw().chiplets.size());
  std::uniform_int_distribution<int> pick(0, chiplets - 1), few(0, 2);
  TokenRoutes r;
  for (int t = 0; t < tokens; ++t) {
    const int source = few(rng);
    std::vector<int> dest;
    for (int i = 0; i < k; ++i)
      dest.push_back(few(rng) == 0 ? pick(rng) : 3 + few(rng));
    const TokenRoutes one{{source}, {dest}};
    try {
      dispatch(net, one, 1, AllToAllMode::in_network);
      combine(net, one, 1, AllToAllMode::in_network);
    } catch (const core::InputError&) {
      continue;
    }
    r.source.push_back(source);
    r.destinations.push_back(dest);
  }
  return r;
}

// What a plan puts on the network per (flow label, channel): bytes on the wire, and the flow's
// latency.
struct PlanTraffic {
  std::map<std::pair<std::string, ChannelId>, double> bytes;
  std::map<std::string, double> latency_s;
};

void add_traffic(const CollectivePlan& plan, PlanTraffic& out) {
  for (const PlannedFlow& f : plan.flows) {
    for (const ChannelUse& u : f.spec.uses)
      out.bytes[{f.label, u.channel}] += f.spec.bytes * u.coefficient;
    double& latency = out.latency_s[f.label];
    latency = std::max(latency, f.spec.latency_s);
  }
}

// The flows of a plan, field by field, in order.
std::vector<std::tuple<std::string, int, int, double, double, std::vector<std::pair<int, double>>>>
flows_of(const CollectivePlan& plan) {
  std::vector<
      std::tuple<std::string, int, int, double, double, std::vector<std::pair<int, double>>>>
      out;
  for (const PlannedFlow& f : plan.flows) {
    std::vector<std::pair<int, double>> uses;
    for (const ChannelUse& u : f.spec.uses)
      uses.emplace_back(u.channel, u.coefficient);
    out.emplace_back(f.label, f.src, f.dst, f.spec.bytes, f.spec.latency_s, uses);
  }
  return out;
}

TEST(Collectives, DispatchAndCombineTogetherAreEachAlone) {
  Network net(*hw::find_preset("mozart-nop-tree-ucie"));
  const TokenRoutes tokens = tokens_with_repeats(net, 300, 4, 3);
  for (const AllToAllMode mode :
       {AllToAllMode::in_network, AllToAllMode::copy_per_chiplet, AllToAllMode::copy_per_expert}) {
    const DispatchCombine both = dispatch_and_combine(net, tokens, 64, mode);
    const CollectivePlan d = dispatch(net, tokens, 64, mode), c = combine(net, tokens, 64, mode);
    ASSERT_FALSE(d.flows.empty());
    EXPECT_EQ(flows_of(both.dispatch), flows_of(d)) << int(mode);
    EXPECT_EQ(flows_of(both.combine), flows_of(c)) << int(mode);
    EXPECT_EQ(both.dispatch.payload_bytes, d.payload_bytes);
    EXPECT_EQ(both.combine.payload_bytes, c.payload_bytes);
  }
}

TEST(Collectives, ExchangePlansAreTheSumOfTheirTokensPlans) {
  Network net(*hw::find_preset("mozart-nop-tree-ucie"));
  const TokenRoutes tokens = tokens_with_repeats(net, 300, 4, 3);
  ASSERT_GT(tokens.source.size(), 100u);
  ASSERT_GT(std::set<int>(tokens.source.begin(), tokens.source.end()).size(), 1u);
  for (const bool is_combine : {false, true}) {
    for (const AllToAllMode mode : {AllToAllMode::in_network, AllToAllMode::copy_per_chiplet,
                                    AllToAllMode::copy_per_expert}) {
      const auto plan_of = [&](const TokenRoutes& t) {
        return is_combine ? combine(net, t, 64, mode) : dispatch(net, t, 64, mode);
      };
      PlanTraffic whole, one_by_one;
      const CollectivePlan plan = plan_of(tokens);
      add_traffic(plan, whole);
      double payload = 0;
      for (std::size_t t = 0; t < tokens.source.size(); ++t) {
        const CollectivePlan single = plan_of({{tokens.source[t]}, {tokens.destinations[t]}});
        add_traffic(single, one_by_one);
        payload += single.payload_bytes;
      }
      // Message counts are whole numbers: the sums are exact.
      EXPECT_EQ(whole.bytes, one_by_one.bytes) << int(mode) << is_combine;
      EXPECT_EQ(whole.latency_s, one_by_one.latency_s) << int(mode) << is_combine;
      EXPECT_EQ(plan.payload_bytes, payload);
    }
  }
}

TEST(Collectives, InNetworkErrorNamesTheFirstTokenThatCannotBeSent) {
  Network mesh(*hw::find_preset("mozart-mesh"));
  const hw::HwSpec& hw = mesh.hw();
  const int attn = *hw.find_node("attn");
  const auto node = [&](const char* name) { return *hw.find_node(name); };
  // Along a row from the attention chiplet, the nearer of two destinations would relay.
  const std::vector<int> fine = {node("expert1"), node("expert5")};
  const std::vector<int> at_expert2 = {node("expert2"), node("expert3")};
  const std::vector<int> at_expert1 = {node("expert1"), node("expert2")};
  const auto error_of = [&](const TokenRoutes& t) {
    try {
      dispatch(mesh, t, 10, AllToAllMode::in_network);
    } catch (const core::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of({{attn, attn, attn}, {fine, at_expert2, at_expert1}}).find("'expert2'"),
            std::string::npos);
  EXPECT_NE(error_of({{attn, attn, attn}, {fine, at_expert1, at_expert2}}).find("'expert1'"),
            std::string::npos);
}

}  // namespace
}  // namespace mozart::net
