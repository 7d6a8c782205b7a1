// The discrete-event engine: runs a task graph over exclusive compute resources and the fluid
// network, and reports when each task ran.
//
// Determinism: events at equal times are handled in task-id order, a free resource takes the
// ready task that became ready first (then the lowest id), and the fluid network orders its
// own ties by flow id, so equal inputs give equal outputs.
//
// A graph that runs as a sequence of barrier segments (segments.hpp: each waits for the
// previous one's last task) is run segment by segment, each from time 0 on a network of its
// own, then shifted to where the previous one ended; segments with the same tasks run once,
// and distinct ones may run on several threads. The allocation inside a segment is the one
// the whole graph would see; only the roundings of absolute times differ.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "mozart/net/fluid.hpp"
#include "mozart/sim/task_graph.hpp"
#include "mozart/sim/timeline.hpp"

namespace mozart::sim {

struct TaskTiming {
  double ready_s = -1;
  double start_s = -1;
  double finish_s = -1;
};

struct RunOptions {
  Timeline* timeline = nullptr;            // optional recording
  std::vector<std::string> channel_names;  // timeline names of the channels (optional)
  // The graph's dependents (TaskGraph::dependents()), when the caller runs one graph, or
  // graphs of the same dependencies, several times; null: computed by the run.
  const Dependents* dependents = nullptr;
  // Compute tasks take no time (each still holds its resource for that instant, in ready
  // order): the step as it would be with free compute, without copying the graph.
  bool compute_free = false;
  // Called after each event with (tasks finished, tasks in all): a progress line's feed.
  std::function<void(std::size_t done, std::size_t total)> progress;
  // Threads that run the graph's segments (see segments.hpp) at once; 0: one per hardware
  // thread. The result does not depend on it.
  std::size_t threads = 1;
  // false: the whole graph in one run, without segments or parts (a reference for tests).
  bool split = true;
};

struct RunResult {
  double makespan_s = 0;
  std::vector<TaskTiming> tasks;
  // The tasks in the order they started, so by start time (ties in the engine's order): what
  // reads the run's intervals in time order need not sort them.
  std::vector<TaskId> started;
  std::vector<net::ChannelStats> channels;
  std::vector<double> resource_busy_s;
  uint64_t events = 0;  // task completions plus fluid events handled
  uint64_t network_solves = 0;
  uint64_t network_flows_resolved = 0;  // flows whose rate a solve recomputed, summed
  uint64_t network_flows_moved = 0;     // of those, the rates that moved (FluidNetwork)
};

RunResult run(const TaskGraph& graph, std::vector<double> channel_capacities,
              const RunOptions& options = {});

}  // namespace mozart::sim
