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

}  // namespace
}  // namespace mozart::sim
