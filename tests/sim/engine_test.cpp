#include "mozart/sim/engine.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "mozart/core/error.hpp"

namespace mozart::sim {
namespace {

TEST(Engine, ChainsAddUpAndResourcesSerialise) {
  TaskGraph g({"a", "b"});
  TaskId x = g.add_compute("x", 0, 1.0);
  TaskId y = g.add_compute("y", 0, 2.0);  // same resource, ready at 0: waits for x
  TaskId z = g.add_compute("z", 1, 0.5);  // other resource: runs at once
  TaskId w = g.add_compute("w", 1, 1.0, {x, y});
  RunResult r = run(g, {});
  EXPECT_DOUBLE_EQ(r.tasks[x].finish_s, 1.0);
  EXPECT_DOUBLE_EQ(r.tasks[y].start_s, 1.0);
  EXPECT_DOUBLE_EQ(r.tasks[z].finish_s, 0.5);
  EXPECT_DOUBLE_EQ(r.tasks[w].start_s, 3.0);
  EXPECT_DOUBLE_EQ(r.makespan_s, 4.0);
  EXPECT_DOUBLE_EQ(r.resource_busy_s[0], 3.0);
}

TEST(Engine, ResourcesServeInReadyOrder) {
  TaskGraph g({"r"});
  TaskId slow = g.add_delay("slow", 2.0);
  TaskId late = g.add_compute("late", 0, 1.0, {slow});  // ready at 2
  TaskId blocker = g.add_compute("blocker", 0, 3.0);    // ready at 0, runs 0..3
  TaskId early = g.add_compute("early", 0, 1.0);        // ready at 0, runs 3..4
  RunResult r = run(g, {});
  EXPECT_DOUBLE_EQ(r.tasks[blocker].start_s, 0);
  EXPECT_DOUBLE_EQ(r.tasks[early].start_s, 3);
  EXPECT_DOUBLE_EQ(r.tasks[late].start_s, 4);
}

TEST(Engine, FlowsAndComputeInterleave) {
  TaskGraph g({"r"});
  net::FlowSpec f;
  f.uses = {{0, 1}};
  f.bytes = 10;
  TaskId send = g.add_flow("send", f);
  TaskId other = g.add_flow("other", f);
  TaskId work = g.add_compute("work", 0, 1.0, {send});
  RunResult r = run(g, {5.0});
  EXPECT_DOUBLE_EQ(r.tasks[send].finish_s, 4.0);  // two flows share 5 B/s
  EXPECT_DOUBLE_EQ(r.tasks[other].finish_s, 4.0);
  EXPECT_DOUBLE_EQ(r.tasks[work].finish_s, 5.0);
  EXPECT_DOUBLE_EQ(r.channels[0].bytes, 20);
  EXPECT_DOUBLE_EQ(r.channels[0].busy_s, 4.0);
}

TEST(Engine, LowPriorityFlowsLeaveNormalFlowsTheirTimes) {
  // A normal flow and a low one on the same channel: the normal one runs as if alone; the low
  // one takes the channel after it, and all bytes pass.
  auto graph = [](bool with_low) {
    TaskGraph g;
    net::FlowSpec f;
    f.uses = {{0, 1}};
    f.bytes = 4;
    g.add_flow("normal", f);
    if (with_low) {
      f.priority = net::Priority::low;
      f.bytes = 2;
      g.add_flow("low", f);
    }
    return g;
  };
  const RunResult alone = run(graph(false), {2.0});
  const TaskGraph g = graph(true);
  EXPECT_EQ(g.flow(1).priority, net::Priority::low);
  const RunResult shared = run(g, {2.0});
  EXPECT_EQ(shared.tasks[0].finish_s, alone.tasks[0].finish_s);
  EXPECT_DOUBLE_EQ(shared.tasks[1].finish_s, 3.0);
  EXPECT_DOUBLE_EQ(shared.channels[0].bytes, 6.0);
}

TEST(Engine, CyclesAreReported) {
  TaskGraph g;
  TaskId a = g.add_delay("a", 1);
  TaskId b = g.add_delay("b", 1, {a});
  g.add_dependency(a, b);
  EXPECT_THROW(run(g, {}), core::InputError);
  EXPECT_THROW(g.add_dependency(a, 7), std::invalid_argument);
}

TEST(Engine, CyclesBehindRunnableTasksAreReported) {
  TaskGraph g({"engine0"});
  const TaskId first = g.add_compute("first", 0, 1);
  const TaskId a = g.add_delay("a", 1, {first});
  const TaskId b = g.add_delay("b", 1, {a});
  g.add_dependency(a, b);
  EXPECT_THROW(run(g, {}), core::InputError);
}

TEST(Engine, DependentsPassedByTheCallerGiveTheSameRun) {
  TaskGraph g({"engine0", "engine1"});
  std::vector<TaskId> prev;
  for (int i = 0; i < 40; ++i) {
    net::FlowSpec f;
    f.uses = {{i % 3, 1}};
    f.bytes = 1 + i % 5;
    const TaskId flow = g.add_flow("f", f, prev);
    prev = {g.add_compute("c", i % 2, 0.5 + i % 3, {flow})};
    if (i % 4 == 0)
      prev.push_back(flow);
  }
  const RunResult own = run(g, {1, 2, 3});
  const Dependents dependents = g.dependents();
  RunOptions options;
  options.dependents = &dependents;
  const RunResult shared = run(g, {1, 2, 3}, options);
  EXPECT_EQ(own.makespan_s, shared.makespan_s);
  ASSERT_EQ(own.tasks.size(), shared.tasks.size());
  for (std::size_t t = 0; t < own.tasks.size(); ++t)
    EXPECT_EQ(own.tasks[t].start_s, shared.tasks[t].start_s) << t;
  TaskGraph other;
  other.add_delay("x", 1);
  EXPECT_THROW(run(other, {}, options), std::invalid_argument);
}

TEST(Engine, DeterministicTimelineThatParses) {
  auto build = [] {
    TaskGraph g({"engine0", "engine1"});
    std::vector<TaskId> prev;
    for (int i = 0; i < 50; ++i) {
      net::FlowSpec f;
      f.uses = {{i % 3, 1}, {(i + 1) % 3, 1}};
      f.bytes = 1 + i % 7;
      TaskId flow = g.add_flow("flow", f, prev);
      prev = {g.add_compute("op", i % 2, 0.1 * (i % 5), {flow})};
    }
    return g;
  };
  std::string first, second;
  for (std::string* out : {&first, &second}) {
    TaskGraph g = build();
    Timeline timeline;
    RunOptions options;
    options.timeline = &timeline;
    options.channel_names = {"l0", "l1", "l2"};
    run(g, {1, 2, 3}, options);
    *out = timeline.to_chrome_json();
  }
  EXPECT_EQ(first, second);
  auto json = nlohmann::json::parse(first);
  EXPECT_GT(json["traceEvents"].size(), 100u);
}

// Free compute (as the re-simulation of what a step loses to compute runs it) is the same run
// as a copy of the graph whose compute tasks take no time.
TEST(Engine, FreeComputeRunsAsZeroDurations) {
  TaskGraph g({"r0", "r1"}), zero({"r0", "r1"});
  for (TaskGraph* graph : {&g, &zero}) {
    const double scale = graph == &g ? 1 : 0;
    const TaskId a = graph->add_compute("a", 0, 2 * scale);
    const TaskId b = graph->add_compute("b", 0, 1 * scale);
    net::FlowSpec flow;
    flow.uses = {{0, 1}};
    flow.bytes = 3;
    const TaskId f = graph->add_flow("f", flow, {a});
    graph->add_compute("c", 1, 4 * scale, {f, b});
    graph->add_delay("d", 0.5, {b});
  }
  RunOptions options;
  options.compute_free = true;
  const RunResult free = run(g, {1.0}, options);
  const RunResult copy = run(zero, {1.0});
  EXPECT_EQ(free.makespan_s, copy.makespan_s);
  EXPECT_EQ(free.makespan_s, 3);  // the flow alone
  ASSERT_EQ(free.tasks.size(), copy.tasks.size());
  for (size_t t = 0; t < free.tasks.size(); ++t) {
    EXPECT_EQ(free.tasks[t].start_s, copy.tasks[t].start_s);
    EXPECT_EQ(free.tasks[t].finish_s, copy.tasks[t].finish_s);
  }
  EXPECT_GT(run(g, {1.0}).makespan_s, free.makespan_s);
}

}  // namespace
}  // namespace mozart::sim
