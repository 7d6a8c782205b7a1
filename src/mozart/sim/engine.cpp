#include "mozart/sim/engine.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "mozart/sim/segments.hpp"

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

// What a run of one segment gives, in the segment's own time (from 0) and by task ids less
// the segment's first.
struct SegmentRun {
  std::vector<TaskTiming> tasks;
  std::vector<TaskId> started;
  // Only the channels and resources the run used: a graph may have many short segments.
  std::vector<std::pair<net::ChannelId, net::ChannelStats>> channels;
  std::vector<std::pair<int, double>> resource_busy_s;
  struct Load {
    net::ChannelId channel;
    double time_s, bytes_per_s;
  };
  std::vector<Load> loads;  // every change of a channel's load, when a timeline is kept
  uint64_t events = 0;
  uint64_t solves = 0;
  uint64_t flows_resolved = 0;
  uint64_t flows_moved = 0;
};

// Runs a part of a segment: `tasks` (ascending ids), which wait for no task of the segment
// outside them and share no resource or channel with one. Tasks before `first` (the segment's
// first task) count as finished at time 0; dependents from `limit` on are not the part's.
class Runner {
 public:
  Runner(const TaskGraph& graph, std::span<const TaskId> tasks, TaskId first, TaskId limit,
         net::FluidNetwork& network, const Dependents& dependents, std::vector<uint32_t>& local_of,
         const RunOptions& options)
      : graph_(graph),
        tasks_(tasks),
        limit_(limit),
        options_(options),
        fluid_(network),
        waiting_(tasks.size(), 0),
        dependents_of_(dependents),
        local_of_(local_of),
        queues_(graph.resources().size()),
        busy_(graph.resources().size(), false) {
    result_.tasks.resize(tasks.size());
    result_.started.reserve(tasks.size());
    busy_s_.assign(graph.resources().size(), 0);
    fluid_.reset();
    if (tasks.size() == graph.size()) {
      fluid_.reserve(graph.flow_count(), graph.use_count());
      flow_task_.reserve(graph.flow_count());
    }
    for (size_t i = 0; i < tasks.size(); ++i) {
      local_of_[size_t(tasks[i])] = uint32_t(i);
      for (const TaskId d : graph.deps(tasks[i]))
        waiting_[i] += d >= first;
    }
    if (options_.timeline != nullptr)
      fluid_.on_load_change([this](net::ChannelId c, double time, double load) {
        result_.loads.push_back({c, time, load});
      });
    else
      fluid_.on_load_change({});
  }

  // `done_before`: tasks finished elsewhere, for the progress feed. Timings and `started` come
  // by position in `tasks`.
  SegmentRun run(size_t done_before) {
    for (const TaskId t : tasks_) {
      if (waiting_[local(t)] == 0)
        make_ready(t, 0);
    }
    std::vector<TaskId> finished;
    std::vector<net::FlowId> flows_done;
    std::size_t done = done_before;
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
    for (size_t i = 0; i < result_.tasks.size(); ++i) {
      if (result_.tasks[i].finish_s < 0) {
        throw std::logic_error(fmt::format("task '{}' never ran", graph_.task(tasks_[i]).name));
      }
    }
    fluid_.settle();
    for (int c = 0; c < fluid_.channel_count(); ++c) {
      const net::ChannelStats& used = fluid_.channel(c);
      if (used.bytes != 0 || used.busy_s != 0 || used.peak_load != 0 || used.load != 0)
        result_.channels.emplace_back(c, used);
    }
    for (size_t r = 0; r < busy_s_.size(); ++r)
      if (busy_s_[r] != 0)
        result_.resource_busy_s.emplace_back(int(r), busy_s_[r]);
    result_.solves = fluid_.solves();
    result_.flows_resolved = fluid_.resolved_flows();
    result_.flows_moved = fluid_.moved_flows();
    return std::move(result_);
  }

 private:
  size_t local(TaskId t) const { return local_of_[size_t(t)]; }

  void make_ready(TaskId id, double t) {
    result_.tasks[local(id)].ready_s = t;
    switch (graph_.kind(id)) {
      case TaskKind::compute: {
        const int resource = graph_.resource(id);
        queues_[resource].push(Waiting{t, id});
        try_start(resource, t);
        break;
      }
      case TaskKind::delay:
        result_.tasks[local(id)].start_s = t;
        result_.started.push_back(TaskId(local(id)));
        completions_.push(Completion{t + graph_.duration_s(id), id});
        break;
      case TaskKind::flow: {
        result_.tasks[local(id)].start_s = t;
        result_.started.push_back(TaskId(local(id)));
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
    result_.tasks[local(id)].start_s = t;
    result_.started.push_back(TaskId(local(id)));
    const double duration = options_.compute_free ? 0 : graph_.duration_s(id);
    busy_s_[resource] += duration;
    completions_.push(Completion{t + duration, id});
  }

  void complete(TaskId id, double t) {
    result_.tasks[local(id)].finish_s = t;
    for (TaskId next : dependents_of_.of(id)) {
      if (next < limit_ && --waiting_[local(next)] == 0)
        make_ready(next, t);
    }
    if (graph_.kind(id) == TaskKind::compute) {
      const int resource = graph_.resource(id);
      busy_[resource] = false;
      try_start(resource, t);
    }
  }

  const TaskGraph& graph_;
  const std::span<const TaskId> tasks_;
  const TaskId limit_;
  const RunOptions& options_;
  net::FluidNetwork& fluid_;  // the worker's, reset for each run
  std::vector<int> waiting_;
  const Dependents& dependents_of_;
  std::vector<uint32_t>& local_of_;
  std::vector<MinHeap<Waiting>> queues_;
  std::vector<bool> busy_;
  MinHeap<Completion> completions_;
  std::vector<TaskId> flow_task_;
  std::vector<double> busy_s_;  // by resource
  SegmentRun result_;
};

// Segments of fewer tasks join the next, and independent parts of a segment of fewer tasks
// join others: each run costs a network's setup.
constexpr size_t kMinSegmentTasks = 64;
constexpr size_t kMinPartTasks = 256;

// Runs a graph segment by segment (segments.hpp): finds its segments and which of them repeat,
// runs each distinct one (on the threads the options allow) and lays the runs end to end.
class SegmentedRun {
 public:
  SegmentedRun(const TaskGraph& graph, const std::vector<double>& capacities,
               const Dependents& dependents, const RunOptions& options)
      : graph_(graph),
        capacities_(capacities),
        dependents_(dependents),
        options_(options),
        split_(options.split && in_id_order(graph)),
        segments_(split_ || graph.size() == 0 ? segments(graph, dependents, kMinSegmentTasks)
                                              : std::vector<Segment>{{0, TaskId(graph.size())}}),
        local_of_(graph.size()) {
    find_repeats();
  }

  RunResult run() {
    run_distinct();
    return assemble();
  }

 private:
  // first_[k]: the first segment with segment k's tasks.
  void find_repeats() {
    std::unordered_map<uint64_t, std::vector<size_t>> by_hash;
    first_.resize(segments_.size());
    if (segments_.size() == 1) {  // nothing to compare with
      distinct_ = {0};
      return;
    }
    for (size_t k = 0; k < segments_.size(); ++k) {
      std::vector<size_t>& alike = by_hash[tasks_hash(graph_, segments_[k])];
      const auto same = std::find_if(alike.begin(), alike.end(), [&](size_t j) {
        return same_tasks(graph_, segments_[j], segments_[k]);
      });
      first_[k] = same != alike.end() ? *same : k;
      if (same == alike.end()) {
        alike.push_back(k);
        distinct_.push_back(k);
      }
    }
  }

  // Runs each distinct segment once, on the threads the options allow; the first failure in
  // segment order is rethrown once all have ended. Only this thread feeds the progress line.
  void run_distinct() {
    runs_.resize(segments_.size());
    std::vector<size_t> tasks_run(segments_.size(), 0);  // by distinct segment, repeats too
    for (size_t k = 0; k < segments_.size(); ++k)
      tasks_run[first_[k]] += segments_[k].size();
    std::vector<std::exception_ptr> errors(segments_.size());
    std::atomic<size_t> next{0}, done{0};
    // Each thread runs its segments on one network of its own, reset for each part.
    auto work = [&](net::FluidNetwork& network, bool feeds_progress) {
      RunOptions own = options_;
      if (!feeds_progress)
        own.progress = nullptr;
      for (size_t i = next++; i < distinct_.size(); i = next++) {
        const size_t k = distinct_[i];
        try {
          runs_[k] = run_segment(segments_[k], network, own, done);
        } catch (...) {
          errors[k] = std::current_exception();
        }
        done += tasks_run[k];
      }
    };
    net::FluidNetwork mine(capacities_);            // a bad capacity throws here, before any thread
    std::vector<std::exception_ptr> helper_failed;  // by thread
    {
      const size_t hardware = std::max(1u, std::thread::hardware_concurrency());
      const size_t threads =
          std::min(options_.threads > 0 ? options_.threads : hardware, distinct_.size());
      std::vector<std::jthread> helpers;
      helper_failed.resize(threads);
      for (size_t i = 1; i < threads; ++i)
        helpers.emplace_back([&, i] {
          try {
            net::FluidNetwork network(capacities_);
            work(network, false);
          } catch (...) {  // only its setup can throw (work keeps its errors)
            helper_failed[i] = std::current_exception();
          }
        });
      work(mine, true);
    }
    for (const std::exception_ptr& e : helper_failed)
      if (e)
        std::rethrow_exception(e);
    for (const std::exception_ptr& e : errors)
      if (e)
        std::rethrow_exception(e);
    if (options_.progress)  // closing barriers and repeats are not counted as they run
      options_.progress(graph_.size(), graph_.size());
  }

  // Runs a segment's independent parts one after another, each from time 0, and a closing
  // delay (a phase's barrier) after them.
  SegmentRun run_segment(Segment s, net::FluidNetwork& network, const RunOptions& options,
                         size_t done) const {
    const TaskId last = s.end - 1;
    const bool closing = split_ && s.size() > 1 && graph_.kind(last) == TaskKind::delay;
    const TaskId limit = closing ? last : s.end;
    const std::vector<std::vector<TaskId>> parts =
        split_ ? independent_parts(graph_, s, limit, capacities_.size(), kMinPartTasks)
               : std::vector<std::vector<TaskId>>{whole(s)};
    auto run_part = [&](const std::vector<TaskId>& part) {
      return Runner(graph_, part, s.begin, limit, network, dependents_, local_of_, options)
          .run(done);
    };
    if (parts.size() == 1 && !closing)
      return run_part(parts.front());  // its positions are the segment's
    SegmentRun out;
    out.tasks.resize(s.size());
    for (const std::vector<TaskId>& part : parts) {
      const SegmentRun r = run_part(part);
      done += part.size();
      for (size_t i = 0; i < part.size(); ++i)
        out.tasks[size_t(part[i] - s.begin)] = r.tasks[i];
      for (const TaskId i : r.started)
        out.started.push_back(part[size_t(i)] - s.begin);
      // The parts share no channel or resource: their lists join.
      out.channels.insert(out.channels.end(), r.channels.begin(), r.channels.end());
      out.resource_busy_s.insert(out.resource_busy_s.end(), r.resource_busy_s.begin(),
                                 r.resource_busy_s.end());
      out.loads.insert(out.loads.end(), r.loads.begin(), r.loads.end());
      out.events += r.events;
      out.solves += r.solves;
      out.flows_resolved += r.flows_resolved;
      out.flows_moved += r.flows_moved;
    }
    if (closing) {
      double ready = 0;
      for (const TaskId d : graph_.deps(last))
        if (d >= s.begin)
          ready = std::max(ready, out.tasks[size_t(d - s.begin)].finish_s);
      out.tasks.back() = {ready, ready, ready + graph_.duration_s(last)};
      out.started.push_back(last - s.begin);
      out.events += 1;
    }
    // The parts' starts and loads, merged in time order (ties by part).
    std::stable_sort(out.started.begin(), out.started.end(), [&](TaskId a, TaskId b) {
      return out.tasks[size_t(a)].start_s < out.tasks[size_t(b)].start_s;
    });
    std::stable_sort(
        out.loads.begin(), out.loads.end(),
        [](const SegmentRun::Load& a, const SegmentRun::Load& b) { return a.time_s < b.time_s; });
    return out;
  }

  static std::vector<TaskId> whole(Segment s) {
    std::vector<TaskId> all(s.size());
    std::iota(all.begin(), all.end(), s.begin);
    return all;
  }

  // The segments' runs one after another, each from where the previous one's cut finished.
  RunResult assemble() {
    RunResult out;
    out.tasks.resize(graph_.size());
    out.started.reserve(graph_.size());
    out.channels.assign(capacities_.size(), net::ChannelStats{});
    out.resource_busy_s.assign(graph_.resources().size(), 0);
    double origin = 0;
    for (size_t k = 0; k < segments_.size(); ++k) {
      const Segment s = segments_[k];
      const SegmentRun& r = runs_[first_[k]];
      for (size_t i = 0; i < s.size(); ++i) {
        const TaskTiming& t = r.tasks[i];
        out.tasks[size_t(s.begin) + i] = {origin + t.ready_s, origin + t.start_s,
                                          origin + t.finish_s};
      }
      for (const TaskId t : r.started)
        out.started.push_back(s.begin + t);
      for (const auto& [c, used] : r.channels) {  // the segments follow one another
        net::ChannelStats& sum = out.channels[size_t(c)];
        sum.bytes += used.bytes;
        sum.busy_s += used.busy_s;
        sum.load = used.load;
        sum.peak_load = std::max(sum.peak_load, used.peak_load);
      }
      for (const auto& [resource, busy] : r.resource_busy_s)
        out.resource_busy_s[size_t(resource)] += busy;
      out.events += r.events;
      out.network_solves += r.solves;
      out.network_flows_resolved += r.flows_resolved;
      out.network_flows_moved += r.flows_moved;
      if (options_.timeline != nullptr)
        for (const SegmentRun::Load& l : r.loads)
          loads_.push_back({l.channel, origin + l.time_s, l.bytes_per_s});
      origin = out.tasks[size_t(s.end) - 1].finish_s;
    }
    for (const TaskTiming& t : out.tasks)
      out.makespan_s = std::max(out.makespan_s, t.finish_s);
    record_timeline(out);
    return out;
  }

  void record_timeline(const RunResult& result) {
    Timeline* timeline = options_.timeline;
    if (timeline == nullptr)
      return;
    std::vector<int> resource_track, channel_track;
    for (const std::string& name : graph_.resources())
      resource_track.push_back(timeline->add_track(name, "compute"));
    const std::vector<std::string>& names = options_.channel_names;
    for (size_t c = 0; c < capacities_.size(); ++c)
      channel_track.push_back(timeline->add_track(
          c < names.size() ? names[c] : fmt::format("channel {}", c), "channels"));
    for (const SegmentRun::Load& l : loads_)
      timeline->add_counter(channel_track[size_t(l.channel)], l.time_s, l.bytes_per_s);
    for (size_t t = 0; t < graph_.size(); ++t) {
      const Task task = graph_.task(TaskId(t));
      const TaskTiming& timing = result.tasks[t];
      if (task.kind == TaskKind::compute) {
        timeline->add_slice(resource_track[size_t(task.resource)], std::string(task.name),
                            timing.start_s, timing.finish_s);
      } else if (task.kind == TaskKind::flow) {
        timeline->add_async(std::string(task.name), "flows", timing.start_s, timing.finish_s);
      }
    }
  }

  const TaskGraph& graph_;
  const std::vector<double>& capacities_;
  const Dependents& dependents_;
  const RunOptions& options_;
  // Whether to split into segments and parts: a graph with a dependency on a later task runs
  // whole (its tasks' ids tell nothing of their order).
  const bool split_;
  const std::vector<Segment> segments_;
  std::vector<size_t> first_;
  std::vector<size_t> distinct_;  // the segments run, in order
  std::vector<SegmentRun> runs_;  // by segment; only the distinct ones are run
  std::vector<SegmentRun::Load> loads_;
  // Each task's position in the part that runs it (parts are disjoint, so the threads write
  // apart).
  mutable std::vector<uint32_t> local_of_;
};

}  // namespace

RunResult run(const TaskGraph& graph, std::vector<double> channel_capacities,
              const RunOptions& options) {
  if (options.dependents != nullptr &&
      (options.dependents->first.size() != graph.tasks().size() + 1 ||
       options.dependents->first.back() != options.dependents->waiting.size()))
    throw std::invalid_argument("run options: dependents of another graph");
  const Dependents own = options.dependents != nullptr ? Dependents{} : graph.dependents();
  const Dependents& dependents = options.dependents != nullptr ? *options.dependents : own;
  return SegmentedRun(graph, channel_capacities, dependents, options).run();
}

}  // namespace mozart::sim
