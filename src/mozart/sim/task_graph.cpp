#include "mozart/sim/task_graph.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::sim {

TaskId TaskGraph::add(Task task) {
  if (tasks_.size() >= size_t(std::numeric_limits<TaskId>::max()))
    throw std::length_error(fmt::format("task '{}': a task graph holds at most {} tasks", task.name,
                                        std::numeric_limits<TaskId>::max()));
  const TaskId id = TaskId(tasks_.size());
  if (!(task.duration_s >= 0)) {
    throw std::invalid_argument(fmt::format("task '{}': negative duration", task.name));
  }
  if (task.kind == TaskKind::compute &&
      (task.resource < 0 || task.resource >= int(resources_.size()))) {
    throw std::invalid_argument(fmt::format("task '{}': no resource {}", task.name, task.resource));
  }
  for (TaskId d : task.deps) {
    if (d < 0 || d >= id) {
      throw std::invalid_argument(fmt::format("task '{}': unknown dependency {}", task.name, d));
    }
  }
  tasks_.push_back(std::move(task));
  return id;
}

TaskId TaskGraph::add_compute(std::string name, int resource, double duration_s,
                              std::vector<TaskId> deps) {
  Task t;
  t.name = std::move(name);
  t.kind = TaskKind::compute;
  t.resource = resource;
  t.duration_s = duration_s;
  t.deps = std::move(deps);
  t.track = resource;
  return add(std::move(t));
}

TaskId TaskGraph::add_delay(std::string name, double duration_s, std::vector<TaskId> deps) {
  Task t;
  t.name = std::move(name);
  t.kind = TaskKind::delay;
  t.duration_s = duration_s;
  t.deps = std::move(deps);
  return add(std::move(t));
}

TaskId TaskGraph::add_flow(std::string name, net::FlowSpec flow, std::vector<TaskId> deps) {
  Task t;
  t.name = std::move(name);
  t.kind = TaskKind::flow;
  t.flow = std::move(flow);
  t.deps = std::move(deps);
  return add(std::move(t));
}

void TaskGraph::add_dependency(TaskId task, TaskId on) {
  const TaskId n = TaskId(tasks_.size());
  if (task < 0 || task >= n || on < 0 || on >= n) {
    throw std::invalid_argument(fmt::format("dependency {} -> {}: no such task", task, on));
  }
  tasks_[task].deps.push_back(on);
}

std::vector<TaskId> TaskGraph::add_collective(net::CollectivePlan plan,
                                              const std::vector<TaskId>& deps) {
  std::vector<TaskId> ids;
  ids.reserve(plan.flows.size());
  const size_t needed = tasks_.size() + plan.flows.size();
  if (tasks_.capacity() < needed)  // geometric growth: many small plans stay linear
    tasks_.reserve(std::max(needed, 2 * tasks_.capacity()));
  for (net::PlannedFlow& f : plan.flows) {
    std::vector<TaskId> after = deps;
    for (int i : f.after)
      after.push_back(ids.at(i));
    ids.push_back(add_flow(std::move(f.label), std::move(f.spec), std::move(after)));
  }
  return ids;
}

Dependents TaskGraph::dependents() const {
  const size_t n = tasks_.size();
  Dependents out;
  out.first.assign(n + 1, 0);
  for (const Task& task : tasks_) {
    for (TaskId d : task.deps)
      ++out.first[size_t(d) + 1];
  }
  for (size_t t = 0; t < n; ++t)
    out.first[t + 1] += out.first[t];
  out.waiting.resize(out.first[n]);
  std::vector<uint64_t> next(out.first.begin(), out.first.end() - 1);
  for (size_t t = 0; t < n; ++t) {
    for (TaskId d : tasks_[t].deps)
      out.waiting[next[size_t(d)]++] = TaskId(t);
  }
  return out;
}

std::vector<TaskId> TaskGraph::topological_order() const {
  return topological_order(dependents());
}

std::vector<TaskId> TaskGraph::topological_order(const Dependents& dependents) const {
  const size_t n = tasks_.size();
  std::vector<int> waiting(n, 0);
  for (size_t t = 0; t < n; ++t)
    waiting[t] = int(tasks_[t].deps.size());
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
        throw core::InputError(core::InputLocation{"task graph", tasks_[t].name, 0},
                               "a dependency cycle", "an acyclic task graph");
      }
    }
  }
  return order;
}

}  // namespace mozart::sim
