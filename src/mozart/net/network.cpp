#include "mozart/net/network.hpp"

#include <algorithm>
#include <cmath>
#include <map>
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

// Costs that differ by rounding only (sums of the same terms in another order) are equal.
bool same_cost(double a, double b) {
  return std::abs(a - b) <= 1e-9 * std::max(a, b);
}

// (cost, hops) a before b: lower cost, then fewer hops.
bool closer(double a_cost, int a_hops, double b_cost, int b_hops) {
  if (b_cost == kNever)
    return true;
  return same_cost(a_cost, b_cost) ? a_hops < b_hops : a_cost < b_cost;
}

// The signed steps of one dimension: forward (+) or backward (-), the shorter way round on a
// ring (ties going up).
int signed_steps(int from, int to, int size, bool ring) {
  int forward = to - from;
  if (ring) {
    forward = ((to - from) % size + size) % size;
    int backward = size - forward;
    if (forward != 0 && backward < forward)
      return -backward;
  }
  return forward;
}

}  // namespace

bool mesh_routing_applies(const hw::HwSpec& hw) {
  const hw::Topology& t = hw.topology;
  return (t.kind == "mesh" || t.kind == "torus") && t.rows > 0 &&
         std::any_of(hw.chiplets.begin(), hw.chiplets.end(),
                     [](const hw::Chiplet& c) { return c.coord.has_value(); });
}

bool multipath_applies(const hw::HwSpec& hw) {
  return !mesh_routing_applies(hw) || !hw.switches.empty() ||
         std::any_of(hw.chiplets.begin(), hw.chiplets.end(),
                     [](const hw::Chiplet& c) { return !c.coord.has_value(); });
}

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
      channels_.push_back(Channel{from, to, int(l), ChannelKind::link, link.spec.bytes_per_s,
                                  link.spec.latency_s, link.spec.energy_per_bit_j});
    }
  }
  for (auto& neighbours : out_) {
    std::sort(neighbours.begin(), neighbours.end());
    for (size_t i = 1; i < neighbours.size(); ++i)
      has_parallel_ = has_parallel_ || neighbours[i].first == neighbours[i - 1].first;
  }
  // Endpoint ports after the links, so that link channel ids stay 2 l and 2 l + 1.
  injection_.assign(hw_.node_count(), -1);
  ejection_.assign(hw_.node_count(), -1);
  for (int c = 0; c < int(hw_.chiplets.size()); ++c) {
    const hw::Endpoint& e = hw_.chiplets[c].endpoint;
    if (e.injection_bytes_per_s > 0) {
      injection_[c] = ChannelId(channels_.size());
      channels_.push_back(Channel{c, c, -1, ChannelKind::injection, e.injection_bytes_per_s, 0, 0});
    }
    if (e.ejection_bytes_per_s > 0) {
      ejection_[c] = ChannelId(channels_.size());
      channels_.push_back(Channel{c, c, -1, ChannelKind::ejection, e.ejection_bytes_per_s, 0, 0});
    }
    has_endpoints_ = has_endpoints_ || e.any();
  }
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

std::string Network::channel_name(ChannelId id) const {
  const Channel& c = channels_[static_cast<size_t>(id)];
  switch (c.kind) {
    case ChannelKind::injection:
      return hw_.node_name(c.from) + ".inject";
    case ChannelKind::ejection:
      return hw_.node_name(c.from) + ".eject";
    case ChannelKind::link:
      break;
  }
  return fmt::format("{}->{}", hw_.node_name(c.from), hw_.node_name(c.to));
}

std::vector<double> Network::capacities() const {
  const hw::Efficiency& e = hw_.topology.efficiency;
  std::vector<double> out;
  out.reserve(channels_.size());
  for (const Channel& c : channels_) {
    double efficiency = c.kind == ChannelKind::link ? e.link : e.endpoint;
    if (c.kind == ChannelKind::link && hw_.is_switch(c.from))
      efficiency *= e.switch_traversal;
    out.push_back(c.bytes_per_s * efficiency * options_.efficiency);
  }
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
  const int dx = signed_steps(a.x, b.x, cols, torus_);
  const int dy = signed_steps(a.y, b.y, rows, torus_);
  Route route;
  route.reserve(size_t(std::abs(dx) + std::abs(dy)));
  int x = a.x, y = a.y;
  // |moves| steps of one dimension, each +1 or -1 (the sign of moves).
  auto walk = [&](int moves, bool along_x) {
    const int step = moves >= 0 ? 1 : -1;
    for (int k = 0; k < std::abs(moves); ++k) {
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

template <typename F>
void Network::walk_shortest(int src, int dst, F&& visit) const {
  const std::vector<int>& parent = parents_from(src);
  for (int node = dst; node != src;) {
    ChannelId c = parent[node];
    if (c < 0) {
      throw core::InputError(
          hw_.name, fmt::format("no route from {} to {}", hw_.node_name(src), hw_.node_name(dst)));
    }
    visit(c);
    node = channels_[c].from;
  }
}

Route Network::shortest(int src, int dst) const {
  Route route;
  walk_shortest(src, dst, [&](ChannelId c) { route.push_back(c); });
  std::reverse(route.begin(), route.end());
  return route;
}

bool Network::on_grid(int src, int dst) const {
  if (src < 0 || dst < 0 || src >= hw_.node_count() || dst >= hw_.node_count()) {
    throw std::out_of_range(fmt::format("route {} -> {}: no such node", src, dst));
  }
  return !grid_.empty() && !hw_.is_switch(src) && !hw_.is_switch(dst) && hw_.chiplets[src].coord &&
         hw_.chiplets[dst].coord;
}

std::size_t Network::hops(int src, int dst) const {
  if (!on_grid(src, dst)) {
    std::size_t count = 0;
    if (src != dst)
      walk_shortest(src, dst, [&](ChannelId) { ++count; });
    return count;
  }
  // Dimension order, either way round: the steps of each dimension.
  const hw::Coord a = *hw_.chiplets[src].coord;
  const hw::Coord b = *hw_.chiplets[dst].coord;
  const int rows = int(grid_.size()), cols = int(grid_[0].size());
  return static_cast<std::size_t>(std::abs(signed_steps(a.x, b.x, cols, torus_)) +
                                  std::abs(signed_steps(a.y, b.y, rows, torus_)));
}

Route Network::route(int src, int dst, std::span<const double> load) const {
  const bool grid = on_grid(src, dst);
  if (src == dst)
    return {};
  if (!grid)
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
    if (i + 1 < route.size())
      total += transit_latency(c.to);
  }
  return total;
}

FlowSpec Network::unicast(const Route& route, double bytes) const {
  FlowSpec spec;
  spec.bytes = bytes;
  spec.latency_s = latency(route);
  spec.uses.reserve(route.size() + 2);
  const double wire = wire_factor();
  const ChannelId in = route.empty() ? -1 : injection_[channels_[route.front()].from];
  const ChannelId out = route.empty() ? -1 : ejection_[channels_[route.back()].to];
  if (in >= 0)
    spec.uses.push_back(ChannelUse{in, wire});
  for (ChannelId c : route)
    spec.uses.push_back(ChannelUse{c, wire});
  if (out >= 0)
    spec.uses.push_back(ChannelUse{out, wire});
  return spec;
}

FlowSpec Network::flow(int src, int dst, double bytes, std::span<const double> load) const {
  Route path = route(src, dst, load);
  const bool grid = !grid_.empty() && !path.empty() && hw_.chiplets.size() > size_t(src) &&
                    hw_.chiplets.size() > size_t(dst) && hw_.chiplets[src].coord &&
                    hw_.chiplets[dst].coord;
  // Dimension-order routes have one path; only parallel links can spread them.
  if (path.empty() || options_.multipath == Multipath::single || (grid && !has_parallel_))
    return unicast(path, bytes);
  FlowSpec spec;
  spec.bytes = bytes;
  if (grid) {
    for (size_t i = 0; i < path.size(); ++i) {
      const Channel& c = channels_[path[i]];
      add_hop(spec, c.from, c.to, 1);
      if (i > 0)
        spec.latency_s += transit_latency(c.from);
      spec.latency_s += bundle_latency(c.from, c.to);
    }
  } else if (options_.multipath == Multipath::split) {
    spec.latency_s = add_split(spec, src, dst);
  } else {
    add_hashed(spec, src, dst);
    Route taken;
    for (const ChannelUse& u : spec.uses)
      taken.push_back(u.channel);
    spec.latency_s = latency(taken);
  }
  const double wire = wire_factor();
  for (ChannelUse& u : spec.uses)
    u.coefficient *= wire;
  if (injection_[src] >= 0)
    spec.uses.insert(spec.uses.begin(), ChannelUse{injection_[src], wire});
  if (ejection_[dst] >= 0)
    spec.uses.push_back(ChannelUse{ejection_[dst], wire});
  return spec;
}

void Network::add_hop(FlowSpec& spec, int node, int next, double share) const {
  const auto& out = out_[node];
  auto first = std::lower_bound(out.begin(), out.end(), std::pair{next, ChannelId(-1)});
  auto last = first;
  double bandwidth = 0;
  for (; last != out.end() && last->first == next; ++last)
    bandwidth += channels_[last->second].bytes_per_s;
  for (auto it = first; it != last; ++it) {
    const double part = share * channels_[it->second].bytes_per_s / bandwidth;
    auto used = std::find_if(spec.uses.begin(), spec.uses.end(),
                             [&](const ChannelUse& u) { return u.channel == it->second; });
    if (used == spec.uses.end())
      spec.uses.push_back(ChannelUse{it->second, part});
    else
      used->coefficient += part;
  }
}

double Network::bundle_latency(int node, int next) const {
  const auto& out = out_[node];
  double worst = 0;
  for (auto it = std::lower_bound(out.begin(), out.end(), std::pair{next, ChannelId(-1)});
       it != out.end() && it->first == next; ++it)
    worst = std::max(worst, channels_[it->second].latency_s);
  return worst;
}

double Network::transit_latency(int node) const {
  return hw_.is_switch(node) ? hw_.switches[node - hw_.chiplets.size()].hop_latency_s : 0;
}

// Layer by layer toward dst: each node's share goes equally to its next hops. Every next hop
// is one hop closer, so a layer holds the nodes at one distance. A node's arrival is the
// latest its share reaches it over the paths taken; dst's is the flow's latency.
double Network::add_split(FlowSpec& spec, int src, int dst) const {
  const NextHops& hops = next_hops(dst);
  using At = std::tuple<int, double, double>;  // node, share, arrival
  std::vector<At> layer = {{src, 1.0, 0.0}}, next;
  while (!(layer.size() == 1 && std::get<0>(layer.front()) == dst)) {
    next.clear();
    for (const auto& [node, share, arrival] : layer) {
      const uint32_t begin = hops.first[node], end = hops.first[node + 1];
      const double part = share / double(end - begin);
      const double leave = arrival + (node == src ? 0 : transit_latency(node));
      for (uint32_t i = begin; i < end; ++i) {
        add_hop(spec, node, hops.next[i], part);
        next.emplace_back(hops.next[i], part, leave + bundle_latency(node, hops.next[i]));
      }
    }
    std::sort(next.begin(), next.end());
    layer.clear();
    for (const auto& [node, share, arrival] : next) {
      if (!layer.empty() && std::get<0>(layer.back()) == node) {
        std::get<1>(layer.back()) += share;
        std::get<2>(layer.back()) = std::max(std::get<2>(layer.back()), arrival);
      } else {
        layer.emplace_back(node, share, arrival);
      }
    }
  }
  return std::get<2>(layer.front());
}

// One path: at each node the next hop (and parallel link) a hash of the pair and the node picks.
void Network::add_hashed(FlowSpec& spec, int src, int dst) const {
  const NextHops& hops = next_hops(dst);
  auto mix = [](uint64_t x) {  // splitmix64's finaliser
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  for (int node = src; node != dst;) {
    const uint32_t begin = hops.first[node], end = hops.first[node + 1];
    const uint64_t h = mix((uint64_t(src) << 42) ^ (uint64_t(dst) << 21) ^ uint64_t(node));
    const int next = hops.next[begin + h % (end - begin)];
    const auto& out = out_[node];
    auto first = std::lower_bound(out.begin(), out.end(), std::pair{next, ChannelId(-1)});
    size_t parallel = 0;
    while (first + parallel != out.end() && first[parallel].first == next)
      ++parallel;
    spec.uses.push_back(ChannelUse{first[(h >> 32) % parallel].second, 1.0});
    node = next;
  }
}

const Network::NextHops& Network::next_hops(int dst) const {
  auto cached = next_hops_.find(dst);
  if (cached != next_hops_.end())
    return cached->second;
  // Least cost to dst from every node over links joined per neighbour (parallel links add up),
  // then fewest hops: Dijkstra on the reversed graph.
  const int n = hw_.node_count();
  std::vector<double> cost(n, kNever);
  std::vector<int> hops(n, 1 << 30);
  using Key = std::tuple<double, int, int>;
  std::priority_queue<Key, std::vector<Key>, std::greater<>> queue;
  cost[dst] = 0;
  hops[dst] = 0;
  queue.emplace(0.0, 0, dst);
  auto bundle_cost = [&](int node, size_t& i) {  // 1 / the bandwidth of node's links to out_[i]
    const auto& out = out_[node];
    double bandwidth = 0;
    const int next = out[i].first;
    for (; i < out.size() && out[i].first == next; ++i)
      bandwidth += channels_[out[i].second].bytes_per_s;
    return 1.0 / bandwidth;
  };
  while (!queue.empty()) {
    auto [c, h, node] = queue.top();
    queue.pop();
    if (c != cost[node] || h != hops[node])
      continue;
    // Links are symmetric: node's neighbours reach node over their links to it.
    for (size_t i = 0; i < out_[node].size();) {
      const int prev = out_[node][i].first;
      const double nc = c + bundle_cost(node, i);
      if (closer(nc, h + 1, cost[prev], hops[prev])) {
        cost[prev] = nc;
        hops[prev] = h + 1;
        queue.emplace(nc, h + 1, prev);
      }
    }
  }
  NextHops out;
  out.first.assign(size_t(n) + 1, 0);
  for (int node = 0; node < n; ++node) {
    out.first[node] = uint32_t(out.next.size());
    if (node == dst)
      continue;
    for (size_t i = 0; i < out_[node].size();) {
      const int next = out_[node][i].first;
      const double step = bundle_cost(node, i);
      const double via = cost[next] + step;
      if (hops[next] + 1 == hops[node] && same_cost(via, cost[node]))
        out.next.push_back(next);
    }
  }
  out.first[n] = uint32_t(out.next.size());
  return next_hops_.emplace(dst, std::move(out)).first->second;
}

void Network::add_endpoints(FlowSpec& spec) const {
  if (!has_endpoints_)
    return;
  std::map<int, std::pair<double, double>> flow;  // node -> (out, in) coefficients
  for (const ChannelUse& u : spec.uses) {
    const Channel& c = channels_[static_cast<size_t>(u.channel)];
    if (c.kind != ChannelKind::link)
      continue;
    flow[c.from].first += u.coefficient;
    flow[c.to].second += u.coefficient;
  }
  for (const auto& [node, sums] : flow) {
    const auto [out, in] = sums;
    if (in == 0 && injection_[node] >= 0)
      spec.uses.push_back(ChannelUse{injection_[node], out});
    if (out == 0 && ejection_[node] >= 0)
      spec.uses.push_back(ChannelUse{ejection_[node], in});
  }
}

}  // namespace mozart::net
