// A task graph: compute tasks on exclusive resources (a chiplet's engine runs one task at a
// time, in ready order), fixed delays, and network flows that share channels in the fluid
// model. A task starts when all its dependencies have finished.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mozart/net/collectives.hpp"
#include "mozart/net/fluid.hpp"

namespace mozart::sim {

using TaskId = int32_t;

enum class TaskKind { compute, delay, flow };

struct Task {
  std::string name;
  TaskKind kind = TaskKind::delay;
  int resource = -1;      // compute: which resource
  double duration_s = 0;  // compute and delay
  net::FlowSpec flow;     // flow
  std::vector<TaskId> deps;
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

class TaskGraph {
 public:
  // Names of the exclusive resources, in id order.
  explicit TaskGraph(std::vector<std::string> resources = {}) : resources_(std::move(resources)) {}

  TaskId add_compute(std::string name, int resource, double duration_s,
                     std::vector<TaskId> deps = {});
  TaskId add_delay(std::string name, double duration_s, std::vector<TaskId> deps = {});
  TaskId add_flow(std::string name, net::FlowSpec flow, std::vector<TaskId> deps = {});
  // Adds a collective's flows; each also waits for `deps`. Returns their task ids in plan order.
  // A plan passed by value is moved from: large plans need not be copied.
  std::vector<TaskId> add_collective(net::CollectivePlan plan,
                                     const std::vector<TaskId>& deps = {});

  // A dependency on any task, earlier or later: graphs built this way may have cycles, which
  // topological_order() reports.
  void add_dependency(TaskId task, TaskId on);

  const std::vector<Task>& tasks() const { return tasks_; }
  const std::vector<std::string>& resources() const { return resources_; }

  Dependents dependents() const;
  // Dependency order; an InputError naming a task on a cycle when there is one. Callers that
  // hold this graph's dependents already can pass them.
  std::vector<TaskId> topological_order() const;
  std::vector<TaskId> topological_order(const Dependents& dependents) const;

 private:
  TaskId add(Task task);

  std::vector<std::string> resources_;
  std::vector<Task> tasks_;
};

}  // namespace mozart::sim
