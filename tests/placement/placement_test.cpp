// Placement: the integer program against brute force, planted clusters, invariants of every
// placer, refinement, file formats and bad input.
#include <algorithm>
#include <cmath>
#include <functional>

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/core/random.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/placement/metrics.hpp"
#include "mozart/placement/placers.hpp"
#include "mozart/trace/generator.hpp"

namespace mozart::placement {
namespace {

// The smallest largest-group load over every assignment that respects the capacities.
double brute_force(const std::vector<double>& load, const std::vector<int>& capacity) {
  const auto n = load.size(), g = capacity.size();
  std::vector<int> group(n, 0);
  double best = 1e300;
  std::function<void(std::size_t)> visit = [&](std::size_t c) {
    if (c == n) {
      std::vector<double> sum(g, 0.0);
      std::vector<int> count(g, 0);
      for (std::size_t i = 0; i < n; ++i)
        sum[static_cast<std::size_t>(group[i])] += load[i],
            ++count[static_cast<std::size_t>(group[i])];
      for (std::size_t j = 0; j < g; ++j)
        if (count[j] > capacity[j])
          return;
      best = std::min(best, *std::max_element(sum.begin(), sum.end()));
      return;
    }
    for (std::size_t j = 0; j < g; ++j) {
      group[c] = static_cast<int>(j);
      visit(c + 1);
    }
  };
  visit(0);
  return best;
}

TEST(Allocation, IntegerProgramMatchesBruteForce) {
  core::Rng rng(5);
  const std::vector<std::vector<int>> capacities = {{4, 4}, {3, 3, 2}, {2, 2, 2, 2}, {5, 2, 1}};
  for (int round = 0; round < 8; ++round) {
    for (const auto& capacity : capacities) {
      std::vector<double> load(8);
      for (auto& l : load)
        l = 1 + std::floor(rng.uniform() * 100);
      const Allocation a = allocate_clusters(load, capacity, {1000000, 60.0});
      const double expected = brute_force(load, capacity);
      EXPECT_NEAR(a.report.objective, expected, 1e-9 * expected) << "round " << round;
      EXPECT_EQ(a.report.status, "optimal");
      EXPECT_LE(a.report.bound, a.report.objective + 1e-9);
      std::vector<int> used(capacity.size(), 0);
      for (const int g : a.group_of_cluster)
        ++used[static_cast<std::size_t>(g)];
      for (std::size_t g = 0; g < capacity.size(); ++g)
        EXPECT_LE(used[g], capacity[g]);
    }
  }
}

TEST(Allocation, TooManyClustersIsAnError) {
  EXPECT_THROW(allocate_clusters({1, 2, 3}, {1, 1}, {}), core::InputError);
}

// 16 planted clusters of 4 experts; every token picks all of one cluster's experts.
trace::Trace planted(std::size_t tokens, std::uint64_t seed) {
  core::Rng rng(seed);
  std::vector<int> perm(64);
  std::iota(perm.begin(), perm.end(), 0);
  core::Rng shuffle(99);  // the same clusters for every sample
  for (std::size_t i = perm.size(); i > 1; --i)
    std::swap(perm[i - 1], perm[shuffle.below(i)]);
  trace::Trace t = trace::make_trace({{0, 1}, 64, 4}, tokens, "planted");
  for (int l = 0; l < 2; ++l)
    for (std::size_t token = 0; token < tokens; ++token) {
      const auto cluster = rng.below(16);
      for (int j = 0; j < 4; ++j)
        t.experts[t.offset(l, token) + static_cast<std::size_t>(j)] =
            static_cast<trace::ExpertId>(perm[cluster * 4 + static_cast<std::size_t>(j)]);
    }
  return t;
}

TEST(Placers, MozartRecoversPlantedClusters) {
  const auto train = planted(8000, 1), test = planted(4000, 2);
  const auto layout = uniform_layout(16, 4, 4, "planted");
  for (const std::string name : {"mozart", "occult", "metis"}) {
    const auto p = place(train, layout, name, {});
    const auto m = evaluate(p, test);
    EXPECT_DOUBLE_EQ(m.copies_chiplets, 1.0) << name;  // the planted C_T
  }
  const auto contiguous = evaluate(place(train, layout, "contiguous", {}), test);
  EXPECT_GT(contiguous.copies_chiplets, 3.0);
}

trace::Trace olmoe_like(std::size_t tokens, std::uint64_t seed) {
  std::vector<int> layers(4);
  std::iota(layers.begin(), layers.end(), 0);
  return trace::generate({layers, 64, 8}, tokens, {}, seed, "olmoe-like");
}

TEST(Placers, EveryPlacerGivesAValidPlacement) {
  const auto t = olmoe_like(3000, 3);
  const auto layout = uniform_layout(16, 4, 5, "test");
  for (const auto& name : placer_names()) {
    PlacerOptions options;
    options.replicas = name == "balanced" ? 8 : 0;
    const auto p = place(t, layout, name, options);
    EXPECT_NO_THROW(validate(p, name));
    const auto m = evaluate(p, t);
    EXPECT_GE(m.copies_chiplets, 1.0) << name;
    EXPECT_LE(m.copies_chiplets, 8.0) << name;
    EXPECT_LE(m.copies_groups, m.copies_chiplets + 1e-12) << name;
    for (const auto& layer : m.layers)  // every routed slot lands on a chiplet
      EXPECT_DOUBLE_EQ(std::accumulate(layer.chiplet_load.begin(), layer.chiplet_load.end(), 0.0),
                       3000.0 * 8);
  }
}

TEST(Placers, ClosedFormCopies) {
  const auto t = olmoe_like(500, 4);
  EXPECT_DOUBLE_EQ(
      evaluate(place(t, uniform_layout(1, 1, 64, "one"), "contiguous", {}), t).copies_chiplets,
      1.0);
  EXPECT_DOUBLE_EQ(
      evaluate(place(t, uniform_layout(64, 1, 1, "all"), "contiguous", {}), t).copies_chiplets,
      8.0);
}

TEST(Placers, BalancedReplicasLowerTheHottestChiplet) {
  const auto t = olmoe_like(4000, 5);
  const auto layout = uniform_layout(16, 4, 6, "test");
  const auto contiguous = evaluate(place(t, layout, "contiguous", {}), t);
  const auto balanced = evaluate(place(t, layout, "balanced", {}), t);
  PlacerOptions replicas;
  replicas.replicas = 16;
  const auto replicated = evaluate(place(t, layout, "balanced", replicas), t);
  EXPECT_LT(balanced.chiplet_imbalance, contiguous.chiplet_imbalance);
  EXPECT_LE(replicated.chiplet_imbalance, balanced.chiplet_imbalance + 1e-9);
}

TEST(Placers, RefinementLowersCopiesWithinTheGroupBound) {
  const auto t = olmoe_like(4000, 6);
  const auto layout = uniform_layout(16, 4, 4, "test");
  PlacerOptions options;
  options.refine = true;
  for (const std::string name : {"contiguous", "mozart"}) {
    const auto before = evaluate(place(t, layout, name, {}), t);
    const auto after = evaluate(place(t, layout, name, options), t);
    EXPECT_LT(after.copies_chiplets, before.copies_chiplets) << name;
    for (const auto& layer : after.layers)
      EXPECT_LE(layer.group_imbalance, std::max(options.group_balance, 1.0) + 1e-9) << name;
  }
  // A weight on chiplet imbalance trades copies for balance.
  options.lambda = 5;
  const auto balanced = evaluate(place(t, layout, "mozart", options), t);
  options.lambda = 0;
  const auto greedy = evaluate(place(t, layout, "mozart", options), t);
  EXPECT_LE(balanced.chiplet_imbalance, greedy.chiplet_imbalance + 1e-9);
}

TEST(Placers, Deterministic) {
  const auto t = olmoe_like(2000, 7);
  const auto layout = uniform_layout(16, 4, 4, "test");
  for (const auto& name : placer_names())
    EXPECT_EQ(to_json(place(t, layout, name, {})).dump(),
              to_json(place(t, layout, name, {})).dump())
        << name;
}

// The held-out check on real routing: placed from one sample of OLMoE's arxiv routing,
// measured on another, 16 chiplets in 4 groups.
TEST(Placers, HeldOutOlmoeRoutingCutsCopiesWithinTheGroupBound) {
  const auto counts = trace::read_token_expert_counts(std::string(MOZART_DATA_DIR) +
                                                      "/token-experts/olmoe-1b-7b-arxiv.json");
  const auto train = trace::sample_token_experts(counts, 20000, 256, 1);
  const auto test = trace::sample_token_experts(counts, 20000, 256, 2);
  const auto layout = layout_from_hw(hw::load_hw("mozart-nop-tree-ucie"), 64);
  PlacerOptions refine;
  refine.refine = true;
  const auto base = evaluate(place(train, layout, "contiguous", {}), test);
  const auto ours = evaluate(place(train, layout, "mozart", {}), test);
  const auto refined = evaluate(place(train, layout, "mozart", refine), test);
  for (const int layer : {1, 2}) {  // model layers 7 and 15
    const auto& b = base.layers[static_cast<std::size_t>(layer)];
    for (const auto* placed : {&ours, &refined}) {
      const auto& m = placed->layers[static_cast<std::size_t>(layer)];
      EXPECT_LE(m.copies_chiplets, 0.8 * b.copies_chiplets) << "layer " << m.layer_id;
      EXPECT_LE(m.group_imbalance, 1.10) << "layer " << m.layer_id;
    }
    EXPECT_LT(refined.layers[static_cast<std::size_t>(layer)].copies_chiplets,
              ours.layers[static_cast<std::size_t>(layer)].copies_chiplets);
  }
}

TEST(Placement, LayoutFromTheNopTree) {
  const auto layout = layout_from_hw(hw::load_hw("mozart-nop-tree-ucie"), 128);
  EXPECT_EQ(layout.chiplet_count(), 16);
  EXPECT_EQ(layout.group_count(), 4);
  EXPECT_EQ(layout.slots, 8);
  EXPECT_EQ(layout.chiplets_in_group(1).size(), 4u);
  for (const double h : layout.hops)
    EXPECT_DOUBLE_EQ(h, 2.0);  // attention chiplet → switch → expert chiplet
  EXPECT_GT(layout.memory_bytes, 0);
}

TEST(Placement, FilesRoundTripAndBadInputIsRejected) {
  const auto t = olmoe_like(500, 8);
  const auto p = place(t, uniform_layout(16, 4, 4, "test"), "mozart", {});
  const auto json = placement_from_json(nlohmann::json::parse(to_json(p).dump()), "p.json");
  EXPECT_EQ(to_json(json).dump(), to_json(p).dump());
  const auto csv = placement_from_csv(to_csv(p), "p.csv");
  for (std::size_t l = 0; l < p.layers.size(); ++l)
    EXPECT_EQ(csv.layers[l].chiplets_of, p.layers[l].chiplets_of);
  std::string bad = to_csv(p);
  bad.replace(bad.find(",device3,"), 9, ",device99,");
  EXPECT_THROW(placement_from_csv(bad, "bad.csv"), core::InputError);
  auto j = nlohmann::json::parse(to_json(p).dump());
  j["layers"][0]["chiplets_of"][5] = {42};
  EXPECT_THROW(placement_from_json(j, "bad.json"), core::InputError);
  EXPECT_THROW(place(t, uniform_layout(4, 2, 4, "small"), "mozart", {}),
               core::InputError);  // 16 slots < 64
  EXPECT_THROW(make_placer("greedy"), core::InputError);
  const auto other = trace::generate({{0}, 32, 4}, 10, {}, 1);
  EXPECT_THROW(evaluate(p, other), core::InputError);  // a placement for another model
}

}  // namespace
}  // namespace mozart::placement
