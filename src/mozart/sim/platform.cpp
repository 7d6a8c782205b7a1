#include "mozart/sim/platform.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::sim {

Platform make_platform(const net::Network& network, bool named) {
  const hw::HwSpec& hw = network.hw();
  Platform p;
  p.capacities = network.capacities();
  p.first_memory = static_cast<net::ChannelId>(p.capacities.size());
  for (const hw::MemoryStack& m : hw.memories)
    p.capacities.push_back(m.bytes_per_s);
  p.first_sram = static_cast<net::ChannelId>(p.capacities.size());
  for (const hw::Chiplet& c : hw.chiplets) {
    p.capacities.push_back(hw.kinds[static_cast<std::size_t>(c.kind)].sram.bytes_per_s);
    p.engines.push_back(c.name);
  }
  for (const hw::MemoryStack& m : hw.memories) {
    if (!m.port) {
      p.port_channels.emplace_back(-1, -1);
      continue;
    }
    const auto id = static_cast<net::ChannelId>(p.capacities.size());
    p.port_channels.emplace_back(id, id + 1);
    p.capacities.insert(p.capacities.end(), 2, m.port->bytes_per_s * network.options().efficiency);
  }
  if (named)
    p.channel_names = channel_names(network);
  return p;
}

std::vector<std::string> channel_names(const net::Network& network) {
  const hw::HwSpec& hw = network.hw();
  std::vector<std::string> names;
  for (std::size_t c = 0; c < network.channels().size(); ++c)
    names.push_back(network.channel_name(static_cast<net::ChannelId>(c)));
  for (const hw::MemoryStack& m : hw.memories)
    names.push_back(m.name);
  for (const hw::Chiplet& c : hw.chiplets)
    names.push_back(c.name + ".sram");
  for (const hw::MemoryStack& m : hw.memories)
    if (m.port)
      for (const char* way : {"->", "<-"})
        names.push_back(fmt::format("{}{}{}", m.name, way, hw.node_name(m.node)));
  return names;
}

namespace {

// Adds `coefficient` of a channel to a flow's uses, merging repeats (stripes may share links).
void add_use(net::FlowSpec& flow, net::ChannelId channel, double coefficient) {
  for (net::ChannelUse& u : flow.uses)
    if (u.channel == channel) {
      u.coefficient += coefficient;
      return;
    }
  flow.uses.push_back({channel, coefficient});
}

// The stack's channels of a transfer, each at `share` of its bytes; returns its latency.
double add_stack_uses(net::FlowSpec& flow, const net::Network& network, const Platform& platform,
                      int stack, int chiplet, double share, Direction direction) {
  const hw::HwSpec& hw = network.hw();
  const hw::MemoryStack& m = hw.memories.at(static_cast<std::size_t>(stack));
  if (std::find(m.chiplets.begin(), m.chiplets.end(), chiplet) == m.chiplets.end())
    throw core::InputError({hw.name, fmt::format("memories.{}.attach", m.name), 0},
                           hw.node_name(chiplet), "a chiplet the stack serves");
  add_use(flow, platform.memory_channel(stack), share);
  if (!m.networked())
    return 0;
  const bool in = direction == Direction::to_sram;
  double latency = 0;
  if (m.port) {
    const auto& [out, back] = platform.port_channels[static_cast<std::size_t>(stack)];
    add_use(flow, in ? out : back, share);
    latency += m.port->latency_s;
  }
  const net::Route route = in ? network.route(m.node, chiplet) : network.route(chiplet, m.node);
  for (const net::ChannelId c : route)
    add_use(flow, c, share * network.wire_factor());
  // Through the network the chiplet's end is its port like any traffic's: reads arrive
  // through its ejection port, writes leave through its injection port. The stack's end is
  // its own attachment (its channel and port link), not the ports of the node it hangs off.
  const net::ChannelId port = in ? network.ejection_port(chiplet) : network.injection_port(chiplet);
  if (!route.empty() && port >= 0)
    add_use(flow, port, share * network.wire_factor());
  return latency + network.latency(route);
}

}  // namespace

net::FlowSpec memory_transfer(const net::Network& network, const Platform& platform, int stack,
                              int chiplet, double bytes, Direction direction) {
  return striped_transfer(network, platform, {stack}, chiplet, bytes, direction);
}

net::FlowSpec striped_transfer(const net::Network& network, const Platform& platform,
                               const std::vector<int>& stacks, int chiplet, double bytes,
                               Direction direction) {
  if (stacks.empty())
    throw core::InputError(
        network.hw().name,
        fmt::format("chiplet '{}' is served by no memory stack", network.hw().node_name(chiplet)));
  net::FlowSpec flow;
  const double share = 1.0 / double(stacks.size());
  for (int s : stacks)
    flow.latency_s = std::max(
        flow.latency_s, add_stack_uses(flow, network, platform, s, chiplet, share, direction));
  add_use(flow, platform.sram_channel(chiplet), 1.0);
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

std::vector<std::vector<int>> stacks_by_chiplet(const hw::HwSpec& hw) {
  std::vector<std::vector<int>> out(hw.chiplets.size());
  for (std::size_t s = 0; s < hw.memories.size(); ++s) {
    const std::vector<int>& attached = hw.memories[s].chiplets;
    for (auto c = attached.begin(); c != attached.end(); ++c)
      if (*c >= 0 && std::size_t(*c) < out.size() && std::find(attached.begin(), c, *c) == c)
        out[std::size_t(*c)].push_back(static_cast<int>(s));
  }
  return out;
}

}  // namespace mozart::sim
