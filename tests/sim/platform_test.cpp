// Memory stacks and SRAM ports as shared channels: readers of one stack share its bandwidth.
#include "mozart/sim/platform.hpp"

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/sim/engine.hpp"
#include "mozart/sim/timeline.hpp"

namespace mozart::sim {
namespace {

struct NopTree {
  net::Network network{hw::load_hw("mozart-nop-tree-ucie")};
  Platform platform = make_platform(network);
  int stack(const std::string& name) const {
    const auto& memories = network.hw().memories;
    for (size_t s = 0; s < memories.size(); ++s)
      if (memories[s].name == name)
        return int(s);
    return -1;
  }
  int chiplet(const std::string& name) const { return *network.hw().find_node(name); }
};

TEST(Platform, ChannelsForLinksStacksAndSramPorts) {
  NopTree t;
  const auto& hw = t.network.hw();
  EXPECT_EQ(t.platform.capacities.size(),
            t.network.channels().size() + hw.memories.size() + hw.chiplets.size());
  EXPECT_EQ(t.platform.channel_names[size_t(t.platform.memory_channel(t.stack("hbm_g1")))],
            "hbm_g1");
  EXPECT_EQ(t.platform.channel_names[size_t(t.platform.sram_channel(t.chiplet("expert3")))],
            "expert3.sram");
  EXPECT_DOUBLE_EQ(t.platform.capacities[size_t(t.platform.memory_channel(t.stack("hbm_g0")))],
                   256e9);
  EXPECT_EQ(t.platform.engines.size(), hw.chiplets.size());
}

TEST(Platform, ReadersOfOneStackShareItsBandwidth) {
  NopTree t;
  const double bytes = 1e9;
  const auto time_of = [&](const std::vector<std::pair<std::string, std::string>>& reads) {
    TaskGraph g(t.platform.engines);
    for (const auto& [stack, chiplet] : reads)
      g.add_flow("read",
                 memory_transfer(t.network, t.platform, t.stack(stack), t.chiplet(chiplet), bytes));
    return run(g, t.platform.capacities).makespan_s;
  };
  const double one = time_of({{"hbm_g0", "expert0"}});
  EXPECT_DOUBLE_EQ(one, bytes / 256e9);
  // Four chiplets on one stack: four times as long. Four stacks: as fast as one.
  EXPECT_DOUBLE_EQ(time_of({{"hbm_g0", "expert0"},
                            {"hbm_g0", "expert1"},
                            {"hbm_g0", "expert2"},
                            {"hbm_g0", "expert3"}}),
                   4 * one);
  EXPECT_DOUBLE_EQ(time_of({{"hbm_g0", "expert0"},
                            {"hbm_g1", "expert4"},
                            {"hbm_g2", "expert8"},
                            {"hbm_g3", "expert12"}}),
                   one);
}

TEST(Platform, MemoryTracksAppearOnTheTimeline) {
  NopTree t;
  TaskGraph g(t.platform.engines);
  g.add_flow("read",
             memory_transfer(t.network, t.platform, t.stack("hbm_g2"), t.chiplet("expert9"), 1e6));
  Timeline timeline;
  RunOptions options;
  options.timeline = &timeline;
  options.channel_names = t.platform.channel_names;
  run(g, t.platform.capacities, options);
  EXPECT_NE(timeline.to_chrome_json().find("hbm_g2"), std::string::npos);
}

TEST(Platform, AStackReadsOnlyIntoItsChiplets) {
  NopTree t;
  EXPECT_THROW(memory_transfer(t.network, t.platform, t.stack("hbm_g0"), t.chiplet("expert4"), 1),
               core::InputError);
}

// Stacks behind switches: a chiplet's weight load crosses its switch's link, shared with tokens.
// `topology_extra` adds keys under topology (endpoint ports).
hw::HwSpec switched_memory(const std::string& topology_extra = "") {
  return hw::read_hw(core::ConfigNode::parse(R"(
name: switched
clock: 1 GHz
chiplet_kinds:
  core:
    peak_flops: {fp16: 1 TFLOP/s}
    array: {rows: 8, cols: 8, count: 2}
    sram: {capacity: 1 GiB, bandwidth: 1 TB/s}
chiplets:
  - {name: root, kind: core, role: attention}
  - {name: leaf, kind: core, count: 2, role: expert}
memories:
  - {name: own, kind: hbm, capacity: 1 GiB, bandwidth: 100 GB/s, attach: [root]}
  - {name: group, kind: hbm, capacity: 1 GiB, bandwidth: 100 GB/s, attach: [sw1_0]}
topology:
  kind: tree
  root: root
  fanouts: [1, 2]
  leaves: leaf
  link: {bandwidth: 10 GB/s}
)" + topology_extra,
                                             "switched.yaml"));
}

struct SwitchedMemory {
  net::Network network{switched_memory()};
  Platform platform = make_platform(network);
  int node(const std::string& name) const { return *network.hw().find_node(name); }
};

TEST(Platform, AWeightLoadBehindASwitchCrossesTheSwitchesLink) {
  SwitchedMemory t;
  const int leaf = t.node("leaf0");
  const net::FlowSpec load = memory_transfer(t.network, t.platform, 1, leaf, 1e9);
  const net::ChannelId link = t.network.channel_between(t.node("sw1_0"), leaf);
  bool crosses = false;
  for (const net::ChannelUse& u : load.uses)
    crosses = crosses || u.channel == link;
  EXPECT_TRUE(crosses);
  // A write goes the other way.
  const net::FlowSpec write =
      memory_transfer(t.network, t.platform, 1, leaf, 1e9, Direction::to_memory);
  const net::ChannelId back = t.network.channel_between(leaf, t.node("sw1_0"));
  bool returns = false;
  for (const net::ChannelUse& u : write.uses)
    returns = returns || u.channel == back;
  EXPECT_TRUE(returns);

  TaskGraph g(t.platform.engines);
  g.add_flow("load", load);
  const RunResult alone = run(g, t.platform.capacities);
  // The 10 GB/s link, not the 100 GB/s stack, sets the pace; its bytes are the weight bytes.
  EXPECT_DOUBLE_EQ(alone.makespan_s, 1e9 / 10e9);
  EXPECT_GE(alone.channels[static_cast<std::size_t>(link)].bytes, 1e9 * (1 - 1e-12));
}

TEST(Platform, WeightsAndTokensOnOneLinkSlowEachOther) {
  SwitchedMemory t;
  const int leaf = t.node("leaf0");
  const net::FlowSpec load = memory_transfer(t.network, t.platform, 1, leaf, 1e9);
  const net::FlowSpec tokens = t.network.unicast(t.network.route(t.node("root"), leaf), 1e9);
  const auto makespan = [&](std::vector<net::FlowSpec> flows) {
    TaskGraph g(t.platform.engines);
    for (auto& f : flows)
      g.add_flow("flow", std::move(f));
    return run(g, t.platform.capacities).makespan_s;
  };
  const double weights_alone = makespan({load});
  const double tokens_alone = makespan({tokens});
  const double both = makespan({load, tokens});
  EXPECT_GT(both, weights_alone * 1.5);
  EXPECT_GT(both, tokens_alone * 1.5);
  EXPECT_DOUBLE_EQ(both, 2e9 / 10e9);  // max-min: the shared link carries both
}

TEST(Platform, NetworkedMemoryTrafficPassesTheChipletsPorts) {
  // Ports narrower than the 10 GB/s links: reads arrive through the chiplet's ejection port,
  // writes leave through its injection port; a directly attached stack uses neither.
  SwitchedMemory t{
      net::Network(switched_memory("  endpoint: {injection: 4 GB/s, ejection: 2 GB/s}\n"))};
  const int leaf = t.node("leaf0"), root = t.node("root");
  SwitchedMemory bare;
  const auto makespan_on = [&](const SwitchedMemory& on, std::vector<net::FlowSpec> flows) {
    TaskGraph g(on.platform.engines);
    for (auto& f : flows)
      g.add_flow("flow", std::move(f));
    return run(g, on.platform.capacities).makespan_s;
  };
  const auto makespan = [&](std::vector<net::FlowSpec> flows) {
    return makespan_on(t, std::move(flows));
  };
  const net::FlowSpec read = memory_transfer(t.network, t.platform, 1, leaf, 1e9);
  const net::FlowSpec write =
      memory_transfer(t.network, t.platform, 1, leaf, 1e9, Direction::to_memory);
  EXPECT_DOUBLE_EQ(makespan({read}), 1e9 / 2e9);
  EXPECT_DOUBLE_EQ(makespan({write}), 1e9 / 4e9);
  EXPECT_DOUBLE_EQ(makespan({memory_transfer(t.network, t.platform, 0, root, 1e9)}), 1e9 / 100e9);
  // Weights and tokens into one chiplet share its ejection port.
  const net::FlowSpec tokens = t.network.flow(root, leaf, 1e9);
  EXPECT_DOUBLE_EQ(makespan({read, tokens}), 2e9 / 2e9);
  // Without ports the same read and write take the link's time.
  EXPECT_DOUBLE_EQ(makespan_on(bare, {memory_transfer(bare.network, bare.platform, 1, leaf, 1e9)}),
                   1e9 / 10e9);
  EXPECT_DOUBLE_EQ(makespan_on(bare, {memory_transfer(bare.network, bare.platform, 1, leaf, 1e9,
                                                      Direction::to_memory)}),
                   1e9 / 10e9);
}

TEST(Platform, AStackBehindASwitchServesOnlyItsChiplets) {
  SwitchedMemory t;
  EXPECT_THROW(memory_transfer(t.network, t.platform, 1, t.node("root"), 1), core::InputError);
}

// Every chiplet's stacks found in one pass are those stacks_of finds for it alone, on presets
// with private, shared and switch-attached stacks.
TEST(Platform, StacksOfEveryChipletInOnePassAreEachChipletsOwn) {
  for (const char* preset : {"mozart-nop-tree-ucie", "wsc-mesh-4x8x8", "nvl72", "dgx-h100"}) {
    const hw::HwSpec hw = hw::load_hw(preset);
    const std::vector<std::vector<int>> all = stacks_by_chiplet(hw);
    ASSERT_EQ(all.size(), hw.chiplets.size()) << preset;
    std::size_t served = 0;
    for (int c = 0; c < int(hw.chiplets.size()); ++c) {
      EXPECT_EQ(all[std::size_t(c)], stacks_of(hw, c)) << preset << " chiplet " << c;
      served += all[std::size_t(c)].empty() ? 0 : 1;
    }
    EXPECT_GT(served, 0u) << preset;
  }
}

// A platform made without names is the named one without them, and the names, made apart,
// are one per channel in its order, port links included.
TEST(Platform, NamesMadeApartMatchTheChannels) {
  std::vector<net::Network> networks;
  hw::HwSpec ported = switched_memory();
  ported.memories[1].port = hw::LinkSpec{4e9, 2e-9, 0};  // the stack behind the switch
  networks.emplace_back(ported);
  for (const char* preset : {"mozart-nop-tree-ucie", "wsc-mesh-4x8x8", "nvl72"})
    networks.emplace_back(hw::load_hw(preset));
  std::size_t port_links = 0;
  for (const net::Network& network : networks) {
    const Platform named = make_platform(network), unnamed = make_platform(network, false);
    const std::string& hw = network.hw().name;
    EXPECT_TRUE(unnamed.channel_names.empty()) << hw;
    EXPECT_EQ(unnamed.capacities, named.capacities) << hw;
    EXPECT_EQ(unnamed.engines, named.engines) << hw;
    EXPECT_EQ(unnamed.port_channels, named.port_channels) << hw;
    EXPECT_EQ(unnamed.first_memory, named.first_memory) << hw;
    EXPECT_EQ(unnamed.first_sram, named.first_sram) << hw;
    const std::vector<std::string> names = channel_names(network);
    EXPECT_EQ(names, named.channel_names) << hw;
    ASSERT_EQ(names.size(), named.capacities.size()) << hw;
    EXPECT_EQ(names[std::size_t(named.first_memory)], network.hw().memories.front().name) << hw;
    for (std::size_t s = 0; s < named.port_channels.size(); ++s) {
      if (named.port_channels[s].first < 0)
        continue;
      ++port_links;
      const std::string& to_node = names[std::size_t(named.port_channels[s].first)];
      EXPECT_EQ(to_node.rfind(network.hw().memories[s].name + "->", 0), 0u) << hw << " " << to_node;
    }
  }
  EXPECT_GT(port_links, 0u);
}

}  // namespace
}  // namespace mozart::sim
