// Barrier segments: where a task graph runs as a sequence of independent parts.
//
// A task b cuts a graph when every task before it leads to it and every task after it waits
// for it (directly or through others). Everything before b has then finished when b does, and
// nothing after b starts before: the parts between cuts run one after another, each on an
// idle network and idle resources. Each part can therefore be simulated on its own from time
// 0 and shifted to where the previous cut finished; parts that hold the same tasks (the same
// collective, layer after layer) need simulating once. Workloads built phase by phase, the
// phases joined by barrier tasks, are such sequences: a serving iteration has hundreds.
#pragma once

#include <cstdint>
#include <vector>

#include "mozart/sim/task_graph.hpp"

namespace mozart::sim {

// Tasks [begin, end): every one but the first segment's waits for the task begin - 1 (the
// previous cut) or for tasks of its own segment, and the last task of every segment but the
// last is a cut.
struct Segment {
  TaskId begin = 0;
  TaskId end = 0;
  size_t size() const { return size_t(end - begin); }
};

// Whether every task waits only for tasks of smaller ids, as tasks added with their
// dependencies do (add_dependency may add others).
bool in_id_order(const TaskGraph& graph);

// The graph's segments, in order, each of at least `min_tasks` tasks where cuts allow (a
// segment's setup costs more than a few tasks' simulation). One segment for a graph with a
// dependency on a later task (add_dependency) or without cuts.
std::vector<Segment> segments(const TaskGraph& graph, const Dependents& dependents,
                              size_t min_tasks);

// The tasks of segment `s` before `limit` (the whole segment, or all but its closing barrier),
// in parts that wait for no task of another part and share no compute resource or channel
// with one (channels: ids below `channels`). Max-min allocations of disjoint parts of a network
// are independent, so each part runs on its own as it would among the others (a phase's
// all-to-alls, one per wafer). Parts come in order of their first task, each part's tasks in
// id order; consecutive parts are joined until each holds at least `min_tasks` tasks (the last
// may hold fewer).
std::vector<std::vector<TaskId>> independent_parts(const TaskGraph& graph, Segment s, TaskId limit,
                                                   size_t channels, size_t min_tasks);

// Whether two segments hold the same tasks, task for task: kinds, resources, durations,
// transfers and routes, and dependencies relative to their segment (a dependency on the
// previous cut counts as one on the segment's start). Names do not count. Such segments
// run the same way, whatever their place in the graph.
bool same_tasks(const TaskGraph& graph, Segment a, Segment b);
// A hash of what same_tasks compares.
uint64_t tasks_hash(const TaskGraph& graph, Segment s);

}  // namespace mozart::sim
