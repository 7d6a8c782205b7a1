#include "mozart/net/collectives.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::net {
namespace {

// Multicast or aggregation trees of one root, grouped by the root's channel: for each group,
// how many distinct messages cross each channel, and the deepest path's latency.
struct TreeGroup {
  std::map<ChannelId, double> messages;
  double latency_s = 0;
};

bool switch_can(const Network& net, int node, bool aggregate) {
  const hw::HwSpec& hw = net.hw();
  if (!hw.is_switch(node))
    return false;
  const hw::Switch& s = hw.switches[node - hw.chiplets.size()];
  return aggregate ? s.aggregate : s.multicast;
}

// Routes between node pairs, computed once per collective.
class RouteCache {
 public:
  explicit RouteCache(const Network& net) : net_(net), n_(net.hw().node_count()) {
    routes_.resize(static_cast<std::size_t>(n_) * static_cast<std::size_t>(n_));
  }
  const Route& operator()(int src, int dst) {
    auto& r = routes_[static_cast<std::size_t>(src) * static_cast<std::size_t>(n_) +
                      static_cast<std::size_t>(dst)];
    if (!r)
      r = net_.route(src, dst);
    return *r;
  }

 private:
  const Network& net_;
  int n_;
  std::vector<std::optional<Route>> routes_;
};

// Buffers reused from token to token.
struct TreeScratch {
  std::vector<std::pair<ChannelId, ChannelId>> grouped;  // (group channel, channel)
  std::vector<ChannelId> channels;
  std::vector<int> branch_nodes;
};

// Adds one token's tree (the union of `routes`, all leaving or all entering `root`) to the
// groups, after checking that it branches only where a switch can copy or sum.
// `tokens` tokens take this tree: each of its channels carries that many messages.
void add_tree(const Network& net, int root, const std::vector<const Route*>& routes,
              bool toward_root, std::map<ChannelId, TreeGroup>& groups, TreeScratch& scratch,
              double tokens = 1) {
  auto& grouped = scratch.grouped;
  grouped.clear();
  for (const Route* r : routes) {
    const ChannelId key = toward_root ? r->back() : r->front();
    TreeGroup& g = groups[key];
    g.latency_s = std::max(g.latency_s, net.latency(*r));
    for (ChannelId c : *r)
      grouped.emplace_back(key, c);
  }
  std::sort(grouped.begin(), grouped.end());
  grouped.erase(std::unique(grouped.begin(), grouped.end()), grouped.end());
  // Branching: a node that a token's channels leave (multicast) or enter (aggregation) by more
  // than one channel, or that is an end and passes the token on as well.
  auto& channels = scratch.channels;
  channels.clear();
  for (const auto& [key, c] : grouped)
    channels.push_back(c);
  std::sort(channels.begin(), channels.end());
  channels.erase(std::unique(channels.begin(), channels.end()), channels.end());
  // An end of the tree that also relays (a destination that forwards the token on, a source
  // that passes others' partials up) copies or sums as much as a branch does.
  auto& nodes = scratch.branch_nodes;
  nodes.clear();
  for (const ChannelId c : channels) {
    const Channel& ch = net.channels()[static_cast<std::size_t>(c)];
    nodes.push_back(toward_root ? ch.to : ch.from);
  }
  for (const Route* r : routes) {
    const auto& ends = net.channels();
    nodes.push_back(toward_root ? ends[static_cast<std::size_t>(r->front())].from
                                : ends[static_cast<std::size_t>(r->back())].to);
  }
  std::sort(nodes.begin(), nodes.end());
  for (std::size_t i = 0; i + 1 < nodes.size(); ++i) {
    const int node = nodes[i];
    if (nodes[i + 1] != node || node == root || switch_can(net, node, toward_root))
      continue;
    throw core::InputError(
        net.hw().name,
        fmt::format("in-network {} needs node '{}' to {} a token's traffic, but it is not a "
                    "switch that can",
                    toward_root ? "aggregation" : "multicast", net.hw().node_name(node),
                    toward_root ? "sum" : "copy"));
  }
  for (const auto& [key, c] : grouped)
    groups[key].messages[c] += tokens;
}

void add_tree_flows(const Network& net, int root, const std::map<ChannelId, TreeGroup>& groups,
                    double bytes_per_message, const char* what, CollectivePlan& plan) {
  for (const auto& [key, group] : groups) {
    const double stream = group.messages.at(key);  // every message crosses the root channel
    PlannedFlow f;
    f.label = fmt::format("{} {} via {}", what, net.hw().node_name(root),
                          net.hw().node_name(net.channels()[key].to));
    f.src = root;
    f.spec.bytes = stream * bytes_per_message;
    f.spec.latency_s = group.latency_s;
    for (const auto& [c, messages] : group.messages) {
      f.spec.uses.push_back(ChannelUse{c, net.wire_factor() * messages / stream});
    }
    plan.flows.push_back(std::move(f));
  }
}

// Messages between each ordered pair of nodes, in a flat n x n table.
class PairCounts {
 public:
  explicit PairCounts(int nodes) : n_(static_cast<std::size_t>(nodes)), messages_(n_ * n_, 0.0) {}
  void add(int src, int dst, double messages = 1) {
    messages_[static_cast<std::size_t>(src) * n_ + static_cast<std::size_t>(dst)] += messages;
  }
  // The pairs that carry messages, in (src, dst) order.
  template <typename F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < messages_.size(); ++i)
      if (messages_[i] > 0)
        f(static_cast<int>(i / n_), static_cast<int>(i % n_), messages_[i]);
  }

 private:
  std::size_t n_;
  std::vector<double> messages_;
};

void add_pair_flows(const Network& net, const PairCounts& messages, double bytes_per_message,
                    const char* what, CollectivePlan& plan) {
  messages.for_each([&](int src, int dst, double count) {
    PlannedFlow f;
    f.label = fmt::format("{} {}->{}", what, net.hw().node_name(src), net.hw().node_name(dst));
    f.src = src;
    f.dst = dst;
    f.spec = net.unicast(net.route(src, dst), count * bytes_per_message);
    plan.flows.push_back(std::move(f));
  });
}

std::vector<int> distinct_remote(const std::vector<int>& nodes, int self) {
  std::vector<int> out;
  for (int n : nodes) {
    if (n != self && std::find(out.begin(), out.end(), n) == out.end())
      out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The distinct nodes of `nodes` other than `self`, sorted, into `out`.
void distinct_remote_into(const std::vector<int>& nodes, int self, std::vector<int>& out) {
  out.clear();
  for (int n : nodes)
    if (n != self)
      out.push_back(n);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

// Tokens that leave one source for one set of remote nodes take the same tree: the in-network
// plan computes each tree once and counts its tokens. Groups keep the order of their first
// token, so the first tree that cannot be built is the first token's that cannot.
class TokenGroups {
 public:
  // `key`: the source, then its sorted distinct remote nodes.
  void add(const std::vector<int>& key) {
    const auto [at, inserted] = index_.try_emplace(key, groups_.size());
    if (inserted)
      groups_.push_back({key, 0});
    groups_[at->second].tokens += 1;
  }
  struct Group {
    std::vector<int> key;
    double tokens;
  };
  const std::vector<Group>& groups() const { return groups_; }

 private:
  struct Hash {
    std::size_t operator()(const std::vector<int>& key) const {
      std::size_t h = key.size();
      for (const int v : key)
        h = h * 1000003u ^ static_cast<std::size_t>(v);
      return h;
    }
  };
  std::unordered_map<std::vector<int>, std::size_t, Hash> index_;
  std::vector<Group> groups_;
};

CollectivePlan exchange(const Network& net, const TokenRoutes& tokens, double bytes_per_token,
                        AllToAllMode mode, bool is_combine) {
  if (tokens.source.size() != tokens.destinations.size()) {
    throw std::invalid_argument("token routes: one destination list per token");
  }
  const char* what = is_combine ? "combine" : "dispatch";
  CollectivePlan plan;
  PairCounts pairs(net.hw().node_count());
  TokenGroups token_groups;
  std::vector<int> key;  // the token's source, then its distinct remote nodes
  std::vector<int> remote;
  for (size_t t = 0; t < tokens.source.size(); ++t) {
    const int s = tokens.source[t];
    if (mode == AllToAllMode::copy_per_expert) {
      for (int d : tokens.destinations[t]) {
        if (d == s)
          continue;
        is_combine ? pairs.add(d, s) : pairs.add(s, d);
        plan.payload_bytes += bytes_per_token;
      }
      continue;
    }
    distinct_remote_into(tokens.destinations[t], s, remote);
    plan.payload_bytes += bytes_per_token * double(remote.size());
    if (mode == AllToAllMode::copy_per_chiplet) {
      for (int d : remote)
        is_combine ? pairs.add(d, s) : pairs.add(s, d);
      continue;
    }
    if (remote.empty())
      continue;
    key.assign(1, s);
    key.insert(key.end(), remote.begin(), remote.end());
    token_groups.add(key);
  }
  add_pair_flows(net, pairs, bytes_per_token, what, plan);
  std::map<int, std::map<ChannelId, TreeGroup>> trees;  // by source node
  RouteCache route(net);
  TreeScratch scratch;
  std::vector<const Route*> routes;
  for (const TokenGroups::Group& g : token_groups.groups()) {
    const int s = g.key.front();
    routes.clear();
    for (auto d = g.key.begin() + 1; d != g.key.end(); ++d)
      routes.push_back(is_combine ? &route(*d, s) : &route(s, *d));
    add_tree(net, s, routes, is_combine, trees[s], scratch, g.tokens);
  }
  for (const auto& [root, groups] : trees) {
    add_tree_flows(net, root, groups, bytes_per_token, what, plan);
  }
  return plan;
}

int add_unicast(const Network& net, int src, int dst, double bytes, std::vector<int> after,
                const std::string& label, CollectivePlan& plan) {
  PlannedFlow f;
  f.label = label;
  f.src = src;
  f.dst = dst;
  f.spec = net.unicast(net.route(src, dst), bytes);
  f.after = std::move(after);
  plan.flows.push_back(std::move(f));
  plan.payload_bytes += bytes;
  return int(plan.flows.size()) - 1;
}

// `steps` ring steps over `ring`: at each step position i sends `chunk` to i + 1, once it has
// what position i - 1 sent it in the step before (or, at the first step, what `into[i]`, the
// last flow into it of an earlier phase, delivered). Returns the last flow into each position.
std::vector<int> ring_phase(const Network& net, const std::vector<int>& ring, double chunk,
                            int steps, std::vector<int> into, const char* what,
                            CollectivePlan& plan) {
  const int n = int(ring.size());
  if (into.empty())
    into.assign(n, -1);
  for (int step = 0; step < steps; ++step) {
    std::vector<int> next(n, -1);
    for (int i = 0; i < n; ++i) {
      const int to = (i + 1) % n;
      std::vector<int> after;
      if (into[i] >= 0)
        after.push_back(into[i]);
      next[to] =
          add_unicast(net, ring[i], ring[to], chunk, std::move(after),
                      fmt::format("{} step {} {}", what, step, net.hw().node_name(ring[i])), plan);
    }
    into = std::move(next);
  }
  return into;
}

void require_nodes(const std::vector<int>& nodes, size_t at_least) {
  if (nodes.size() < at_least) {
    throw std::invalid_argument(fmt::format("a collective needs at least {} nodes", at_least));
  }
}

// A multicast tree from root to the others and an aggregation tree from the others to root,
// as one pipelined flow; throws when a branch or merge point cannot copy or sum.
PlannedFlow in_network_flow(const Network& net, int root, const std::vector<int>& nodes,
                            double bytes, bool reduce, bool spread) {
  std::vector<Route> to_root, from_root;
  for (int n : distinct_remote(nodes, root)) {
    to_root.push_back(net.route(n, root));
    from_root.push_back(net.route(root, n));
  }
  PlannedFlow f;
  f.src = root;
  f.spec.bytes = bytes;
  std::set<ChannelId> channels;
  double latency = 0;
  // One direction of the flow: check its merge or branch points, take its channels, and wait
  // for its deepest path.
  auto add_side = [&](const std::vector<Route>& routes, bool toward_root) {
    std::map<ChannelId, TreeGroup> groups;
    std::vector<const Route*> pointers;
    for (const Route& r : routes)
      pointers.push_back(&r);
    TreeScratch scratch;
    add_tree(net, root, pointers, toward_root, groups, scratch);
    double deepest = 0;
    for (const Route& r : routes) {
      deepest = std::max(deepest, net.latency(r));
      channels.insert(r.begin(), r.end());
    }
    latency += deepest;
  };
  if (reduce)
    add_side(to_root, true);
  if (spread)
    add_side(from_root, false);
  f.spec.latency_s = latency;
  for (ChannelId c : channels)
    f.spec.uses.push_back(ChannelUse{c, net.wire_factor()});
  return f;
}

std::vector<int> tree_order(const Network& net, const std::vector<int>& nodes) {
  int root = reduction_root(net, nodes);
  std::vector<int> order = {root};
  for (int n : nodes) {
    if (n != root)
      order.push_back(n);
  }
  return order;
}

CollectivePlan tree_all_reduce(const Network& net, const std::vector<int>& nodes, double bytes) {
  std::vector<int> order = tree_order(net, nodes);  // binary tree: parent of i is (i - 1) / 2
  const int n = int(order.size());
  CollectivePlan plan;
  std::vector<std::vector<int>> into(n);  // reduce flows into each position
  for (int i = n - 1; i >= 1; --i) {
    int parent = (i - 1) / 2;
    into[parent].push_back(add_unicast(net, order[i], order[parent], bytes, into[i],
                                       fmt::format("reduce {}", i), plan));
  }
  std::vector<int> received(n, -1);
  for (int i = 1; i < n; ++i) {
    int parent = (i - 1) / 2;
    std::vector<int> after = parent == 0 ? into[0] : std::vector<int>{received[parent]};
    received[i] = add_unicast(net, order[parent], order[i], bytes, std::move(after),
                              fmt::format("broadcast {}", i), plan);
  }
  return plan;
}

CollectivePlan mesh_all_reduce(const Network& net, const std::vector<int>& nodes, double bytes) {
  const hw::HwSpec& hw = net.hw();
  const int rows = hw.topology.rows, cols = hw.topology.cols;
  std::vector<std::vector<int>> grid(rows, std::vector<int>(cols, -1));
  for (int n : nodes) {
    if (hw.is_switch(n) || !hw.chiplets[n].coord) {
      throw core::InputError(hw.name, "2D-mesh all-reduce needs every node on the mesh");
    }
    grid[hw.chiplets[n].coord->y][hw.chiplets[n].coord->x] = n;
  }
  if (int(nodes.size()) != rows * cols) {
    throw core::InputError(
        hw.name, fmt::format("2D-mesh all-reduce needs all {} mesh nodes, got {}", rows * cols,
                             nodes.size()));
  }
  CollectivePlan plan;
  // Reduce-scatter along rows, all-reduce of each 1/cols share along columns, all-gather
  // along rows. Each phase waits for the flows into a node from the phase before.
  std::map<int, int> last;  // node -> last flow into it
  auto run_rings = [&](bool along_rows, double chunk, int steps, const char* what) {
    std::map<int, int> next;
    for (int k = 0; k < (along_rows ? rows : cols); ++k) {
      std::vector<int> ring, into;
      for (int j = 0; j < (along_rows ? cols : rows); ++j) {
        int node = along_rows ? grid[k][j] : grid[j][k];
        ring.push_back(node);
        into.push_back(last.count(node) ? last[node] : -1);
      }
      std::vector<int> out = ring_phase(net, ring, chunk, steps, into, what, plan);
      for (size_t j = 0; j < ring.size(); ++j)
        next[ring[j]] = out[j];
    }
    last = std::move(next);
  };
  if (cols > 1)
    run_rings(true, bytes / cols, cols - 1, "row reduce-scatter");
  if (rows > 1)
    run_rings(false, bytes / (double(cols) * rows), 2 * (rows - 1), "column all-reduce");
  if (cols > 1)
    run_rings(true, bytes / cols, cols - 1, "row all-gather");
  return plan;
}

// One pass round a ring, n - 1 steps of S / n: the traffic of an all-gather and of a
// reduce-scatter alike (they differ in what a node does with a chunk, not in what moves).
CollectivePlan ring_pass(const Network& net, const std::vector<int>& nodes, double bytes,
                         const char* what) {
  require_nodes(nodes, 2);
  CollectivePlan plan;
  ring_phase(net, nodes, bytes / double(nodes.size()), int(nodes.size()) - 1, {}, what, plan);
  return plan;
}

}  // namespace

std::string_view to_string(AllToAllMode mode) {
  switch (mode) {
    case AllToAllMode::copy_per_expert:
      return "per-expert";
    case AllToAllMode::copy_per_chiplet:
      return "per-chiplet";
    case AllToAllMode::in_network:
      return "in-network";
  }
  return "?";
}

CollectivePlan dispatch(const Network& net, const TokenRoutes& tokens, double bytes_per_token,
                        AllToAllMode mode) {
  return exchange(net, tokens, bytes_per_token, mode, false);
}

CollectivePlan combine(const Network& net, const TokenRoutes& tokens, double bytes_per_token,
                       AllToAllMode mode) {
  return exchange(net, tokens, bytes_per_token, mode, true);
}

CollectivePlan all_to_all(const Network& net, const std::vector<int>& nodes, double bytes) {
  CollectivePlan plan;
  plan.flows.reserve(nodes.size() * nodes.size());
  for (int s : nodes) {
    for (int d : nodes) {
      if (s == d)
        continue;
      PlannedFlow f;
      f.src = s;
      f.dst = d;
      f.spec = net.unicast(net.route(s, d), bytes);
      plan.flows.push_back(std::move(f));
      plan.payload_bytes += bytes;
    }
  }
  return plan;
}

CollectivePlan all_reduce(const Network& net, const std::vector<int>& nodes, double bytes,
                          AllReduceAlgorithm algorithm) {
  require_nodes(nodes, 2);
  const double n = double(nodes.size());
  switch (algorithm) {
    case AllReduceAlgorithm::ring: {
      CollectivePlan plan;
      ring_phase(net, nodes, bytes / n, 2 * (int(n) - 1), {}, "all-reduce", plan);
      return plan;
    }
    case AllReduceAlgorithm::tree:
      return tree_all_reduce(net, nodes, bytes);
    case AllReduceAlgorithm::in_network: {
      CollectivePlan plan;
      int root = reduction_root(net, nodes);
      PlannedFlow f = in_network_flow(net, root, nodes, bytes, true, true);
      f.label = "in-network all-reduce";
      plan.flows.push_back(std::move(f));
      plan.payload_bytes = bytes * n;
      return plan;
    }
    case AllReduceAlgorithm::mesh_2d:
      return mesh_all_reduce(net, nodes, bytes);
  }
  return {};
}

CollectivePlan all_gather(const Network& net, const std::vector<int>& nodes, double bytes) {
  return ring_pass(net, nodes, bytes, "all-gather");
}

CollectivePlan reduce_scatter(const Network& net, const std::vector<int>& nodes, double bytes) {
  return ring_pass(net, nodes, bytes, "reduce-scatter");
}

CollectivePlan broadcast(const Network& net, const std::vector<int>& nodes, double bytes) {
  require_nodes(nodes, 2);
  CollectivePlan plan;
  try {
    PlannedFlow f = in_network_flow(net, nodes[0], nodes, bytes, false, true);
    f.label = "multicast broadcast";
    plan.flows.push_back(std::move(f));
    plan.payload_bytes = bytes * double(nodes.size() - 1);
    return plan;
  } catch (const core::InputError&) {
    // No multicast on this path: a binomial tree of unicasts instead.
  }
  // A node sends one round after another, each once it holds the data.
  const int n = int(nodes.size());
  std::vector<int> last(n, -1);  // the node's latest flow: what it received, or its last send
  for (int span = 1; span < n; span *= 2) {
    for (int i = 0; i < span && i + span < n; ++i) {
      std::vector<int> after;
      if (last[i] >= 0)
        after.push_back(last[i]);
      int flow = add_unicast(net, nodes[i], nodes[i + span], bytes, std::move(after),
                             fmt::format("broadcast {}->{}", i, i + span), plan);
      last[i] = flow;
      last[i + span] = flow;
    }
  }
  return plan;
}

int reduction_root(const Network& net, const std::vector<int>& nodes) {
  int best = -1;
  size_t best_reach = 0;
  for (int candidate : nodes) {
    size_t reach = 0;
    for (int other : nodes)
      reach = std::max(reach, net.route(candidate, other).size());
    if (best < 0 || reach < best_reach || (reach == best_reach && candidate < best)) {
      best = candidate;
      best_reach = reach;
    }
  }
  return best;
}

}  // namespace mozart::net
