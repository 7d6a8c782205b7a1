#include "mozart/sim/segments.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace mozart::sim {

bool in_id_order(const TaskGraph& graph) {
  for (TaskId t = 0; t < TaskId(graph.size()); ++t)
    for (const TaskId d : graph.deps(t))
      if (d >= t)
        return false;
  return true;
}

// Task b (before the last task) is a cut when
//  (a) every later task has a dependency and none before b: by induction on ids, each then
//      waits for b, through a dependency in [b, itself);
//  (b) every task since the previous cut has a dependent: its dependents lie after it and, by
//      (a), not after b, so by induction each leads to b.
// A task without dependents leads to no later task, so no cut follows it.
std::vector<Segment> segments(const TaskGraph& graph, const Dependents& dependents,
                              size_t min_tasks) {
  const auto n = TaskId(graph.size());
  std::vector<Segment> out;
  if (n == 0)
    return out;
  if (!in_id_order(graph))
    return {{0, n}};
  // The smallest dependency of any task from t on (-1: some task there has none).
  std::vector<TaskId> smallest_after(size_t(n) + 1, std::numeric_limits<TaskId>::max());
  for (TaskId t = n - 1; t >= 0; --t) {
    const std::span<const TaskId> deps = graph.deps(t);
    const TaskId smallest = deps.empty() ? -1 : *std::min_element(deps.begin(), deps.end());
    smallest_after[size_t(t)] = std::min(smallest, smallest_after[size_t(t) + 1]);
  }
  TaskId begin = 0;
  for (TaskId b = 0; b + 1 < n; ++b) {
    if (dependents.of(b).empty())
      break;  // (b) fails for every later cut
    if (smallest_after[size_t(b) + 1] < b || size_t(b + 1 - begin) < min_tasks)
      continue;
    out.push_back({begin, b + 1});
    begin = b + 1;
  }
  out.push_back({begin, n});
  // A short tail joins the segment before it.
  if (out.size() > 1 && out.back().size() < min_tasks) {
    out[out.size() - 2].end = n;
    out.pop_back();
  }
  return out;
}

namespace {

// A union-find over positions, by halving paths.
class Components {
 public:
  explicit Components(size_t n) : parent_(n) {
    for (size_t i = 0; i < n; ++i)
      parent_[i] = uint32_t(i);
  }
  uint32_t find(uint32_t i) {
    while (parent_[i] != i) {
      parent_[i] = parent_[parent_[i]];
      i = parent_[i];
    }
    return i;
  }
  void unite(uint32_t a, uint32_t b) {
    a = find(a);
    b = find(b);
    if (a != b)
      parent_[std::max(a, b)] = std::min(a, b);  // the root is a part's first task
  }

 private:
  std::vector<uint32_t> parent_;
};

}  // namespace

std::vector<std::vector<TaskId>> independent_parts(const TaskGraph& graph, Segment s, TaskId limit,
                                                   size_t channels, size_t min_tasks) {
  const auto n = size_t(limit - s.begin);
  Components components(n);
  std::vector<int32_t> resource_user(graph.resources().size(), -1);
  std::vector<int32_t> channel_user(channels, -1);
  auto share = [&](int32_t& user, uint32_t i) {
    if (user < 0)
      user = int32_t(i);
    else
      components.unite(uint32_t(user), i);
  };
  for (uint32_t i = 0; i < n; ++i) {
    const TaskId t = s.begin + TaskId(i);
    for (const TaskId d : graph.deps(t))
      if (d >= s.begin)
        components.unite(i, uint32_t(d - s.begin));
    if (graph.kind(t) == TaskKind::compute)
      share(resource_user[size_t(graph.resource(t))], i);
    else if (graph.kind(t) == TaskKind::flow)
      for (const net::ChannelUse& u : graph.flow(t).uses)
        share(channel_user[size_t(u.channel)], i);
  }
  std::vector<std::vector<TaskId>> parts;
  std::vector<int32_t> part_of(n, -1);  // by root
  for (uint32_t i = 0; i < n; ++i) {
    int32_t& p = part_of[components.find(i)];
    if (p < 0) {
      p = int32_t(parts.size());
      parts.emplace_back();
    }
    parts[size_t(p)].push_back(s.begin + TaskId(i));
  }
  std::vector<std::vector<TaskId>> joined;
  for (std::vector<TaskId>& part : parts) {
    if (joined.empty() || joined.back().size() >= min_tasks) {
      joined.push_back(std::move(part));
      continue;
    }
    std::vector<TaskId>& into = joined.back();
    const auto middle = into.insert(into.end(), part.begin(), part.end());
    std::inplace_merge(into.begin(), middle, into.end());
  }
  return joined;
}

namespace {

// A dependency as its segment sees it: -1 for the previous cut.
TaskId relative(TaskId dep, Segment s) {
  return dep < s.begin ? -1 : dep - s.begin;
}

bool same_flow(const FlowView& a, const FlowView& b) {
  if (a.bytes != b.bytes || a.latency_s != b.latency_s || a.weight != b.weight ||
      a.priority != b.priority || a.uses.size() != b.uses.size())
    return false;
  if (a.uses.data() == b.uses.data())
    return true;  // one stored route
  for (size_t k = 0; k < a.uses.size(); ++k)
    if (a.uses[k].channel != b.uses[k].channel || a.uses[k].coefficient != b.uses[k].coefficient)
      return false;
  return true;
}

// 64-bit mixing (splitmix64's finaliser), so that nearby values spread.
uint64_t mix(uint64_t h, uint64_t v) {
  v += h + 0x9e3779b97f4a7c15ULL;
  v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ULL;
  v = (v ^ (v >> 27)) * 0x94d049bb133111ebULL;
  return v ^ (v >> 31);
}

uint64_t mix(uint64_t h, double v) {
  return mix(h, std::bit_cast<uint64_t>(v));
}

// A flow's uses, the bulk of a segment's data, in four lanes of one multiply per use: a chain
// of two full mixes per use was most of the hashing's time. (A hash only picks whom to compare:
// same_tasks decides.)
uint64_t uses_hash(std::span<const net::ChannelUse> uses) {
  uint64_t lane[4] = {1, 2, 3, 4};
  for (size_t k = 0; k < uses.size(); ++k) {
    const uint64_t word =
        uint64_t(uint32_t(uses[k].channel)) ^ std::bit_cast<uint64_t>(uses[k].coefficient);
    lane[k % 4] = (lane[k % 4] ^ word) * 0x9e3779b97f4a7c15ULL;
  }
  return mix(mix(lane[0], lane[1]), mix(lane[2], lane[3]));
}

}  // namespace

bool same_tasks(const TaskGraph& graph, Segment a, Segment b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    const TaskId x = a.begin + TaskId(i), y = b.begin + TaskId(i);
    if (graph.kind(x) != graph.kind(y) || graph.resource(x) != graph.resource(y) ||
        graph.duration_s(x) != graph.duration_s(y))
      return false;
    const std::span<const TaskId> dx = graph.deps(x), dy = graph.deps(y);
    if (dx.size() != dy.size())
      return false;
    for (size_t k = 0; k < dx.size(); ++k)
      if (relative(dx[k], a) != relative(dy[k], b))
        return false;
    if (graph.kind(x) == TaskKind::flow && !same_flow(graph.flow(x), graph.flow(y)))
      return false;
  }
  return true;
}

uint64_t tasks_hash(const TaskGraph& graph, Segment s) {
  uint64_t h = mix(0, uint64_t(s.size()));
  for (TaskId t = s.begin; t < s.end; ++t) {
    h = mix(h, uint64_t(graph.kind(t)) << 32 | uint32_t(graph.resource(t)));
    h = mix(h, graph.duration_s(t));
    for (const TaskId d : graph.deps(t))
      h = mix(h, uint64_t(uint32_t(relative(d, s))));
    if (graph.kind(t) != TaskKind::flow)
      continue;
    const FlowView f = graph.flow(t);
    h = mix(mix(mix(mix(h, f.bytes), f.latency_s), f.weight), uint64_t(f.priority));
    h = mix(h, uses_hash(f.uses));
  }
  return h;
}

}  // namespace mozart::sim
