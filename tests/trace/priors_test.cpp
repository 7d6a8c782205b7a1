// Priors on hand-made traces with known answers, and invariants on generated ones.
#include "mozart/trace/priors.hpp"

#include <cmath>
#include <numeric>

#include <gtest/gtest.h>

#include "mozart/trace/generator.hpp"

namespace mozart::trace {
namespace {

// Three tokens, two layers, four experts, top-2.
Trace hand_trace() {
  Trace t = make_trace({{0, 1}, 4, 2}, 3);
  const std::vector<ExpertId> layer0 = {0, 1, 0, 1, 2, 3};
  const std::vector<ExpertId> layer1 = {3, 2, 3, 0, 1, 2};
  std::copy(layer0.begin(), layer0.end(), t.experts.begin());
  std::copy(layer1.begin(), layer1.end(), t.experts.begin() + 6);
  return t;
}

TEST(Priors, HandTraceCounts) {
  const Priors p = compute_priors(hand_trace(), {2, true});
  const auto& l0 = p.layers[0];
  EXPECT_EQ(l0.counts, (std::vector<std::uint64_t>{2, 2, 1, 1}));
  EXPECT_DOUBLE_EQ(l0.frequency[0], 2.0 / 6.0);
  EXPECT_EQ(l0.coactivation[0 * 4 + 1], 2u);
  EXPECT_EQ(l0.coactivation[1 * 4 + 0], 2u);
  EXPECT_EQ(l0.coactivation[2 * 4 + 3], 1u);
  EXPECT_EQ(l0.coactivation[0 * 4 + 2], 0u);
  EXPECT_DOUBLE_EQ(l0.imbalance, 2.0 / 1.5);
  // Slot-aligned: token 0 goes 0→3 and 1→2, token 1 0→3 and 1→0, token 2 2→1 and 3→2.
  EXPECT_EQ(l0.transitions[0 * 4 + 3], 2u);
  EXPECT_EQ(l0.transitions[1 * 4 + 2], 1u);
  EXPECT_EQ(std::accumulate(l0.transitions.begin(), l0.transitions.end(), std::uint64_t{0}), 6u);
  EXPECT_TRUE(p.layers[1].transitions.empty());
  ASSERT_EQ(l0.drift.size(), 2u);
  EXPECT_EQ(l0.drift[1].tokens, 1u);
  EXPECT_DOUBLE_EQ(l0.drift[1].distance, 1.0);  // {0,1} twice, then {2,3}: all the mass moves
}

TEST(Priors, EntropyAndImbalanceClosedForms) {
  const std::vector<std::uint64_t> flat = {5, 5, 5, 5};
  EXPECT_DOUBLE_EQ(imbalance_of(flat), 1.0);
  EXPECT_NEAR(normalised_entropy(flat), 1.0, 1e-12);
  const std::vector<std::uint64_t> one = {0, 0, 9, 0};
  EXPECT_DOUBLE_EQ(imbalance_of(one), 4.0);
  EXPECT_NEAR(normalised_entropy(one), 0.0, 1e-12);
}

TEST(Priors, CopiesPerTokenBounds) {
  const Trace t = hand_trace();
  EXPECT_DOUBLE_EQ(copies_per_token(t, 0, std::vector<int>{0, 1, 2, 3}),
                   2.0);  // every expert alone: k
  EXPECT_DOUBLE_EQ(copies_per_token(t, 0, std::vector<int>{0, 0, 0, 0}), 1.0);
  // {0,1} | {2,3}: tokens {0,1},{0,1},{2,3} each need one copy at layer 0.
  EXPECT_DOUBLE_EQ(copies_per_token(t, 0, std::vector<int>{0, 0, 1, 1}), 1.0);
  // Layer 1: {3,2} one group, {3,0} two, {1,2} two.
  EXPECT_DOUBLE_EQ(copies_per_token(t, 1, std::vector<int>{0, 0, 1, 1}), 5.0 / 3.0);
  EXPECT_EQ(contiguous_groups(8, 4), (std::vector<int>{0, 0, 1, 1, 2, 2, 3, 3}));
}

TEST(Priors, SlotsAndPairsAreConserved) {
  const Trace t = generate({{0, 1, 2}, 32, 4}, 2000, {}, 3);
  const Priors p = compute_priors(t);
  for (const auto& l : p.layers) {
    EXPECT_EQ(std::accumulate(l.counts.begin(), l.counts.end(), std::uint64_t{0}), 2000u * 4);
    // Each token contributes k(k-1) ordered pairs.
    EXPECT_EQ(std::accumulate(l.coactivation.begin(), l.coactivation.end(), std::uint64_t{0}),
              2000u * 4 * 3);
    EXPECT_NEAR(std::accumulate(l.frequency.begin(), l.frequency.end(), 0.0), 1.0, 1e-12);
  }
}

TEST(Priors, LiftSeparatesClusteredFromIndependentRouting) {
  GeneratorParams independent;
  independent.skew = 0;
  independent.topic_strength = 0;
  GeneratorParams clustered = independent;
  clustered.topic_strength = 4;
  const TraceShape shape{{0}, 32, 4};
  const Priors a = compute_priors(generate(shape, 20000, independent, 1));
  const Priors b = compute_priors(generate(shape, 20000, clustered, 1));
  const double lift_a = coactivation_lift(a.layers[0].coactivation, a.layers[0].counts, 4);
  const double lift_b = coactivation_lift(b.layers[0].coactivation, b.layers[0].counts, 4);
  // Independent draws without replacement sit at log((k-1)/k · E/(E-1)).
  EXPECT_NEAR(lift_a, std::log(3.0 / 4.0 * 32.0 / 31.0), 0.02);
  EXPECT_GT(lift_b, lift_a + 0.2);
}

}  // namespace
}  // namespace mozart::trace
