#include "mozart/net/collectives.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/memory_limit.hpp"

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
// A node of an in-network tree that would have to copy (multicast) or sum (aggregation) a
// token's traffic without being a switch that can.
[[noreturn]] void refuse_in_network(const Network& net, int node, bool toward_root) {
  throw core::InputError(
      net.hw().name,
      fmt::format("in-network {} needs node '{}' to {} a token's traffic, but it is not a "
                  "switch that can",
                  toward_root ? "aggregation" : "multicast", net.hw().node_name(node),
                  toward_root ? "sum" : "copy"));
}

void add_tree(const Network& net, int root, const std::vector<const Route*>& routes,
              bool toward_root, std::map<ChannelId, TreeGroup>& groups, TreeScratch& scratch) {
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
    refuse_in_network(net, node, toward_root);
  }
  for (const auto& [key, c] : grouped)
    groups[key].messages[c] += 1;
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
    f.spec = net.flow(src, dst, count * bytes_per_message);
    plan.flows.push_back(std::move(f));
  });
}

std::vector<int> distinct_remote(const std::vector<int>& nodes, int self) {
  std::vector<int> out;
  for (int n : nodes) {
    if (n != self)
      out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// A set of nodes as bits, with the node that owns it in front: tokens with equal keys leave
// one source for one set of remote nodes.
class NodeSetKey {
 public:
  explicit NodeSetKey(int nodes) : words_(1 + (static_cast<std::size_t>(nodes) + 63) / 64) {}
  // `owner`, then the nodes of `nodes` other than `owner`.
  void assign(int owner, const std::vector<int>& nodes) {
    words_.assign(words_.size(), 0);
    words_[0] = static_cast<std::uint64_t>(owner);
    for (const int n : nodes)
      if (n != owner)
        words_[1 + static_cast<std::size_t>(n) / 64] |= std::uint64_t{1} << (n % 64);
  }
  const std::vector<std::uint64_t>& words() const { return words_; }
  static int owner(const std::vector<std::uint64_t>& words) { return static_cast<int>(words[0]); }
  static std::size_t count(const std::vector<std::uint64_t>& words) {
    std::size_t n = 0;
    for (std::size_t w = 1; w < words.size(); ++w)
      n += static_cast<std::size_t>(std::popcount(words[w]));
    return n;
  }
  // The nodes of the set in increasing order, into `out`.
  static void members(const std::vector<std::uint64_t>& words, std::vector<int>& out) {
    out.clear();
    for (std::size_t w = 1; w < words.size(); ++w)
      for (std::uint64_t bits = words[w]; bits != 0; bits &= bits - 1)
        out.push_back(static_cast<int>(64 * (w - 1)) + std::countr_zero(bits));
  }

 private:
  std::vector<std::uint64_t> words_;
};

// Tokens grouped by key (source and set of remote nodes), in the order of each group's first
// token: they take the same tree, so the in-network plan computes each tree once and counts its
// tokens, and the first tree that cannot be built is still the first token's that cannot.
class TokenGroups {
 public:
  void add(const std::vector<std::uint64_t>& key) {
    const auto [at, inserted] = index_.try_emplace(key, groups_.size());
    if (inserted)
      groups_.push_back({key, 0});
    groups_[at->second].tokens += 1;
  }
  struct Group {
    std::vector<std::uint64_t> key;
    double tokens;
  };
  const std::vector<Group>& groups() const { return groups_; }

 private:
  struct Hash {
    std::size_t operator()(const std::vector<std::uint64_t>& key) const {
      std::uint64_t h = 0x9e3779b97f4a7c15u;
      for (const std::uint64_t w : key)
        h = (h ^ w) * 0xff51afd7ed558ccdu;
      return static_cast<std::size_t>(h ^ (h >> 32));
    }
  };
  std::unordered_map<std::vector<std::uint64_t>, std::size_t, Hash> index_;
  std::vector<Group> groups_;
};

// The trees of an in-network dispatch or combine, grouped by source and root channel (as
// add_tree's groups): for each, how many messages cross each channel and the deepest path's
// latency. Each group of tokens adds its tree once, weighted by its tokens; the rows are dense
// over channels, as a source has only a few root channels.
class TreeTable {
 public:
  TreeTable(const Network& net, bool toward_root)
      : net_(net),
        toward_root_(toward_root),
        nodes_(net.hw().node_count()),
        channels_(net.channels().size()),
        route_(net),
        paths_(static_cast<std::size_t>(nodes_) * static_cast<std::size_t>(nodes_)),
        row_of_(static_cast<std::size_t>(nodes_)),
        channel_stamp_(channels_, 0),
        node_hits_(static_cast<std::size_t>(nodes_), 0) {}

  // Adds the tree of `tokens` tokens between `root` and each node of `remote` (sorted,
  // distinct), after checking that it branches only where a switch can copy or sum.
  void add(int root, const std::vector<int>& remote, double tokens) {
    ++stamp_;
    touched_.clear();
    for (const int d : remote) {
      const Path& p = path(root, d);
      Row& row = row_of(root, p.key);
      row.latency_s = std::max(row.latency_s, p.latency_s);
      for (const ChannelId c : *p.route) {
        const auto ci = static_cast<std::size_t>(c);
        if (row.stamp[ci] != stamp_) {  // each channel carries a token's message once
          row.stamp[ci] = stamp_;
          row.messages[ci] += tokens;
        }
        if (channel_stamp_[ci] != stamp_) {
          channel_stamp_[ci] = stamp_;
          const Channel& ch = net_.channels()[ci];
          hit(toward_root_ ? ch.to : ch.from);
        }
      }
      hit(p.end);
    }
    check_branches(root);
  }

  // The flows, by source, then root channel (both in increasing order).
  void add_flows(double bytes_per_message, const char* what, CollectivePlan& plan) const {
    for (int root = 0; root < nodes_; ++root) {
      const auto& rows = row_of_[static_cast<std::size_t>(root)];
      for (std::size_t key = 0; key < rows.size(); ++key) {
        if (rows[key] < 0)
          continue;
        const Row& row = rows_[static_cast<std::size_t>(rows[key])];
        const double stream = row.messages[key];  // every message crosses the root channel
        PlannedFlow f;
        f.label = fmt::format("{} {} via {}", what, net_.hw().node_name(root),
                              net_.hw().node_name(net_.channels()[key].to));
        f.src = root;
        f.spec.bytes = stream * bytes_per_message;
        f.spec.latency_s = row.latency_s;
        for (std::size_t c = 0; c < channels_; ++c)
          if (row.messages[c] > 0)
            f.spec.uses.push_back(ChannelUse{static_cast<ChannelId>(c),
                                             net_.wire_factor() * row.messages[c] / stream});
        net_.add_endpoints(f.spec);
        plan.flows.push_back(std::move(f));
      }
    }
  }

 private:
  struct Path {
    const Route* route = nullptr;
    ChannelId key = -1;  // the root's channel: first of a multicast, last of an aggregation
    int end = -1;        // the far end: a multicast's destination, an aggregation's source
    double latency_s = 0;
  };
  struct Row {
    std::vector<double> messages;
    std::vector<std::uint32_t> stamp;
    double latency_s = 0;
  };

  const Path& path(int root, int other) {
    Path& p = paths_[static_cast<std::size_t>(root) * static_cast<std::size_t>(nodes_) +
                     static_cast<std::size_t>(other)];
    if (p.route == nullptr) {
      const Route& r = toward_root_ ? route_(other, root) : route_(root, other);
      const auto& ends = net_.channels();
      p.route = &r;
      p.key = toward_root_ ? r.back() : r.front();
      p.end = toward_root_ ? ends[static_cast<std::size_t>(r.front())].from
                           : ends[static_cast<std::size_t>(r.back())].to;
      p.latency_s = net_.latency(r);
    }
    return p;
  }

  Row& row_of(int root, ChannelId key) {
    auto& rows = row_of_[static_cast<std::size_t>(root)];
    if (rows.empty())
      rows.assign(channels_, -1);
    int& at = rows[static_cast<std::size_t>(key)];
    if (at < 0) {
      at = static_cast<int>(rows_.size());
      rows_.push_back(
          {std::vector<double>(channels_, 0.0), std::vector<std::uint32_t>(channels_, 0), 0});
    }
    return rows_[static_cast<std::size_t>(at)];
  }

  void hit(int node) {
    if (node_hits_[static_cast<std::size_t>(node)]++ == 0)
      touched_.push_back(node);
  }

  // A node that a token's channels leave (multicast) or enter (aggregation) by more than one
  // channel, or that is an end of the tree and passes the token on as well, copies or sums;
  // the lowest such node that is neither the root nor a switch that can is named.
  void check_branches(int root) {
    int offender = -1;
    for (const int node : touched_) {
      if (node_hits_[static_cast<std::size_t>(node)] > 1 && node != root &&
          !switch_can(net_, node, toward_root_) && (offender < 0 || node < offender))
        offender = node;
      node_hits_[static_cast<std::size_t>(node)] = 0;
    }
    if (offender < 0)
      return;
    refuse_in_network(net_, offender, toward_root_);
  }

  const Network& net_;
  bool toward_root_;
  int nodes_;
  std::size_t channels_;
  RouteCache route_;
  std::vector<Path> paths_;               // [root][other]
  std::vector<std::vector<int>> row_of_;  // [root][root channel] -> rows_ index, -1: none
  std::vector<Row> rows_;
  std::vector<std::uint32_t> channel_stamp_;  // channels of the tree being added
  std::vector<int> node_hits_;                // its channels' branching ends and its far ends
  std::vector<int> touched_;
  std::uint32_t stamp_ = 0;
};

// What a dispatch and its combine share: the tokens' messages between node pairs (the copy
// modes; the combine's run the other way) and their groups (in-network); both directions are
// counted in one pass over the tokens, so a combine need not repeat its dispatch's grouping.
struct Grouped {
  // The pair tables are n x n: only the copy modes have them.
  Grouped(int nodes, AllToAllMode mode)
      : out(mode == AllToAllMode::in_network ? 0 : nodes),
        back(mode == AllToAllMode::in_network ? 0 : nodes) {}
  double payload_bytes = 0;
  PairCounts out;   // source -> destination (a dispatch's)
  PairCounts back;  // destination -> source (a combine's)
  TokenGroups groups;
};

Grouped group_tokens(const Network& net, const TokenRoutes& tokens, double bytes_per_token,
                     AllToAllMode mode) {
  if (tokens.source.size() != tokens.destinations.size()) {
    throw std::invalid_argument("token routes: one destination list per token");
  }
  Grouped g(net.hw().node_count(), mode);
  NodeSetKey key(net.hw().node_count());
  std::vector<int> remote;
  for (size_t t = 0; t < tokens.source.size(); ++t) {
    const int s = tokens.source[t];
    if (mode == AllToAllMode::copy_per_expert) {
      for (int d : tokens.destinations[t]) {
        if (d == s)
          continue;
        g.out.add(s, d);
        g.back.add(d, s);
        g.payload_bytes += bytes_per_token;
      }
      continue;
    }
    key.assign(s, tokens.destinations[t]);
    const std::size_t copies = NodeSetKey::count(key.words());
    g.payload_bytes += bytes_per_token * double(copies);
    if (mode == AllToAllMode::copy_per_chiplet) {
      NodeSetKey::members(key.words(), remote);
      for (int d : remote) {
        g.out.add(s, d);
        g.back.add(d, s);
      }
      continue;
    }
    if (copies > 0)
      g.groups.add(key.words());
  }
  return g;
}

// The dispatch (or, with `is_combine`, the combine) of grouped tokens.
CollectivePlan exchange_of(const Network& net, const Grouped& grouped, double bytes_per_token,
                           bool is_combine) {
  const char* what = is_combine ? "combine" : "dispatch";
  CollectivePlan plan;
  plan.payload_bytes = grouped.payload_bytes;
  add_pair_flows(net, is_combine ? grouped.back : grouped.out, bytes_per_token, what, plan);
  TreeTable trees(net, is_combine);
  std::vector<int> remote;
  for (const TokenGroups::Group& g : grouped.groups.groups()) {
    NodeSetKey::members(g.key, remote);
    trees.add(NodeSetKey::owner(g.key), remote, g.tokens);
  }
  trees.add_flows(bytes_per_token, what, plan);
  return plan;
}

// Adds `spec`, a flow from src to dst, to the plan.
int add_unicast(int src, int dst, FlowSpec spec, std::vector<int> after, std::string label,
                CollectivePlan& plan) {
  PlannedFlow f;
  f.label = std::move(label);
  f.src = src;
  f.dst = dst;
  plan.payload_bytes += spec.bytes;
  f.spec = std::move(spec);
  f.after = std::move(after);
  plan.flows.push_back(std::move(f));
  return int(plan.flows.size()) - 1;
}

int add_unicast(const Network& net, int src, int dst, double bytes, std::vector<int> after,
                const std::string& label, CollectivePlan& plan) {
  return add_unicast(src, dst, net.flow(src, dst, bytes), std::move(after), label, plan);
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
  // Every step sends the same chunk over the same n hops: their flows are found once.
  std::vector<FlowSpec> hop;
  hop.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    hop.push_back(net.flow(ring[i], ring[(i + 1) % n], chunk));
  for (int step = 0; step < steps; ++step) {
    std::vector<int> next(n, -1);
    for (int i = 0; i < n; ++i) {
      const int to = (i + 1) % n;
      std::vector<int> after;
      if (into[i] >= 0)
        after.push_back(into[i]);
      next[to] =
          add_unicast(ring[i], ring[to], hop[static_cast<std::size_t>(i)], std::move(after),
                      fmt::format("{} step {} {}", what, step, net.hw().node_name(ring[i])), plan);
    }
    into = std::move(next);
  }
  return into;
}

// Refuses a plan of `flows` flows between ring neighbours (position i to i + 1) too large for
// memory.
void require_ring_memory(const Network& net, const std::vector<int>& ring, std::uint64_t flows,
                         const char* what) {
  const std::uint64_t n = ring.size();
  require_plan_memory(
      net, flows,
      [&](std::uint64_t i) {
        return std::pair{ring[i % n], ring[(i + 1) % n]};
      },
      fmt::format("a ring {} of {} members", what, n));
}

// A collective among fewer than two members moves nothing: its plan is empty, and takes no time.
bool trivial(const std::vector<int>& nodes) {
  return nodes.size() < 2;
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
  std::map<ChannelId, double> endpoints;  // port -> coefficient
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
    std::set<ChannelId> side;
    for (const Route& r : routes) {
      deepest = std::max(deepest, net.latency(r));
      side.insert(r.begin(), r.end());
    }
    latency += deepest;
    // Each side's ends use their ports: members inject and the root ejects the reduction,
    // the root injects and members eject the broadcast.
    FlowSpec ends;
    for (ChannelId c : side)
      ends.uses.push_back(ChannelUse{c, net.wire_factor()});
    net.add_endpoints(ends);
    for (const ChannelUse& u : ends.uses)
      if (net.channels()[static_cast<std::size_t>(u.channel)].kind != ChannelKind::link)
        endpoints[u.channel] += u.coefficient;
    channels.insert(side.begin(), side.end());
  };
  if (reduce)
    add_side(to_root, true);
  if (spread)
    add_side(from_root, false);
  f.spec.latency_s = latency;
  for (ChannelId c : channels)
    f.spec.uses.push_back(ChannelUse{c, net.wire_factor()});
  for (const auto& [c, coefficient] : endpoints)
    f.spec.uses.push_back(ChannelUse{c, coefficient});
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
  // Two row phases of cols - 1 steps and a column phase of 2 (rows - 1), a flow per node each
  // step, between neighbours along a row or a column (and round its ends).
  const std::uint64_t cells = std::uint64_t(rows) * std::uint64_t(cols);
  require_plan_memory(
      net, cells * (4 * std::uint64_t(cols - 1) + 2 * std::uint64_t(rows - 1)),
      [&](std::uint64_t i) {
        const int y = int(i % cells) / cols, x = int(i % cells) % cols;
        return (i / cells) % 2 == 0 ? std::pair{grid[y][x], grid[y][(x + 1) % cols]}
                                    : std::pair{grid[y][x], grid[(y + 1) % rows][x]};
      },
      fmt::format("a 2D-mesh all-reduce of {} members", cells));
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
  CollectivePlan plan;
  if (trivial(nodes))
    return plan;
  require_ring_memory(net, nodes, nodes.size() * (nodes.size() - 1), what);
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
  return exchange_of(net, group_tokens(net, tokens, bytes_per_token, mode), bytes_per_token, false);
}

CollectivePlan combine(const Network& net, const TokenRoutes& tokens, double bytes_per_token,
                       AllToAllMode mode) {
  return exchange_of(net, group_tokens(net, tokens, bytes_per_token, mode), bytes_per_token, true);
}

DispatchCombine dispatch_and_combine(const Network& net, const TokenRoutes& tokens,
                                     double bytes_per_token, AllToAllMode mode) {
  const Grouped grouped = group_tokens(net, tokens, bytes_per_token, mode);
  DispatchCombine out;
  out.dispatch = exchange_of(net, grouped, bytes_per_token, false);
  out.combine = exchange_of(net, grouped, bytes_per_token, true);
  return out;
}

void require_plan_memory(const Network& net, std::uint64_t flows,
                         const std::function<std::pair<int, int>(std::uint64_t)>& pair,
                         const std::string& what) {
  constexpr std::uint64_t kSamples = 256;
  const std::uint64_t samples = std::min(flows, kSamples);
  double uses = 0, shares = 0;  // shares: uses of a part of the stream (split paths, trees)
  for (std::uint64_t k = 0; k < samples; ++k) {
    // Evenly spread; flows * k stays far below 2^64 for any plan a spec can describe.
    const auto [src, dst] = pair(samples == flows ? k : k * (flows / samples));
    for (const ChannelUse& u : net.flow(src, dst, 1).uses) {
      uses += 1;
      shares += u.coefficient != net.wire_factor() ? 1 : 0;
    }
  }
  const double per_sample = 1 / double(std::max<std::uint64_t>(samples, 1));
  const double mean_uses = uses * per_sample;
  // A flow's record with its label and dependency list on the heap, in the plan and again in
  // the engine's task graph; each use in the plan, the task graph and the fluid network (with
  // the room growing vectors leave), and a fractional use's coefficient stored apart. Checked
  // against peak memory: within 20% on meshes and fat trees (docs/network.md).
  const auto per_flow = static_cast<std::uint64_t>(
      2 * (sizeof(PlannedFlow) + 64) + mean_uses * 3 * double(sizeof(ChannelUse)) +
      shares * per_sample * 2 * double(sizeof(ChannelUse)));
  core::require_memory(
      core::saturating_mul_bytes(flows, per_flow),
      fmt::format("{} ({} flows, {:.1f} channel uses each on average) and its simulation", what,
                  flows, mean_uses),
      net.hw().name);
}

CollectivePlan all_to_all(const Network& net, const std::vector<int>& nodes, double bytes) {
  return all_to_all(net, nodes, bytes, std::vector<double>(nodes.size(), 1.0));
}

CollectivePlan all_to_all(const Network& net, const std::vector<int>& nodes, double bytes,
                          const std::vector<double>& weight) {
  if (weight.size() != nodes.size())
    throw std::invalid_argument("all-to-all: one weight per node");
  if (trivial(nodes))
    return {};
  const std::uint64_t n = nodes.size();
  require_plan_memory(
      net, n * (n - 1),
      [&](std::uint64_t i) {
        const std::uint64_t s = i / (n - 1), j = i % (n - 1);
        return std::pair{nodes[s], nodes[j < s ? j : j + 1]};
      },
      fmt::format("an all-to-all of {} members", n));
  CollectivePlan plan;
  plan.flows.reserve(nodes.size() * nodes.size());
  for (int s : nodes) {
    for (size_t j = 0; j < nodes.size(); ++j) {
      const int d = nodes[j];
      if (s == d || weight[j] <= 0)
        continue;
      PlannedFlow f;
      f.src = s;
      f.dst = d;
      f.spec = net.flow(s, d, bytes * weight[j]);
      plan.flows.push_back(std::move(f));
      plan.payload_bytes += bytes * weight[j];
    }
  }
  return plan;
}

CollectivePlan all_reduce(const Network& net, const std::vector<int>& nodes, double bytes,
                          AllReduceAlgorithm algorithm) {
  if (trivial(nodes))
    return {};
  const double n = double(nodes.size());
  switch (algorithm) {
    case AllReduceAlgorithm::ring: {
      require_ring_memory(net, nodes, 2 * nodes.size() * (nodes.size() - 1), "all-reduce");
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
  CollectivePlan plan;
  if (trivial(nodes))
    return plan;
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

namespace {

// Hops from `from` to every node over the links, fewest first (-1: unreachable). Every link has
// a channel each way, so this is also the fewest hops from a node to `from`: a lower bound on
// route(node, from).size(), whatever the route's costs.
std::vector<int> link_hops_from(const std::vector<std::vector<int>>& neighbours, int from) {
  std::vector<int> hops(neighbours.size(), -1);
  std::vector<int> queue = {from};
  hops[static_cast<std::size_t>(from)] = 0;
  for (std::size_t head = 0; head < queue.size(); ++head) {
    const int node = queue[head];
    for (int next : neighbours[static_cast<std::size_t>(node)]) {
      if (hops[static_cast<std::size_t>(next)] < 0) {
        hops[static_cast<std::size_t>(next)] = hops[static_cast<std::size_t>(node)] + 1;
        queue.push_back(next);
      }
    }
  }
  return hops;
}

// The search of reduction_root. Without pruning it would take the route of every ordered pair
// of members, n^2 (100 million on a 100x100 mesh). Instead each candidate's reach is bounded
// from below by its link hops to a few "witnesses" (members found farthest from the candidates
// scanned so far), candidates are taken in order of that bound, and a candidate is scanned,
// exactly, only while it can still beat the best found: its (reach, id) below the best's.
// Whatever the order, a candidate is either scanned or provably worse, so the answer is that
// of the exhaustive search.
class RootSearch {
 public:
  RootSearch(const Network& net, const std::vector<int>& nodes)
      : net_(net),
        members_(nodes),
        bound_(nodes.size(), 0),
        neighbours_(static_cast<std::size_t>(net.hw().node_count())) {
    for (const Channel& c : net.channels())
      if (c.kind == ChannelKind::link)
        neighbours_[static_cast<std::size_t>(c.from)].push_back(c.to);
  }

  int run() {
    if (members_.empty())
      return -1;
    // The first member scanned in list order, as the exhaustive search starts: a pair without
    // a route fails as it did there.
    scan(0);
    // Lowest bound first, then lowest id; bounds only grow, so a stale entry is put back.
    using Entry = std::pair<std::size_t, int>;  // (bound, member id)
    std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue;
    std::vector<std::size_t> index_of(static_cast<std::size_t>(net_.hw().node_count()),
                                      members_.size());
    for (std::size_t i = 0; i < members_.size(); ++i) {
      if (index_of[static_cast<std::size_t>(members_[i])] != members_.size())
        continue;  // a member listed twice is one candidate
      index_of[static_cast<std::size_t>(members_[i])] = i;
      queue.emplace(bound_[i], members_[i]);
    }
    while (!queue.empty()) {
      const auto [bound, id] = queue.top();
      queue.pop();
      const std::size_t i = index_of[static_cast<std::size_t>(id)];
      if (bound < bound_[i]) {
        queue.emplace(bound_[i], id);
        continue;
      }
      // Every entry left is (bound, id) at or past this one: none can win.
      if (!can_win(bound, id))
        break;
      if (id != members_[0])
        scan(i);
    }
    return best_;
  }

 private:
  bool can_win(std::size_t reach, int candidate) const {
    return best_ < 0 || reach < best_reach_ || (reach == best_reach_ && candidate < best_);
  }

  // The candidate's reach, given up as soon as it cannot win; once it scanned the others, it
  // and the farthest member it found become witnesses.
  void scan(std::size_t i) {
    const int candidate = members_[i];
    std::size_t reach = 0;
    for (int w : witnesses_) {
      reach = std::max(reach, net_.hops(candidate, w));
      if (!can_win(reach, candidate))
        return;
    }
    int farthest = -1;
    std::size_t farthest_hops = 0;
    for (int other : members_) {
      const std::size_t h = net_.hops(candidate, other);
      if (farthest < 0 || h > farthest_hops) {
        farthest = other;
        farthest_hops = h;
      }
      reach = std::max(reach, h);
      if (!can_win(reach, candidate))
        break;
    }
    // The candidate bounds the others' reach as well: their hops to it.
    add_witness(candidate);
    add_witness(farthest);
    if (can_win(reach, candidate)) {
      best_ = candidate;
      best_reach_ = reach;
    }
  }

  void add_witness(int node) {
    if (node < 0 || std::find(witnesses_.begin(), witnesses_.end(), node) != witnesses_.end())
      return;
    witnesses_.push_back(node);
    const std::vector<int> hops = link_hops_from(neighbours_, node);
    for (std::size_t i = 0; i < members_.size(); ++i) {
      const int h = hops[static_cast<std::size_t>(members_[i])];
      if (h > 0)
        bound_[i] = std::max(bound_[i], static_cast<std::size_t>(h));
    }
  }

  const Network& net_;
  const std::vector<int>& members_;
  std::vector<std::size_t> bound_;  // per member, a lower bound on its reach
  std::vector<std::vector<int>> neighbours_;
  std::vector<int> witnesses_;
  int best_ = -1;
  std::size_t best_reach_ = 0;
};

}  // namespace

int reduction_root(const Network& net, const std::vector<int>& nodes) {
  return RootSearch(net, nodes).run();
}

}  // namespace mozart::net
