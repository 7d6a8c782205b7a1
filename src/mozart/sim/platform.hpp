// The shared resources of a hardware spec as the engine sees them: the network's channels
// (one per link direction), then one channel per memory stack (its bandwidth, shared by the
// chiplets it serves, reads and writes alike), then one per chiplet SRAM port, then two per
// stack port link (stack to node, node to stack); and one exclusive compute engine per chiplet.
// Reading weights from a stack into a chiplet's SRAM is a flow over the stack's channel and the
// chiplet's SRAM port, so concurrent readers of one stack share its bandwidth; when the stack
// hangs off a network node (a switch), the flow also crosses its port link, the network's
// links from that node to the chiplet and the chiplet's ejection port (injection port for
// writes) when it has one, sharing them max-min with token traffic.
#pragma once

#include <string>
#include <vector>

#include "mozart/net/network.hpp"

namespace mozart::sim {

struct Platform {
  std::vector<double> capacities;          // bytes per second, per channel
  std::vector<std::string> channel_names;  // for timelines and link reports; may be left empty
  std::vector<std::string> engines;        // one compute engine per chiplet, in chiplet order
  net::ChannelId first_memory = 0;         // memory stack s is channel first_memory + s
  net::ChannelId first_sram = 0;           // chiplet c's SRAM port is channel first_sram + c
  // Per stack: its port link's channels towards its node and back; -1 without a port link.
  std::vector<std::pair<net::ChannelId, net::ChannelId>> port_channels;

  net::ChannelId memory_channel(int stack) const { return first_memory + stack; }
  net::ChannelId sram_channel(int chiplet) const { return first_sram + chiplet; }
};

// `named`: whether to fill channel_names. Formatting every channel's name costs more than the
// rest of the platform, so a caller that builds one per short simulation and keeps no timeline
// leaves them out, and asks channel_names() for them when it needs them.
Platform make_platform(const net::Network& network, bool named = true);
// Every channel's name, in channel order: the network's links, then the memory stacks, the
// SRAM ports and the stack port links, as make_platform lays them out.
std::vector<std::string> channel_names(const net::Network& network);

// Which way a memory transfer goes: into the chiplet's SRAM (reads) or out to memory (writes).
enum class Direction { to_sram, to_memory };

// `bytes` between memory stack `stack` and chiplet `chiplet`'s SRAM. An InputError when the
// stack does not serve the chiplet.
net::FlowSpec memory_transfer(const net::Network& network, const Platform& platform, int stack,
                              int chiplet, double bytes, Direction direction = Direction::to_sram);
// `bytes` striped evenly over `stacks` (as interleaved addresses are), in one flow: each stack
// (and the links to it) carries its share, the chiplet's SRAM port all of it.
net::FlowSpec striped_transfer(const net::Network& network, const Platform& platform,
                               const std::vector<int>& stacks, int chiplet, double bytes,
                               Direction direction = Direction::to_sram);
// The stacks that serve a chiplet, in spec order.
std::vector<int> stacks_of(const hw::HwSpec& hw, int chiplet);
// The same for every chiplet, indexed by chiplet, in one pass over the stacks (what a caller
// that asks for many chiplets wants: stacks_of scans every stack for each).
std::vector<std::vector<int>> stacks_by_chiplet(const hw::HwSpec& hw);

}  // namespace mozart::sim
