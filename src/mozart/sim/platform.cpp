#include "mozart/sim/platform.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::sim {

Platform make_platform(const net::Network& network) {
  const hw::HwSpec& hw = network.hw();
  Platform p;
  p.capacities = network.capacities();
  for (const net::Channel& c : network.channels())
    p.channel_names.push_back(fmt::format("{}->{}", hw.node_name(c.from), hw.node_name(c.to)));
  p.first_memory = static_cast<net::ChannelId>(p.capacities.size());
  for (const hw::MemoryStack& m : hw.memories) {
    p.capacities.push_back(m.bytes_per_s);
    p.channel_names.push_back(m.name);
  }
  p.first_sram = static_cast<net::ChannelId>(p.capacities.size());
  for (const hw::Chiplet& c : hw.chiplets) {
    p.capacities.push_back(hw.kinds[static_cast<std::size_t>(c.kind)].sram.bytes_per_s);
    p.channel_names.push_back(c.name + ".sram");
    p.engines.push_back(c.name);
  }
  return p;
}

net::FlowSpec memory_transfer(const net::Network& network, const Platform& platform, int stack,
                              int chiplet, double bytes) {
  const hw::HwSpec& hw = network.hw();
  const auto& attached = hw.memories.at(static_cast<std::size_t>(stack)).chiplets;
  if (std::find(attached.begin(), attached.end(), chiplet) == attached.end())
    throw core::InputError(
        {hw.name,
         fmt::format("memories.{}.attach", hw.memories[static_cast<std::size_t>(stack)].name), 0},
        hw.node_name(chiplet), "a chiplet attached to the stack");
  net::FlowSpec flow;
  flow.uses = {{platform.memory_channel(stack), 1.0}, {platform.sram_channel(chiplet), 1.0}};
  flow.bytes = bytes;
  return flow;
}

net::FlowSpec striped_transfer(const net::Network& network, const Platform& platform,
                               const std::vector<int>& stacks, int chiplet, double bytes) {
  if (stacks.empty())
    throw core::InputError(network.hw().name,
                           fmt::format("chiplet '{}' is attached to no memory stack",
                                       network.hw().node_name(chiplet)));
  net::FlowSpec flow;
  for (int s : stacks) {
    flow.uses.push_back({memory_transfer(network, platform, s, chiplet, 0).uses[0].channel,
                         1.0 / double(stacks.size())});
  }
  flow.uses.push_back({platform.sram_channel(chiplet), 1.0});
  flow.bytes = bytes;
  return flow;
}

std::vector<int> stacks_of(const hw::HwSpec& hw, int chiplet) {
  std::vector<int> out;
  for (std::size_t s = 0; s < hw.memories.size(); ++s) {
    const auto& attached = hw.memories[s].chiplets;
    if (std::find(attached.begin(), attached.end(), chiplet) != attached.end())
      out.push_back(static_cast<int>(s));
  }
  return out;
}

}  // namespace mozart::sim
