#include "mozart/sim/segments.hpp"

#include <algorithm>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "mozart/sim/engine.hpp"

namespace mozart::sim {
namespace {

std::vector<std::pair<TaskId, TaskId>> ranges(const std::vector<Segment>& segments) {
  std::vector<std::pair<TaskId, TaskId>> out;
  for (const Segment& s : segments)
    out.emplace_back(s.begin, s.end);
  return out;
}

using Ranges = std::vector<std::pair<TaskId, TaskId>>;

TEST(Segments, BarriersCutAPhasedGraph) {
  TaskGraph g({"r"});
  const TaskId start = g.add_delay("start", 0);
  std::vector<TaskId> phase;
  for (int i = 0; i < 3; ++i)
    phase.push_back(g.add_compute("a", 0, 1.0, {start}));
  const TaskId b1 = g.add_delay("b1", 0, phase);  // 4
  const TaskId x = g.add_delay("x", 1, {b1});
  const TaskId y = g.add_delay("y", 1, {x});
  const TaskId b2 = g.add_delay("b2", 0, {y});  // 7
  g.add_delay("z", 1, {b2});
  EXPECT_EQ(ranges(segments(g, g.dependents(), 1)),
            (Ranges{{0, 1}, {1, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}}));
  // Short segments join the next; a short tail joins the one before it.
  EXPECT_EQ(ranges(segments(g, g.dependents(), 3)), (Ranges{{0, 5}, {5, 9}}));
  EXPECT_EQ(ranges(segments(g, g.dependents(), 100)), (Ranges{{0, 9}}));
}

TEST(Segments, NoCutAfterATaskThatLeadsNowhereOrPastABackwardDependency) {
  TaskGraph g;
  const TaskId start = g.add_delay("start", 0);
  const TaskId a = g.add_delay("a", 1, {start});
  g.add_delay("side", 5, {start});  // nothing waits for it: it may outlast any later barrier
  const TaskId b = g.add_delay("b", 0, {a});
  g.add_delay("c", 1, {b});
  EXPECT_EQ(ranges(segments(g, g.dependents(), 1)), (Ranges{{0, 1}, {1, 5}}));

  TaskGraph back;
  const TaskId p = back.add_delay("p", 1);
  const TaskId q = back.add_delay("q", 1, {p});
  back.add_delay("r", 1, {q});
  EXPECT_EQ(segments(back, back.dependents(), 1).size(), 3u);
  back.add_dependency(p, q);  // a cycle, even: one segment, which the engine reports
  EXPECT_EQ(ranges(segments(back, back.dependents(), 1)), (Ranges{{0, 3}}));
}

TEST(Segments, SameTasksWhereverTheyStand) {
  TaskGraph g({"r"});
  TaskId last = g.add_delay("start", 0);
  std::vector<Segment> phases;
  for (int i = 0; i < 3; ++i) {
    const TaskId begin = last + 1;
    net::FlowSpec f;
    f.uses = {{0, 1}, {1, 1}};
    f.bytes = i == 2 ? 7 : 5;  // the third phase differs in one byte count
    const TaskId flow = g.add_flow("f", f, {last});
    const TaskId op = g.add_compute("op", 0, 1.5, {last});
    last = g.add_delay("barrier", 0, {flow, op});
    phases.push_back({begin, last + 1});
  }
  EXPECT_TRUE(same_tasks(g, phases[0], phases[1]));
  EXPECT_EQ(tasks_hash(g, phases[0]), tasks_hash(g, phases[1]));
  EXPECT_FALSE(same_tasks(g, phases[0], phases[2]));
  EXPECT_NE(tasks_hash(g, phases[0]), tasks_hash(g, phases[2]));
  EXPECT_FALSE(same_tasks(g, phases[0], {phases[0].begin, phases[0].end - 1}));
}

TEST(Segments, PartsShareNoDependencyResourceOrChannel) {
  TaskGraph g({"r0", "r1"});
  const TaskId start = g.add_delay("start", 0);
  auto flow = [&](std::vector<net::ChannelUse> uses, std::vector<TaskId> deps) {
    net::FlowSpec f;
    f.uses = std::move(uses);
    f.bytes = 1;
    return g.add_flow("f", f, deps);
  };
  const TaskId a = flow({{0, 1}, {1, 1}}, {start});  // 1
  const TaskId b = flow({{2, 1}}, {start});          // 2: alone
  flow({{1, 1}}, {start});                           // 3: shares channel 1 with a
  const TaskId c = g.add_compute("c", 0, 1, {b});    // 4: waits for b
  g.add_compute("d", 0, 1, {start});                 // 5: shares r0 with c
  g.add_compute("e", 1, 1, {start});                 // 6: alone
  flow({}, {a});                                     // 7: waits for a
  const TaskId end = g.add_delay("end", 0, {c, 3, 5, 6, 7});
  const Segment s{1, end + 1};
  EXPECT_EQ(independent_parts(g, s, end, 3, 1),
            (std::vector<std::vector<TaskId>>{{1, 3, 7}, {2, 4, 5}, {6}}));
  // Parts are joined until each holds 4 tasks (the last may hold fewer), in id order.
  EXPECT_EQ(independent_parts(g, s, end, 3, 4),
            (std::vector<std::vector<TaskId>>{{1, 2, 3, 4, 5, 7}, {6}}));
  // With the closing barrier in, all is one part.
  EXPECT_EQ(independent_parts(g, s, end + 1, 3, 1).size(), 1u);
}

// Phases of random flows (in three groups of channels, which make separate parts of a phase
// when they are large), compute tasks and chains inside a phase, joined by barriers; some
// phases repeat.
TaskGraph random_phases(std::mt19937& rng, bool side_flow, bool large) {
  TaskGraph g({"r0", "r1", "r2"});
  std::uniform_int_distribution<int> pick(0, 1 << 20);
  TaskId barrier = g.add_delay("start", 0);
  std::vector<std::vector<std::pair<int, int>>> shapes;
  for (int phase = 0; phase < (large ? 8 : 30); ++phase) {
    std::mt19937 local(phase % 7 == 6 ? 1234 : unsigned(pick(rng)));  // every 7th repeats
    auto draw = [&](int n) { return int(local() % unsigned(n)); };
    std::vector<TaskId> tasks;
    std::vector<std::vector<TaskId>> of_group(3);  // a group's tasks wait only for its own
    const int count = large ? 900 + draw(300) : 20 + draw(60);
    for (int i = 0; i < count; ++i) {
      const int group = draw(3);
      std::vector<TaskId>& own = of_group[size_t(group)];
      std::vector<TaskId> deps{barrier};
      if (!own.empty() && draw(large ? 30 : 3) == 0)
        deps.push_back(own[size_t(draw(int(own.size())))]);
      if (draw(large ? 40 : 4) == 0) {
        tasks.push_back(g.add_compute("c", group, 0.1 * (1 + draw(5)), deps));
      } else {
        net::FlowSpec f;
        for (int c = 0; c < 4; ++c)
          if (draw(2) == 0)
            f.uses.push_back({4 * group + c, 1});
        f.bytes = 1 + draw(9);
        f.latency_s = 0.01 * draw(3);
        tasks.push_back(g.add_flow("f", f, deps));
      }
      own.push_back(tasks.back());
    }
    if (side_flow && phase == 10) {
      net::FlowSpec f;
      f.uses = {{0, 1}, {5, 1}};
      f.bytes = 50;
      f.priority = net::Priority::low;
      g.add_flow("side", f, {barrier});
    }
    barrier = g.add_delay("barrier", 0.01 * draw(2), tasks);
  }
  return g;
}

bool near(double a, double b) {
  return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(a));
}

// Segments and parts run apart give the run of the whole graph (to roundings of absolute
// times), on any number of threads.
TEST(Segments, SplitRunsAgreeWithTheWholeGraph) {
  std::mt19937 rng(7);
  const std::vector<double> capacities{1, 2, 3, 1.5, 2, 1, 4, 2.5, 1, 1, 3, 2};
  for (int round = 0; round < 6; ++round) {
    const TaskGraph g = random_phases(rng, round % 3 == 2, round % 2 == 1);
    RunOptions whole;
    whole.split = false;
    const RunResult reference = run(g, capacities, whole);
    RunOptions split;
    std::size_t last_done = 0, total = 0;
    split.progress = [&](std::size_t done, std::size_t all) {
      EXPECT_GE(done, last_done);
      last_done = done;
      total = all;
    };
    const RunResult one = run(g, capacities, split);
    EXPECT_EQ(last_done, g.size());
    EXPECT_EQ(total, g.size());
    split.progress = nullptr;
    split.threads = 3;
    const RunResult three = run(g, capacities, split);
    ASSERT_EQ(one.tasks.size(), reference.tasks.size());
    EXPECT_TRUE(near(one.makespan_s, reference.makespan_s)) << round;
    for (std::size_t t = 0; t < g.size(); ++t) {
      EXPECT_TRUE(near(one.tasks[t].ready_s, reference.tasks[t].ready_s)) << round << " " << t;
      EXPECT_TRUE(near(one.tasks[t].start_s, reference.tasks[t].start_s)) << round << " " << t;
      EXPECT_TRUE(near(one.tasks[t].finish_s, reference.tasks[t].finish_s)) << round << " " << t;
      EXPECT_EQ(one.tasks[t].finish_s, three.tasks[t].finish_s);
    }
    for (std::size_t c = 0; c < capacities.size(); ++c) {
      EXPECT_TRUE(near(one.channels[c].bytes, reference.channels[c].bytes)) << c;
      EXPECT_TRUE(near(one.channels[c].busy_s, reference.channels[c].busy_s)) << c;
      EXPECT_TRUE(near(one.channels[c].peak_load, reference.channels[c].peak_load)) << c;
      EXPECT_EQ(one.channels[c].bytes, three.channels[c].bytes);
    }
    for (std::size_t r = 0; r < 3; ++r)
      EXPECT_TRUE(near(one.resource_busy_s[r], reference.resource_busy_s[r]));
    // Every task once, in order of start.
    ASSERT_EQ(one.started.size(), g.size());
    std::vector<bool> seen(g.size(), false);
    for (std::size_t i = 0; i < one.started.size(); ++i) {
      seen[size_t(one.started[i])] = true;
      if (i > 0) {
        EXPECT_LE(one.tasks[size_t(one.started[i - 1])].start_s,
                  one.tasks[size_t(one.started[i])].start_s);
      }
    }
    EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](bool s) { return s; }));
  }
}

// A phase that repeats runs once: its repeats take the same time, wherever they stand.
TEST(Segments, RepeatedPhasesTakeTheSameTime) {
  TaskGraph g({"r"});
  TaskId barrier = g.add_delay("start", 0);
  std::vector<std::pair<TaskId, TaskId>> phases;  // (first task, barrier)
  for (int i = 0; i < 4; ++i) {
    std::vector<TaskId> tasks;
    for (int k = 0; k < 70; ++k) {
      net::FlowSpec f;
      f.uses = {{k % 3, 1}, {(k + 1) % 3, 1}};
      f.bytes = 1 + k % 4;
      tasks.push_back(g.add_flow("f", f, {barrier}));
    }
    const TaskId first = tasks.front();
    barrier = g.add_delay("barrier", 0, tasks);
    phases.emplace_back(first, barrier);
  }
  const RunResult r = run(g, {1, 2, 3});
  const double phase = r.tasks[size_t(phases[0].second)].finish_s;
  EXPECT_GT(phase, 0);
  for (const auto& [first, end] : phases) {
    const double began = r.tasks[size_t(first)].start_s;
    EXPECT_NEAR(r.tasks[size_t(end)].finish_s - began, phase, 1e-12 * phase);
  }
  EXPECT_DOUBLE_EQ(r.makespan_s, 4 * phase);
  // Bytes carried add up over the repeats.
  double bytes = 0;
  for (const net::ChannelStats& c : r.channels)
    bytes += c.bytes;
  double sent = 0;
  for (int k = 0; k < 70; ++k)
    sent += 2 * (1 + k % 4);
  EXPECT_NEAR(bytes, 4 * sent, 1e-9 * bytes);
}

}  // namespace
}  // namespace mozart::sim
