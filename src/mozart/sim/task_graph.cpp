#include "mozart/sim/task_graph.hpp"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::sim {
namespace {

// Whether `p` points into `array` (whose storage moves when it grows).
template <typename Array, typename T>
bool inside(const Array& array, const T* p) {
  return !array.empty() && std::less_equal<>()(array.data(), p) &&
         std::less<>()(p, array.data() + array.size());
}

}  // namespace

void TaskGraph::check(const Record& record, std::string_view name, Deps deps) const {
  if (records_.size() >= size_t(std::numeric_limits<TaskId>::max()))
    throw std::length_error(fmt::format("task '{}': a task graph holds at most {} tasks", name,
                                        std::numeric_limits<TaskId>::max()));
  const TaskId id = TaskId(records_.size());
  if (!(record.duration_s >= 0)) {
    throw std::invalid_argument(fmt::format("task '{}': negative duration", name));
  }
  if (record.kind == TaskKind::compute &&
      (record.slot < 0 || record.slot >= int(resources_.size()))) {
    throw std::invalid_argument(fmt::format("task '{}': no resource {}", name, record.slot));
  }
  for (TaskId d : deps) {
    if (d < 0 || d >= id) {
      throw std::invalid_argument(fmt::format("task '{}': unknown dependency {}", name, d));
    }
  }
  if (name.size() > std::numeric_limits<uint32_t>::max() ||
      deps.size() > std::numeric_limits<uint32_t>::max())
    throw std::length_error(fmt::format("task '{}': name or dependencies too long", name));
}

TaskId TaskGraph::add(Record record, std::string_view name, Deps deps) {
  check(record, name, deps);
  // A name read from this graph would move as the array grows: copy it first.
  if (inside(names_, name.data())) {
    const std::string own_name(name);
    return add(record, own_name, deps);
  }
  record.name_at = names_.size();
  record.name_size = uint32_t(name.size());
  names_.append(name.data(), name.size());
  return push(record, deps);
}

TaskId TaskGraph::push(Record record, Deps deps) {
  // Dependencies read from this graph would move as the array grows: copy them first.
  if (inside(deps_, deps.data())) {
    const std::vector<TaskId> own_deps(deps.begin(), deps.end());
    return push(record, own_deps);
  }
  const TaskId id = TaskId(records_.size());
  record.deps_at = deps_.size();
  record.deps_count = uint32_t(deps.size());
  deps_.append(deps.data(), deps.size());
  records_.push_back(record);
  return id;
}

TaskId TaskGraph::add_compute(std::string_view name, int resource, double duration_s, Deps deps) {
  Record r;
  r.kind = TaskKind::compute;
  r.slot = resource;
  r.duration_s = duration_s;
  return add(r, name, deps);
}

TaskId TaskGraph::add_delay(std::string_view name, double duration_s, Deps deps) {
  Record r;
  r.kind = TaskKind::delay;
  r.duration_s = duration_s;
  return add(r, name, deps);
}

TaskId TaskGraph::add_flow(std::string_view name, const net::FlowSpec& flow, Deps deps) {
  if (flows_.size() >= size_t(std::numeric_limits<int32_t>::max()) ||
      flow.uses.size() > std::numeric_limits<uint32_t>::max())
    throw std::length_error(fmt::format("task '{}': too many flows or channel uses", name));
  Record r;
  r.kind = TaskKind::flow;
  r.slot = int32_t(flows_.size());
  const TaskId id = add(r, name, deps);
  FlowRecord& f = flows_.emplace_back();
  f.uses_at = stored_uses(flow.uses);
  f.uses_count = uint32_t(flow.uses.size());
  f.bytes = flow.bytes;
  f.latency_s = flow.latency_s;
  f.weight = flow.weight;
  f.priority = flow.priority;
  use_count_ += flow.uses.size();
  return id;
}

TaskId TaskGraph::add_flow_like(TaskId like, Deps deps) {
  if (like < 0 || size_t(like) >= records_.size() || records_[size_t(like)].kind != TaskKind::flow)
    throw std::invalid_argument(fmt::format("flow like task {}: no such flow task", like));
  if (flows_.size() >= size_t(std::numeric_limits<int32_t>::max()))
    throw std::length_error(fmt::format("task {}: too many flows", like));
  Record r = records_[size_t(like)];
  check(r, name_of(r), deps);
  const FlowRecord f = flows_[size_t(r.slot)];
  r.slot = int32_t(flows_.size());
  const TaskId id = push(r, deps);
  flows_.push_back(f);
  use_count_ += f.uses_count;
  return id;
}

uint64_t TaskGraph::stored_uses(std::span<const net::ChannelUse> uses) {
  constexpr size_t kSlots = 4096;
  if (routes_.empty())
    routes_.resize(kSlots);
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ uses.size();
  for (const net::ChannelUse& u : uses) {
    uint64_t bits = 0;
    std::memcpy(&bits, &u.coefficient, sizeof bits);
    h = (h ^ uint64_t(uint32_t(u.channel))) * 0xff51afd7ed558ccdULL;
    h = (h ^ bits) * 0xc4ceb9fe1a85ec53ULL;
  }
  // Products carry bits upward only: fold the high ones (a coefficient's exponent) down.
  h = (h ^ (h >> 33)) * 0xff51afd7ed558ccdULL;
  h = (h ^ (h >> 33)) * 0xc4ceb9fe1a85ec53ULL;
  RouteSlot& slot = routes_[(h ^ (h >> 33)) % kSlots];
  const auto same = [](const net::ChannelUse& a, const net::ChannelUse& b) {
    return a.channel == b.channel && a.coefficient == b.coefficient;
  };
  if (slot.count == uses.size() && slot.count > 0 &&
      std::equal(uses.begin(), uses.end(), uses_.begin() + std::ptrdiff_t(slot.at), same))
    return slot.at;
  const uint64_t at = uses_.size();
  uses_.append(uses.data(), uses.size());
  slot = {at, uint32_t(uses.size())};
  return at;
}

Task TaskGraph::task(TaskId t) const {
  const Record& r = records_[size_t(t)];
  Task out;
  out.name = name_of(r);
  out.kind = r.kind;
  out.resource = resource(t);
  out.duration_s = r.duration_s;
  if (r.kind == TaskKind::flow)
    out.flow = flow(t);
  out.deps = deps(t);
  out.track = out.resource;
  return out;
}

FlowView TaskGraph::flow(TaskId t) const {
  const FlowRecord& f = flows_[size_t(records_[size_t(t)].slot)];
  return {{uses_.data() + f.uses_at, f.uses_count}, f.bytes, f.latency_s, f.weight, f.priority};
}

void TaskGraph::add_dependency(TaskId task, TaskId on) {
  const TaskId n = TaskId(records_.size());
  if (task < 0 || task >= n || on < 0 || on >= n) {
    throw std::invalid_argument(fmt::format("dependency {} -> {}: no such task", task, on));
  }
  Record& r = records_[size_t(task)];
  if (r.deps_at + r.deps_count != deps_.size()) {  // not last in the array: move it there
    const uint64_t at = deps_.size();
    for (uint32_t k = 0; k < r.deps_count; ++k)
      deps_.push_back(deps_[r.deps_at + k]);
    r.deps_at = at;
  }
  deps_.push_back(on);
  ++r.deps_count;
}

std::vector<TaskId> TaskGraph::add_collective(const net::CollectivePlan& plan,
                                              const std::vector<TaskId>& deps) {
  std::vector<TaskId> ids;
  ids.reserve(plan.flows.size());
  std::vector<TaskId> after;
  for (const net::PlannedFlow& f : plan.flows) {
    after = deps;
    for (int i : f.after)
      after.push_back(ids.at(size_t(i)));
    ids.push_back(add_flow(f.label, f.spec, after));
  }
  return ids;
}

Dependents TaskGraph::dependents() const {
  const size_t n = records_.size();
  Dependents out;
  out.first.assign(n + 1, 0);
  for (const Record& r : records_) {
    for (uint32_t k = 0; k < r.deps_count; ++k)
      ++out.first[size_t(deps_[r.deps_at + k]) + 1];
  }
  for (size_t t = 0; t < n; ++t)
    out.first[t + 1] += out.first[t];
  out.waiting.resize(out.first[n]);
  std::vector<uint64_t> next(out.first.begin(), out.first.end() - 1);
  for (size_t t = 0; t < n; ++t) {
    const Record& r = records_[t];
    for (uint32_t k = 0; k < r.deps_count; ++k)
      out.waiting[next[size_t(deps_[r.deps_at + k])]++] = TaskId(t);
  }
  return out;
}

std::vector<TaskId> TaskGraph::topological_order() const {
  return topological_order(dependents());
}

std::vector<TaskId> TaskGraph::topological_order(const Dependents& dependents) const {
  const size_t n = records_.size();
  std::vector<int> waiting(n, 0);
  for (size_t t = 0; t < n; ++t)
    waiting[t] = int(records_[t].deps_count);
  std::vector<TaskId> order;
  order.reserve(n);
  for (size_t t = 0; t < n; ++t) {
    if (waiting[t] == 0)
      order.push_back(TaskId(t));
  }
  for (size_t i = 0; i < order.size(); ++i) {
    for (TaskId next : dependents.of(order[i])) {
      if (--waiting[size_t(next)] == 0)
        order.push_back(next);
    }
  }
  if (order.size() != n) {
    for (size_t t = 0; t < n; ++t) {
      if (waiting[t] > 0) {
        throw core::InputError(
            core::InputLocation{"task graph", std::string(task(TaskId(t)).name), 0},
            "a dependency cycle", "an acyclic task graph");
      }
    }
  }
  return order;
}

}  // namespace mozart::sim
