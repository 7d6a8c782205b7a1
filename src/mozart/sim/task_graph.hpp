// A task graph: compute tasks on exclusive resources (a chiplet's engine runs one task at a
// time, in ready order), fixed delays, and network flows that share channels in the fluid
// model. A task starts when all its dependencies have finished.
//
// A step's graph holds millions of tasks, so the graph keeps them flat: one record per task,
// and every name, dependency list and flow route in one shared array each, rather than three
// allocations per task. Tasks are read through views (Task) that the graph makes on access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mozart/net/collectives.hpp"
#include "mozart/net/fluid.hpp"
#include "mozart/sim/flat_array.hpp"

namespace mozart::sim {

using TaskId = int32_t;

enum class TaskKind { compute, delay, flow };

// A flow task's transfer (as net::FlowSpec, its channels held by the graph).
struct FlowView {
  std::span<const net::ChannelUse> uses;  // empty: only the latency applies
  double bytes = 0;
  double latency_s = 0;
  double weight = 1;
  net::Priority priority = net::Priority::normal;
};

// One task, as the graph holds it; valid until the graph changes.
struct Task {
  std::string_view name;
  TaskKind kind = TaskKind::delay;
  int resource = -1;      // compute: which resource
  double duration_s = 0;  // compute and delay
  FlowView flow;          // flow
  std::span<const TaskId> deps;
  int track = -1;  // timeline track; compute tasks default to their resource's
};

// Who waits for each task, in compressed rows (one flat array rather than a list per task).
// Offsets are 64-bit: a graph may hold more than 2^32 dependency edges.
struct Dependents {
  std::vector<uint64_t> first;  // one more than the tasks
  std::vector<TaskId> waiting;
  std::span<const TaskId> of(TaskId t) const {
    return {waiting.data() + first[size_t(t)], first[size_t(t) + 1] - first[size_t(t)]};
  }
};

class TaskGraph;

// The tasks of a graph, by id: tasks()[t], tasks().size(), and range-for.
class TaskList {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Task;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = Task;
    iterator(const TaskGraph* graph, size_t at) : graph_(graph), at_(at) {}
    Task operator*() const;
    iterator& operator++() {
      ++at_;
      return *this;
    }
    bool operator==(const iterator& o) const { return at_ == o.at_; }

   private:
    const TaskGraph* graph_;
    size_t at_;
  };

  explicit TaskList(const TaskGraph& graph) : graph_(&graph) {}
  size_t size() const;
  bool empty() const { return size() == 0; }
  Task operator[](size_t t) const;
  iterator begin() const { return {graph_, 0}; }
  iterator end() const { return {graph_, size()}; }

 private:
  const TaskGraph* graph_;
};

class TaskGraph {
 public:
  using Deps = std::span<const TaskId>;

  // Names of the exclusive resources, in id order.
  explicit TaskGraph(std::vector<std::string> resources = {}) : resources_(std::move(resources)) {}

  TaskId add_compute(std::string_view name, int resource, double duration_s, Deps deps = {});
  TaskId add_compute(std::string_view name, int resource, double duration_s,
                     std::initializer_list<TaskId> deps) {
    return add_compute(name, resource, duration_s, Deps(deps.begin(), deps.size()));
  }
  TaskId add_delay(std::string_view name, double duration_s, Deps deps = {});
  TaskId add_delay(std::string_view name, double duration_s, std::initializer_list<TaskId> deps) {
    return add_delay(name, duration_s, Deps(deps.begin(), deps.size()));
  }
  TaskId add_flow(std::string_view name, const net::FlowSpec& flow, Deps deps = {});
  TaskId add_flow(std::string_view name, const net::FlowSpec& flow,
                  std::initializer_list<TaskId> deps) {
    return add_flow(name, flow, Deps(deps.begin(), deps.size()));
  }
  // Adds a flow task with the name, transfer and route of flow task `like`, waiting for `deps`.
  // The two share the stored name and route: a collective run again (as backward runs the
  // forward's exchanges) costs one record per flow, not another copy of each.
  TaskId add_flow_like(TaskId like, Deps deps);
  // Adds a collective's flows; each also waits for `deps`. Returns their task ids in plan order.
  std::vector<TaskId> add_collective(const net::CollectivePlan& plan,
                                     const std::vector<TaskId>& deps = {});

  // A dependency on any task, earlier or later: graphs built this way may have cycles, which
  // topological_order() reports.
  void add_dependency(TaskId task, TaskId on);

  TaskList tasks() const { return TaskList(*this); }
  size_t size() const { return records_.size(); }
  Task task(TaskId t) const;
  // What the engine reads of a task, without making its view.
  TaskKind kind(TaskId t) const { return records_[size_t(t)].kind; }
  int resource(TaskId t) const {
    const Record& r = records_[size_t(t)];
    return r.kind == TaskKind::compute ? r.slot : -1;
  }
  double duration_s(TaskId t) const { return records_[size_t(t)].duration_s; }
  size_t dep_count(TaskId t) const { return records_[size_t(t)].deps_count; }
  std::span<const TaskId> deps(TaskId t) const {
    const Record& r = records_[size_t(t)];
    return {deps_.data() + r.deps_at, r.deps_count};
  }
  FlowView flow(TaskId t) const;
  // Flow tasks and their channel uses in all.
  size_t flow_count() const { return flows_.size(); }
  size_t use_count() const { return use_count_; }
  const std::vector<std::string>& resources() const { return resources_; }

  Dependents dependents() const;
  // Dependency order; an InputError naming a task on a cycle when there is one. Callers that
  // hold this graph's dependents already can pass them.
  std::vector<TaskId> topological_order() const;
  std::vector<TaskId> topological_order(const Dependents& dependents) const;

 private:
  struct Record {
    double duration_s = 0;
    uint64_t name_at = 0;
    uint64_t deps_at = 0;
    uint32_t name_size = 0;
    uint32_t deps_count = 0;
    // Compute tasks: their resource (and timeline track); flow tasks: their index in flows_.
    int32_t slot = -1;
    TaskKind kind = TaskKind::delay;
  };
  struct FlowRecord {
    uint64_t uses_at = 0;
    uint32_t uses_count = 0;
    net::Priority priority = net::Priority::normal;
    double bytes = 0;
    double latency_s = 0;
    double weight = 1;
  };

  TaskId add(Record record, std::string_view name, Deps deps);
  // Throws for a task the graph cannot take.
  void check(const Record& record, std::string_view name, Deps deps) const;
  std::string_view name_of(const Record& record) const {
    return {names_.data() + record.name_at, record.name_size};
  }
  // Adds a checked record whose name is stored.
  TaskId push(Record record, Deps deps);
  // Where `uses` sit in uses_: flows of one route (a chiplet's memory transfers, the flows
  // between two nodes) share one copy, found through a small table of recent routes.
  uint64_t stored_uses(std::span<const net::ChannelUse> uses);

  std::vector<std::string> resources_;
  FlatArray<Record> records_;
  FlatArray<FlowRecord> flows_;
  FlatArray<char> names_;
  FlatArray<TaskId> deps_;
  FlatArray<net::ChannelUse> uses_;
  size_t use_count_ = 0;  // channel uses of all flows, shared or not
  struct RouteSlot {
    uint64_t at = 0;
    uint32_t count = 0;
  };
  std::vector<RouteSlot> routes_;  // by hash of the route
};

inline size_t TaskList::size() const {
  return graph_->size();
}
inline Task TaskList::operator[](size_t t) const {
  return graph_->task(TaskId(t));
}
inline Task TaskList::iterator::operator*() const {
  return graph_->task(TaskId(at_));
}

}  // namespace mozart::sim
