#include "mozart/sim/task_graph.hpp"

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include <gtest/gtest.h>

namespace mozart::sim {
namespace {

TEST(TaskGraph, DependentsListEveryWaiterOnce) {
  TaskGraph g({"r"});
  const TaskId a = g.add_delay("a", 1);
  const TaskId b = g.add_delay("b", 1, {a});
  const TaskId c = g.add_compute("c", 0, 1, {a, b});
  const TaskId d = g.add_delay("d", 0, {a});
  const Dependents deps = g.dependents();
  ASSERT_EQ(deps.first.size(), 5u);
  EXPECT_EQ(deps.waiting.size(), 4u);  // the edges: b<-a, c<-a, c<-b, d<-a
  EXPECT_EQ(std::vector<TaskId>(deps.of(a).begin(), deps.of(a).end()),
            (std::vector<TaskId>{b, c, d}));
  EXPECT_EQ(std::vector<TaskId>(deps.of(b).begin(), deps.of(b).end()), std::vector<TaskId>{c});
  EXPECT_TRUE(deps.of(c).empty());
  EXPECT_TRUE(deps.of(d).empty());
}

// Offsets into the waiting list count edges, which exceed 2^32 in the largest steps (a 32-bit
// offset wrapped and read out of bounds).
TEST(TaskGraph, DependentsOffsetsHoldMoreThan2To32Edges) {
  using Offset = std::remove_cvref_t<decltype(Dependents{}.first)>::value_type;
  EXPECT_GT(std::uintmax_t(std::numeric_limits<Offset>::max()), std::uintmax_t(1) << 40);
}

// Tasks are stored flat; their views give back what was added, including a dependency added
// later to a task whose list is not the last one stored.
TEST(TaskGraph, ViewsGiveBackWhatWasAdded) {
  TaskGraph g({"r"});
  const TaskId a = g.add_delay("first", 1);
  net::FlowSpec spec;
  spec.uses = {{2, 1}, {5, 0.5}};
  spec.bytes = 100;
  spec.latency_s = 1e-6;
  const TaskId f = g.add_flow("a flow with a long name, beyond any short-string buffer", spec, {a});
  const TaskId c = g.add_compute("c", 0, 2, {a, f});
  g.add_dependency(f, c);  // f's list is not the last stored: it moves
  EXPECT_EQ(g.tasks()[size_t(a)].name, "first");
  const Task flow = g.tasks()[size_t(f)];
  EXPECT_EQ(flow.name, "a flow with a long name, beyond any short-string buffer");
  EXPECT_EQ(std::vector<TaskId>(flow.deps.begin(), flow.deps.end()), (std::vector<TaskId>{a, c}));
  ASSERT_EQ(flow.flow.uses.size(), 2u);
  EXPECT_EQ(flow.flow.uses[1].channel, 5);
  EXPECT_EQ(flow.flow.uses[1].coefficient, 0.5);
  EXPECT_EQ(flow.flow.bytes, 100);
  EXPECT_EQ(flow.flow.latency_s, 1e-6);
  const Task compute = g.tasks()[size_t(c)];
  EXPECT_EQ(compute.kind, TaskKind::compute);
  EXPECT_EQ(compute.duration_s, 2);
  EXPECT_EQ(std::vector<TaskId>(compute.deps.begin(), compute.deps.end()),
            (std::vector<TaskId>{a, f}));
  size_t seen = 0;
  for (const Task& t : g.tasks())
    seen += t.deps.size();
  EXPECT_EQ(seen, 4u);
}

// A name or dependencies read from the graph itself may be added again, though the arrays
// they live in grow.
TEST(TaskGraph, AddingFromItsOwnViewsIsSafe) {
  TaskGraph g;
  const TaskId a = g.add_delay("a name long enough to live on the heap", 0);
  const TaskId b = g.add_delay("b", 0, {a});
  for (int i = 0; i < 1000; ++i) {
    const Task t = g.tasks()[size_t(b)];
    g.add_delay(t.name, 0, t.deps);
  }
  const Task last = g.tasks()[g.size() - 1];
  EXPECT_EQ(last.name, "b");
  EXPECT_EQ(std::vector<TaskId>(last.deps.begin(), last.deps.end()), std::vector<TaskId>{a});
}

// Flows of one route share its stored copy; flows of others keep theirs; every flow's uses
// still count.
TEST(TaskGraph, FlowsOfOneRouteShareIt) {
  TaskGraph g;
  net::FlowSpec x, y;
  x.uses = {{0, 1}, {1, 1}, {2, 1}};
  y.uses = {{0, 1}, {1, 2}, {2, 1}};  // differs in a coefficient only
  const TaskId x1 = g.add_flow("x1", x);
  const TaskId y1 = g.add_flow("y1", y);
  const TaskId x2 = g.add_flow("x2", x);
  EXPECT_EQ(g.use_count(), 9u);
  EXPECT_EQ(g.tasks()[size_t(x1)].flow.uses.data(), g.tasks()[size_t(x2)].flow.uses.data());
  EXPECT_NE(g.tasks()[size_t(x1)].flow.uses.data(), g.tasks()[size_t(y1)].flow.uses.data());
  EXPECT_EQ(g.tasks()[size_t(y1)].flow.uses[1].coefficient, 2);
}

// A flow added like another has its name, transfer and route (sharing the stored copies), its
// own dependencies, and counts its uses; only a flow task can be copied.
TEST(TaskGraph, FlowAddedLikeAnotherTakesItsNameTransferAndRoute) {
  TaskGraph g({"r"});
  net::FlowSpec x;
  x.uses = {{3, 1}, {4, 0.5}};
  x.bytes = 1e6;
  x.latency_s = 2e-6;
  x.weight = 3;
  x.priority = net::Priority::low;
  const TaskId before = g.add_delay("before", 0);
  const TaskId a = g.add_flow("a flow whose name lives on the heap", x, {before});
  const TaskId c = g.add_compute("c", 0, 1, {a});
  const TaskId b = g.add_flow_like(a, std::vector<TaskId>{c, before});
  const Task ta = g.task(a), tb = g.task(b);
  EXPECT_EQ(tb.name, "a flow whose name lives on the heap");
  EXPECT_EQ(tb.kind, TaskKind::flow);
  EXPECT_EQ(tb.flow.uses.data(), ta.flow.uses.data());
  EXPECT_EQ(tb.flow.uses.size(), 2u);
  EXPECT_EQ(tb.flow.bytes, 1e6);
  EXPECT_EQ(tb.flow.latency_s, 2e-6);
  EXPECT_EQ(tb.flow.weight, 3);
  EXPECT_EQ(tb.flow.priority, net::Priority::low);
  EXPECT_EQ(std::vector<TaskId>(tb.deps.begin(), tb.deps.end()), (std::vector<TaskId>{c, before}));
  EXPECT_EQ(std::vector<TaskId>(ta.deps.begin(), ta.deps.end()), std::vector<TaskId>{before});
  EXPECT_EQ(g.flow_count(), 2u);
  EXPECT_EQ(g.use_count(), 4u);
  EXPECT_THROW(g.add_flow_like(c, {}), std::invalid_argument);
  EXPECT_THROW(g.add_flow_like(99, {}), std::invalid_argument);
  EXPECT_THROW(g.add_flow_like(a, std::vector<TaskId>{b + 1}),
               std::invalid_argument);  // not yet a task
  EXPECT_EQ(g.size(), 4u);
}

}  // namespace
}  // namespace mozart::sim
