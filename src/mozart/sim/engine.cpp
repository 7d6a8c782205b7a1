#include "mozart/sim/engine.hpp"

#include <algorithm>
#include <queue>
#include <stdexcept>

#include <fmt/format.h>

namespace mozart::sim {
namespace {

struct Completion {
  double time;
  TaskId task;
  bool operator>(const Completion& o) const {
    return time != o.time ? time > o.time : task > o.task;
  }
};

struct Waiting {  // a compute task queued at its resource
  double ready;
  TaskId task;
  bool operator>(const Waiting& o) const {
    return ready != o.ready ? ready > o.ready : task > o.task;
  }
};

template <typename T>
using MinHeap = std::priority_queue<T, std::vector<T>, std::greater<>>;

class Runner {
 public:
  Runner(const TaskGraph& graph, std::vector<double> capacities, const RunOptions& options)
      : graph_(graph),
        options_(options),
        fluid_(std::move(capacities)),
        waiting_(graph.tasks().size(), 0),
        dependents_(options.dependents != nullptr ? Dependents{} : graph.dependents()),
        dependents_of_(options.dependents != nullptr ? *options.dependents : dependents_),
        queues_(graph.resources().size()),
        busy_(graph.resources().size(), false) {
    result_.tasks.resize(graph.tasks().size());
    result_.started.reserve(graph.tasks().size());
    result_.resource_busy_s.assign(graph.resources().size(), 0);
    fluid_.reserve(graph.flow_count(), graph.use_count());
    flow_task_.reserve(graph.flow_count());
    for (size_t t = 0; t < graph.size(); ++t)
      waiting_[t] = int(graph.dep_count(TaskId(t)));
    if (options_.timeline != nullptr)
      attach_timeline(*options_.timeline);
  }

  RunResult run() {
    for (size_t t = 0; t < graph_.tasks().size(); ++t) {
      if (waiting_[t] == 0)
        make_ready(TaskId(t), 0);
    }
    std::vector<TaskId> finished;
    std::vector<net::FlowId> flows_done;
    std::size_t done = 0;  // tasks finished
    while (true) {
      const double t_net = fluid_.next_event_time();
      const double t_task = completions_.empty() ? net::kNever : completions_.top().time;
      const double t = std::min(t_net, t_task);
      if (t == net::kNever)
        break;
      finished.clear();
      fluid_.advance_to(t, flows_done);
      for (net::FlowId f : flows_done)
        finished.push_back(flow_task_[f]);
      while (!completions_.empty() && completions_.top().time <= t) {
        finished.push_back(completions_.top().task);
        completions_.pop();
      }
      std::sort(finished.begin(), finished.end());
      for (TaskId id : finished)
        complete(id, t);
      result_.events += finished.size();
      done += finished.size();
      if (options_.progress)
        options_.progress(done, graph_.size());
    }
    // Tasks on a dependency cycle never become ready: ordering the graph names one (an
    // acyclic graph runs every task, so it need not be ordered first).
    if (std::any_of(result_.tasks.begin(), result_.tasks.end(),
                    [](const TaskTiming& t) { return t.finish_s < 0; }))
      graph_.topological_order(dependents_of_);
    for (size_t t = 0; t < result_.tasks.size(); ++t) {
      if (result_.tasks[t].finish_s < 0) {
        throw std::logic_error(fmt::format("task '{}' never ran", graph_.task(TaskId(t)).name));
      }
      result_.makespan_s = std::max(result_.makespan_s, result_.tasks[t].finish_s);
    }
    fluid_.settle();
    for (int c = 0; c < fluid_.channel_count(); ++c)
      result_.channels.push_back(fluid_.channel(c));
    result_.network_solves = fluid_.solves();
    result_.network_flows_resolved = fluid_.resolved_flows();
    record_tasks();
    return std::move(result_);
  }

 private:
  void attach_timeline(Timeline& timeline) {
    for (const std::string& name : graph_.resources()) {
      resource_track_.push_back(timeline.add_track(name, "compute"));
    }
    const std::vector<std::string>& names = options_.channel_names;
    for (int c = 0; c < fluid_.channel_count(); ++c) {
      channel_track_.push_back(timeline.add_track(
          c < int(names.size()) ? names[c] : fmt::format("channel {}", c), "channels"));
    }
    fluid_.on_load_change([this, &timeline](net::ChannelId c, double time, double load) {
      timeline.add_counter(channel_track_[c], time, load);
    });
  }

  void record_tasks() {
    Timeline* timeline = options_.timeline;
    if (timeline == nullptr)
      return;
    for (size_t t = 0; t < graph_.tasks().size(); ++t) {
      const Task task = graph_.task(TaskId(t));
      const TaskTiming& timing = result_.tasks[t];
      if (task.kind == TaskKind::compute) {
        timeline->add_slice(resource_track_[task.resource], std::string(task.name), timing.start_s,
                            timing.finish_s);
      } else if (task.kind == TaskKind::flow) {
        timeline->add_async(std::string(task.name), "flows", timing.start_s, timing.finish_s);
      }
    }
  }

  void make_ready(TaskId id, double t) {
    result_.tasks[id].ready_s = t;
    switch (graph_.kind(id)) {
      case TaskKind::compute: {
        const int resource = graph_.resource(id);
        queues_[resource].push(Waiting{t, id});
        try_start(resource, t);
        break;
      }
      case TaskKind::delay:
        result_.tasks[id].start_s = t;
        result_.started.push_back(id);
        completions_.push(Completion{t + graph_.duration_s(id), id});
        break;
      case TaskKind::flow: {
        result_.tasks[id].start_s = t;
        result_.started.push_back(id);
        const FlowView flow = graph_.flow(id);
        net::FlowId f =
            fluid_.start(flow.uses, flow.bytes, flow.latency_s, flow.weight, flow.priority);
        if (size_t(f) >= flow_task_.size())
          flow_task_.resize(f + 1);
        flow_task_[f] = id;
        break;
      }
    }
  }

  void try_start(int resource, double t) {
    if (busy_[resource] || queues_[resource].empty())
      return;
    TaskId id = queues_[resource].top().task;
    queues_[resource].pop();
    busy_[resource] = true;
    result_.tasks[id].start_s = t;
    result_.started.push_back(id);
    const double duration = options_.compute_free ? 0 : graph_.duration_s(id);
    result_.resource_busy_s[resource] += duration;
    completions_.push(Completion{t + duration, id});
  }

  void complete(TaskId id, double t) {
    result_.tasks[id].finish_s = t;
    for (TaskId next : dependents_of_.of(id)) {
      if (--waiting_[next] == 0)
        make_ready(next, t);
    }
    if (graph_.kind(id) == TaskKind::compute) {
      const int resource = graph_.resource(id);
      busy_[resource] = false;
      try_start(resource, t);
    }
  }

  const TaskGraph& graph_;
  const RunOptions& options_;
  net::FluidNetwork fluid_;
  std::vector<int> waiting_;
  Dependents dependents_;  // computed here unless the caller passed them
  const Dependents& dependents_of_;
  std::vector<MinHeap<Waiting>> queues_;
  std::vector<bool> busy_;
  MinHeap<Completion> completions_;
  std::vector<TaskId> flow_task_;
  std::vector<int> resource_track_;
  std::vector<int> channel_track_;
  RunResult result_;
};

}  // namespace

RunResult run(const TaskGraph& graph, std::vector<double> channel_capacities,
              const RunOptions& options) {
  if (options.dependents != nullptr &&
      (options.dependents->first.size() != graph.tasks().size() + 1 ||
       options.dependents->first.back() != options.dependents->waiting.size()))
    throw std::invalid_argument("run options: dependents of another graph");
  return Runner(graph, std::move(channel_capacities), options).run();
}

}  // namespace mozart::sim
