// Cutting traces: slices keep every column, splits cut where asked, counts count.
#include "mozart/trace/edit.hpp"

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/generator.hpp"

namespace mozart::trace {
namespace {

Trace sample() {
  GeneratorParams p;
  p.sequence_length = 10;
  p.domains = {"a", "b"};
  return generate({{2, 4, 6}, 16, 2}, 95, p, 3, "m");  // 9 full sequences and one of 5
}

TEST(TraceEdit, SliceKeepsTheColumnsOfItsTokensAndLayers) {
  const Trace t = sample();
  const Trace s = slice(t, 20, 45, {6, 2}, "test");
  EXPECT_EQ(s.shape.layer_ids, (std::vector<int>{2, 6}));  // the trace's order
  ASSERT_EQ(s.tokens, 25u);
  for (std::size_t i = 0; i < s.tokens; ++i) {
    EXPECT_EQ(s.sequence[i], t.sequence[20 + i]);
    EXPECT_EQ(s.position[i], t.position[20 + i]);
    EXPECT_EQ(s.domain[i], t.domain[20 + i]);
    for (const auto& [from, to] : {std::pair{0, 0}, std::pair{2, 1}}) {
      const auto a = t.choices(from, 20 + i), b = s.choices(to, i);
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
      EXPECT_EQ(s.gates[s.offset(to, i)], t.gates[t.offset(from, 20 + i)]);
    }
  }
  validate(s, "slice");
  EXPECT_THROW(slice(t, 0, 96, {}, "test"), core::InputError);
  EXPECT_THROW(slice(t, 5, 5, {}, "test"), core::InputError);
  EXPECT_THROW(slice(t, 0, 5, {3}, "test"), core::InputError);
}

TEST(TraceEdit, SplitsCutWhereAsked) {
  const Trace t = sample();
  EXPECT_EQ(split_point(t, {.tokens = 7}, "t"), 7u);
  EXPECT_EQ(split_point(t, {.sequences = 3}, "t"), 30u);
  EXPECT_EQ(split_point(t, {.fraction = 0.5}, "t"), 50u);   // 47.5 → the boundary at 50
  EXPECT_EQ(split_point(t, {.fraction = 0.93}, "t"), 90u);  // never inside a sequence
  EXPECT_THROW(split_point(t, {.sequences = 10}, "t"), core::InputError);  // nothing after
  EXPECT_THROW(split_point(t, {.tokens = 95}, "t"), core::InputError);
  EXPECT_THROW(split_point(t, {.fraction = 1.0}, "t"), core::InputError);
  EXPECT_THROW(split_point(t, {.fraction = -0.2}, "t"), core::InputError);
  // A fraction of 0 is a fraction outside (0, 1), not a missing cut.
  try {
    split_point(t, {.fraction = 0.0}, "t");
    ADD_FAILURE() << "a fraction of 0 was taken";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("field 'fraction': got '0'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(split_point(t, {.tokens = 5, .sequences = 1}, "t"), core::InputError);
  // The two parts hold every token once.
  const std::size_t cut = split_point(t, {.fraction = 0.3}, "t");
  EXPECT_EQ(slice(t, 0, cut, {}, "t").tokens + slice(t, cut, t.tokens, {}, "t").tokens, t.tokens);
}

TEST(TraceEdit, SequencesAreCountedNotTheLargestIdPlusOne) {
  const Trace t = sample();
  EXPECT_EQ(count_sequences(t), 10u);
  EXPECT_EQ(count_sequences(slice(t, 50, 95, {}, "t")), 5u);  // ids 5 to 9
}

TEST(TraceEdit, ConsecutiveReuseClosedForms) {
  Trace t = make_trace({{0}, 4, 2}, 4);
  t.sequence = {0, 0, 0, 1};
  t.position = {0, 1, 2, 0};
  t.experts = {0, 1, 1, 2, 1, 2, 0, 3};  // shares 1 of 2, then 2 of 2; then a new sequence
  EXPECT_DOUBLE_EQ(consecutive_reuse(t)[0], 0.75);
  t.sequence = {0, 1, 2, 3};
  EXPECT_DOUBLE_EQ(consecutive_reuse(t)[0], 0.0);
}

}  // namespace
}  // namespace mozart::trace
