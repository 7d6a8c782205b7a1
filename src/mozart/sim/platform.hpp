// The shared resources of a hardware spec as the engine sees them: the network's channels
// (one per link direction), then one channel per memory stack (its bandwidth, shared by the
// chiplets attached to it), then one per chiplet SRAM port; and one exclusive compute engine per
// chiplet. Reading weights from a stack into a chiplet's SRAM is a flow over the stack's
// channel and the chiplet's SRAM port, so concurrent readers of one stack share its bandwidth.
#pragma once

#include <string>
#include <vector>

#include "mozart/net/network.hpp"

namespace mozart::sim {

struct Platform {
  std::vector<double> capacities;          // bytes per second, per channel
  std::vector<std::string> channel_names;  // for the timeline
  std::vector<std::string> engines;        // one compute engine per chiplet, in chiplet order
  net::ChannelId first_memory = 0;         // memory stack s is channel first_memory + s
  net::ChannelId first_sram = 0;           // chiplet c's SRAM port is channel first_sram + c

  net::ChannelId memory_channel(int stack) const { return first_memory + stack; }
  net::ChannelId sram_channel(int chiplet) const { return first_sram + chiplet; }
};

Platform make_platform(const net::Network& network);

// `bytes` from memory stack `stack` into chiplet `chiplet`'s SRAM (or back: the same channels).
// An InputError when the chiplet is not attached to the stack.
net::FlowSpec memory_transfer(const net::Network& network, const Platform& platform, int stack,
                              int chiplet, double bytes);
// `bytes` striped evenly over `stacks` (as interleaved addresses are), in one flow: each stack
// carries its share, the chiplet's SRAM port all of it.
net::FlowSpec striped_transfer(const net::Network& network, const Platform& platform,
                               const std::vector<int>& stacks, int chiplet, double bytes);
// The stacks a chiplet is attached to, in spec order.
std::vector<int> stacks_of(const hw::HwSpec& hw, int chiplet);

}  // namespace mozart::sim
