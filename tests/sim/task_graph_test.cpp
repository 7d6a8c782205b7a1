#include "mozart/sim/task_graph.hpp"

#include <cstdint>
#include <limits>
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

}  // namespace
}  // namespace mozart::sim
