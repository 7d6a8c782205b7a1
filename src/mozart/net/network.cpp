#include "mozart/net/network.hpp"

#include <algorithm>
#include <queue>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::net {
namespace {

void check_options(const NetworkOptions& o) {
  auto reject = [](const char* field, double value, const char* expected) {
    throw core::InputError(core::InputLocation{"network options", field, 0},
                           fmt::format("{:g}", value), expected);
  };
  if (!(o.efficiency > 0 && o.efficiency <= 1))
    reject("efficiency", o.efficiency, "in (0, 1]");
  if (!(o.packet_payload_bytes >= 0)) {
    reject("packet_payload_bytes", o.packet_payload_bytes, "0 (none) or a positive size");
  }
  if (!(o.packet_header_bytes >= 0))
    reject("packet_header_bytes", o.packet_header_bytes, ">= 0");
}

// Steps of one dimension: +1 or -1 repeated, the shorter way round on a ring.
std::vector<int> steps(int from, int to, int size, bool ring) {
  int forward = to - from;
  if (ring) {
    forward = ((to - from) % size + size) % size;
    int backward = size - forward;
    if (forward != 0 && backward < forward)
      return std::vector<int>(backward, -1);
  }
  return std::vector<int>(std::abs(forward), forward >= 0 ? 1 : -1);
}

}  // namespace

Network::Network(const hw::HwSpec& hw, NetworkOptions options)
    : hw_(hw), options_(options), out_(hw.node_count()) {
  check_options(options_);
  for (size_t l = 0; l < hw_.links.size(); ++l) {
    const hw::Link& link = hw_.links[l];
    if (!(link.spec.bytes_per_s > 0)) {
      throw core::InputError(
          core::InputLocation{
              hw_.name,
              fmt::format("link {}-{}.bandwidth", hw_.node_name(link.a), hw_.node_name(link.b)), 0},
          fmt::format("{:g}", link.spec.bytes_per_s), "a positive bandwidth");
    }
    for (auto [from, to] : {std::pair{link.a, link.b}, std::pair{link.b, link.a}}) {
      out_[from].emplace_back(to, ChannelId(channels_.size()));
      channels_.push_back(Channel{from, to, int(l), link.spec.bytes_per_s, link.spec.latency_s,
                                  link.spec.energy_per_bit_j});
    }
  }
  for (auto& neighbours : out_)
    std::sort(neighbours.begin(), neighbours.end());
  const hw::Topology& t = hw_.topology;
  if ((t.kind == "mesh" || t.kind == "torus") && t.rows > 0) {
    torus_ = t.kind == "torus";
    grid_.assign(t.rows, std::vector<int>(t.cols, -1));
    for (size_t c = 0; c < hw_.chiplets.size(); ++c) {
      if (const auto& at = hw_.chiplets[c].coord)
        grid_[at->y][at->x] = int(c);
    }
  }
}

std::vector<double> Network::capacities() const {
  std::vector<double> out;
  out.reserve(channels_.size());
  for (const Channel& c : channels_)
    out.push_back(c.bytes_per_s * options_.efficiency);
  return out;
}

double Network::wire_factor() const {
  return options_.packet_payload_bytes > 0
             ? 1 + options_.packet_header_bytes / options_.packet_payload_bytes
             : 1;
}

ChannelId Network::channel_between(int from, int to) const {
  for (const auto& [next, channel] : out_[from]) {
    if (next == to)
      return channel;
  }
  return -1;
}

Route Network::dimension_order(int src, int dst, bool x_first) const {
  const hw::Coord a = *hw_.chiplets[src].coord;
  const hw::Coord b = *hw_.chiplets[dst].coord;
  const int rows = int(grid_.size()), cols = int(grid_[0].size());
  std::vector<int> dx = steps(a.x, b.x, cols, torus_);
  std::vector<int> dy = steps(a.y, b.y, rows, torus_);
  Route route;
  int x = a.x, y = a.y;
  auto walk = [&](const std::vector<int>& moves, bool along_x) {
    for (int step : moves) {
      int nx = along_x ? (x + step + cols) % cols : x;
      int ny = along_x ? y : (y + step + rows) % rows;
      route.push_back(channel_between(grid_[y][x], grid_[ny][nx]));
      x = nx;
      y = ny;
    }
  };
  if (x_first) {
    walk(dx, true);
    walk(dy, false);
  } else {
    walk(dy, false);
    walk(dx, true);
  }
  return route;
}

const std::vector<int>& Network::parents_from(int src) const {
  auto cached = parents_.find(src);
  if (cached != parents_.end())
    return cached->second;
  const int n = hw_.node_count();
  std::vector<double> cost(n, kNever);
  std::vector<int> hops(n, 1 << 30);
  std::vector<int> parent(n, -1);            // channel into the node
  using Key = std::tuple<double, int, int>;  // cost, hops, node
  std::priority_queue<Key, std::vector<Key>, std::greater<>> queue;
  cost[src] = 0;
  hops[src] = 0;
  queue.emplace(0.0, 0, src);
  while (!queue.empty()) {
    auto [c, h, node] = queue.top();
    queue.pop();
    if (c != cost[node] || h != hops[node])
      continue;
    for (const auto& [next, channel] : out_[node]) {
      double nc = c + 1.0 / channels_[channel].bytes_per_s;
      int nh = h + 1;
      if (std::tie(nc, nh) < std::tie(cost[next], hops[next])) {
        cost[next] = nc;
        hops[next] = nh;
        parent[next] = channel;
        queue.emplace(nc, nh, next);
      }
    }
  }
  return parents_.emplace(src, std::move(parent)).first->second;
}

Route Network::shortest(int src, int dst) const {
  const std::vector<int>& parent = parents_from(src);
  Route route;
  for (int node = dst; node != src;) {
    ChannelId c = parent[node];
    if (c < 0) {
      throw core::InputError(
          hw_.name, fmt::format("no route from {} to {}", hw_.node_name(src), hw_.node_name(dst)));
    }
    route.push_back(c);
    node = channels_[c].from;
  }
  std::reverse(route.begin(), route.end());
  return route;
}

Route Network::route(int src, int dst, std::span<const double> load) const {
  if (src < 0 || dst < 0 || src >= hw_.node_count() || dst >= hw_.node_count()) {
    throw std::out_of_range(fmt::format("route {} -> {}: no such node", src, dst));
  }
  if (src == dst)
    return {};
  const bool on_grid = !grid_.empty() && !hw_.is_switch(src) && !hw_.is_switch(dst) &&
                       hw_.chiplets[src].coord && hw_.chiplets[dst].coord;
  if (!on_grid)
    return shortest(src, dst);
  switch (options_.mesh_routing) {
    case MeshRouting::xy:
      return dimension_order(src, dst, true);
    case MeshRouting::yx:
      return dimension_order(src, dst, false);
    case MeshRouting::adaptive: {
      Route xy = dimension_order(src, dst, true);
      if (load.empty())
        return xy;
      Route yx = dimension_order(src, dst, false);
      auto pressure = [&](const Route& r) {
        double worst = 0, total = 0;
        for (ChannelId c : r) {
          worst = std::max(worst, load[c]);
          total += load[c];
        }
        return std::pair{worst, total};
      };
      return pressure(yx) < pressure(xy) ? yx : xy;
    }
  }
  return {};
}

double Network::latency(const Route& route) const {
  double total = 0;
  for (size_t i = 0; i < route.size(); ++i) {
    const Channel& c = channels_[route[i]];
    total += c.latency_s;
    if (i + 1 < route.size() && hw_.is_switch(c.to)) {
      total += hw_.switches[c.to - hw_.chiplets.size()].hop_latency_s;
    }
  }
  return total;
}

FlowSpec Network::unicast(const Route& route, double bytes) const {
  FlowSpec spec;
  spec.bytes = bytes;
  spec.latency_s = latency(route);
  spec.uses.reserve(route.size());
  for (ChannelId c : route)
    spec.uses.push_back(ChannelUse{c, wire_factor()});
  return spec;
}

}  // namespace mozart::net
