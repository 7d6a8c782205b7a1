// Placement: the integer programs and the within-group step against brute force, planted
// clusters, invariants of every placer, the chiplet bound, refinement, file formats and bad
// input.
#include <algorithm>
#include <cmath>
#include <functional>
#include <stdexcept>

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

// The smallest Σ_g |share of g − size_g / n| over every assignment with exactly size_g per group.
double brute_force_even(const std::vector<double>& load, const std::vector<int>& size) {
  const auto n = load.size(), g = size.size();
  const double total = std::accumulate(load.begin(), load.end(), 0.0);
  std::vector<int> group(n, 0), count(g, 0);
  std::vector<double> sum(g, 0.0);
  double best = 1e300;
  std::function<void(std::size_t)> visit = [&](std::size_t c) {
    if (c == n) {
      double deviation = 0;
      for (std::size_t j = 0; j < g; ++j)
        deviation += std::abs(sum[j] / total - static_cast<double>(size[j]) / n);
      best = std::min(best, deviation);
      return;
    }
    for (std::size_t j = 0; j < g; ++j) {
      if (count[j] == size[j])
        continue;
      ++count[j], sum[j] += load[c];
      visit(c + 1);
      --count[j], sum[j] -= load[c];
    }
  };
  visit(0);
  return best;
}

TEST(Allocation, EvenIntegerProgramMatchesBruteForce) {
  core::Rng rng(11);
  const std::vector<std::vector<int>> sizes = {{4, 4}, {3, 3, 2}, {2, 2, 2, 2}, {5, 2, 1}};
  for (int round = 0; round < 6; ++round) {
    for (const auto& size : sizes) {
      std::vector<double> load(8);
      for (auto& l : load)
        l = 1 + std::floor(rng.uniform() * 100);
      const Allocation a = allocate_clusters_evenly(load, size, {1000000, 60.0});
      EXPECT_NEAR(a.report.objective, brute_force_even(load, size), 1e-9) << "round " << round;
      EXPECT_EQ(a.report.status, "optimal");
      std::vector<int> used(size.size(), 0);
      for (const int g : a.group_of_cluster)
        ++used[static_cast<std::size_t>(g)];
      EXPECT_EQ(used, size);  // exactly its count per group
    }
  }
  EXPECT_THROW(allocate_clusters_evenly({1, 2, 3}, {1, 1}, {}), core::InputError);
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
  for (const std::string name : {"mozart", "mozart-paper", "occult", "metis"}) {
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

// Placers that say they never read co-activation place the same without it (as the priors
// made with it give), and those that read it refuse inputs made without it.
TEST(Placers, CoactivationIsLeftOutOnlyForPlacersThatNeverReadIt) {
  const auto t = olmoe_like(2000, 8);
  const auto layout = uniform_layout(16, 4, 5, "test");
  const auto with = layer_inputs(t, true), without = layer_inputs(t, false);
  for (const auto& name : placer_names()) {
    const bool reads = make_placer(name)->uses_coactivation();
    EXPECT_EQ(layer_inputs(t, name).front().coactivation.empty(), !reads) << name;
    if (reads) {
      EXPECT_THROW(place(t, without, layout, name, {}), std::invalid_argument) << name;
      continue;
    }
    PlacerOptions options;
    options.refine = true;
    options.replicas = name == "balanced" ? 4 : 0;
    EXPECT_EQ(to_json(place(t, without, layout, name, options)).dump(),
              to_json(place(t, with, layout, name, options)).dump())
        << name;
  }
}

TEST(Placers, Deterministic) {
  const auto t = olmoe_like(2000, 7);
  const auto layout = uniform_layout(16, 4, 4, "test");
  for (const auto& name : placer_names())
    EXPECT_EQ(to_json(place(t, layout, name, {})).dump(),
              to_json(place(t, layout, name, {})).dump())
        << name;
}

// What the Mozart study relies on to make one placement for hardware whose layouts differ only
// in these: no placer reads the hardware's name or the memory per chiplet.
TEST(Placers, IgnoreTheHardwareNameAndMemoryPerChiplet) {
  const auto t = olmoe_like(2000, 7);
  const auto layout = uniform_layout(16, 4, 4, "test");
  auto other = layout;
  other.hardware = "other";
  other.memory_bytes = 1e12;
  for (const auto& name : placer_names()) {
    auto p = place(t, other, name, {});
    p.layout = layout;
    EXPECT_EQ(to_json(p).dump(), to_json(place(t, layout, name, {})).dump()) << name;
  }
}

// The issue's held-out check on real routing: placed from one sample of OLMoE's arxiv routing,
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
  // A layout line that is JSON but not an object (found by fuzz_placement_csv).
  EXPECT_THROW(placement_from_csv("# 0\n0,3,expert11,g0,0\n", "number.csv"), core::InputError);
  EXPECT_THROW(placement_from_csv("# [1]\n", "array.csv"), core::InputError);
  auto j = nlohmann::json::parse(to_json(p).dump());
  j["layers"][0]["chiplets_of"][5] = {42};
  EXPECT_THROW(placement_from_json(j, "bad.json"), core::InputError);
  EXPECT_THROW(place(t, uniform_layout(4, 2, 4, "small"), "mozart", {}),
               core::InputError);  // 16 slots < 64
  EXPECT_THROW(make_placer("greedy"), core::InputError);
  const auto other = trace::generate({{0}, 32, 4}, 10, {}, 1);
  EXPECT_THROW(evaluate(p, other), core::InputError);  // a placement for another model
}

// The message of the InputError f throws, or "" when it throws none.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Placement, JsonMistakesNameFileFieldValueAndExpectation) {
  const auto t = olmoe_like(200, 8);
  const auto p = place(t, uniform_layout(16, 4, 4, "test"), "contiguous", {});
  auto j = nlohmann::json::parse(to_json(p).dump());
  j["layers"][0]["chiplets_of"][5] = {1.5};
  std::string message = error_of([&] { placement_from_json(j, "p.json"); });
  EXPECT_NE(message.find("p.json: field 'layers[0].chiplets_of[5][0]': got '1.5', expected an "
                         "integer, not a fraction"),
            std::string::npos)
      << message;
  j = nlohmann::json::parse(to_json(p).dump());
  j["layout"]["slots"] = "four";
  message = error_of([&] { placement_from_json(j, "p.json"); });
  EXPECT_NE(message.find("field 'layout.slots': got '\"four\"'"), std::string::npos) << message;
  EXPECT_EQ(message.find("json.exception"), std::string::npos) << message;
  j = nlohmann::json::parse(to_json(p).dump());
  j.erase("layers");
  EXPECT_NE(error_of([&] { placement_from_json(j, "p.json"); }).find("field 'layers'"),
            std::string::npos);
  j = nlohmann::json::parse(to_json(p).dump());
  j["layers"][1]["layer"] = 0;  // the same layer twice
  message = error_of([&] { placement_from_json(j, "p.json"); });
  EXPECT_NE(message.find("layers[1].layer': got '0', expected a layer index above the previous"),
            std::string::npos)
      << message;
}

TEST(Placement, APlacementForOtherLayersExpertsOrChipletsIsRefused) {
  const auto t = olmoe_like(200, 8);
  auto p = place(t, uniform_layout(16, 4, 4, "test"), "contiguous", {});
  p.source = "p.json";
  EXPECT_EQ(error_of([&] { check_matches(p, "m", 64, t.shape.layer_ids); }), "");
  std::string message = error_of([&] { check_matches(p, "m", 32, t.shape.layer_ids); });
  EXPECT_NE(message.find("p.json: field 'experts': got '64', expected the 32 routed experts of m"),
            std::string::npos)
      << message;
  message = error_of([&] { check_matches(p, "m", 64, {0, 99}); });
  EXPECT_NE(message.find("got 'layers without MoE layer 99', expected a placement of every MoE "
                         "layer of m (2 of them, 0 to 99)"),
            std::string::npos)
      << message;
  const auto other = uniform_layout(8, 4, 8, "other");
  message = error_of([&] { check_matches(p, "m", 64, t.shape.layer_ids, &other); });
  EXPECT_NE(message.find("field 'layout.chiplets'"), std::string::npos) << message;
}

TEST(Placement, OneMemoryRuleCountsHomesAndReplicas) {
  const auto t = olmoe_like(200, 8);
  auto layout = uniform_layout(16, 4, 6, "test");
  layout.memory_bytes = 4.0 * double(t.layers());  // four experts of 1 byte per layer
  const auto plain = place(t, layout, "contiguous", {});
  EXPECT_EQ(error_of([&] { check_expert_memory(plain, 1.0); }), "");
  PlacerOptions options;
  options.replicas = 4;
  const auto replicated = place(t, layout, "balanced", options);
  const std::string message = error_of([&] { check_expert_memory(replicated, 1.0); });
  EXPECT_NE(message.find("memory per expert chiplet"), std::string::npos) << message;
  EXPECT_EQ(error_of([&] { check_expert_memory(replicated, 0.0); }), "");  // size unknown
}

TEST(Placers, ReplicasBeyondTheFreeSlotsAreAnError) {
  const auto t = olmoe_like(200, 8);
  PlacerOptions options;
  options.replicas = 8;
  const std::string message =
      error_of([&] { place(t, uniform_layout(16, 4, 4, "full"), "balanced", options); });
  EXPECT_NE(message.find("--replicas: got '8', expected at most the 0 free slots"),
            std::string::npos)
      << message;
  // Enough free slots: every replica is placed.
  const auto p = place(t, uniform_layout(16, 4, 5, "roomy"), "balanced", options);
  for (const auto& layer : p.layers) {
    std::size_t copies = 0;
    for (const auto& homes : layer.chiplets_of)
      copies += homes.size();
    EXPECT_EQ(copies, 64u + 8u);
  }
}

// The least largest step_load[to[c]] + layer_load[c] over every permutation within each group.
double brute_force_within(const DeviceLayout& layout, const std::vector<double>& step,
                          const std::vector<double>& layer) {
  double best = 1e300;
  std::vector<int> to(step.size());
  std::function<void(int)> visit = [&](int g) {
    if (g == layout.group_count()) {
      double worst = 0;
      for (std::size_t c = 0; c < step.size(); ++c)
        worst = std::max(worst, step[static_cast<std::size_t>(to[c])] + layer[c]);
      best = std::min(best, worst);
      return;
    }
    auto chiplets = layout.chiplets_in_group(g);
    auto targets = chiplets;
    do {
      for (std::size_t i = 0; i < chiplets.size(); ++i)
        to[static_cast<std::size_t>(chiplets[i])] = targets[i];
      visit(g + 1);
    } while (std::next_permutation(targets.begin(), targets.end()));
  };
  visit(0);
  return best;
}

TEST(StepBalance, WithinGroupAssignmentMatchesBruteForce) {
  const auto layout = uniform_layout(6, 3, 1, "two groups of three");
  core::Rng rng(13);
  for (int round = 0; round < 20; ++round) {
    std::vector<double> step(6, 0.0);
    for (int layer = 0; layer < 3; ++layer) {
      std::vector<double> load(6);
      for (auto& l : load)
        l = std::floor(rng.uniform() * 10);  // small integers: ties happen
      const auto to = assign_within_groups(layout, step, load);
      std::vector<double> next(6, 0.0);
      for (std::size_t c = 0; c < 6; ++c) {
        EXPECT_EQ(layout.group[static_cast<std::size_t>(to[c])], layout.group[c]);
        next[static_cast<std::size_t>(to[c])] = step[static_cast<std::size_t>(to[c])] + load[c];
      }
      std::vector<int> sorted = to;
      std::sort(sorted.begin(), sorted.end());
      EXPECT_EQ(sorted, std::vector<int>({0, 1, 2, 3, 4, 5}));  // a permutation
      EXPECT_DOUBLE_EQ(*std::max_element(next.begin(), next.end()),
                       brute_force_within(layout, step, load))
          << "round " << round << " layer " << layer;
      step = next;
    }
  }
}

TEST(StepBalance, ChipletsOfUnequalHopsKeepTheirContents) {
  auto layout = uniform_layout(4, 4, 1, "one group");
  layout.hops = {1, 2, 1, 2};
  const auto to = assign_within_groups(layout, {0, 0, 5, 0}, {9, 1, 2, 3});
  for (std::size_t c = 0; c < 4; ++c)
    EXPECT_EQ(layout.hops[static_cast<std::size_t>(to[c])], layout.hops[c]);
  EXPECT_EQ(to[0], 0);  // the heaviest of hop 1 onto the least loaded of hop 1
  EXPECT_EQ(to[2], 2);
}

trace::Trace many_layers(std::size_t tokens, std::uint64_t seed) {
  std::vector<int> layers(16);
  std::iota(layers.begin(), layers.end(), 0);
  return trace::generate({layers, 64, 8}, tokens, {}, seed, "olmoe-like");
}

// The old failure: the heaviest cluster on the first chiplet of its group in every layer, so
// that over a step the chiplets' loads spread as much as all layers' spreads together. Pairing
// the heaviest load with the least loaded chiplet, two chiplets' sums differ by no more than
// the larger of their difference so far and that of the loads they take (the two have opposite
// signs), so over the step the chiplets of a group (and alike groups) spread no more than in
// the most uneven layer.
TEST(StepBalance, TheStepsLoadIsEvenOverTheChiplets) {
  const auto t = many_layers(4000, 21);
  const auto layout = layout_from_hw(hw::load_hw("mozart-nop-tree-ucie"), 64);
  const auto spread = [](const std::vector<double>& load, const std::vector<int>& members) {
    double low = 1e300, high = 0;
    for (const int c : members)
      low = std::min(low, load[static_cast<std::size_t>(c)]),
      high = std::max(high, load[static_cast<std::size_t>(c)]);
    return high - low;
  };
  std::vector<int> all_groups(static_cast<std::size_t>(layout.group_count()));
  std::iota(all_groups.begin(), all_groups.end(), 0);
  for (const std::string name : {"mozart", "mozart-paper", "occult", "metis"}) {
    const auto m = evaluate(place(t, layout, name, {}), t);
    double layer_spread = 0, layer_group_spread = 0;
    for (const auto& layer : m.layers) {
      for (int g = 0; g < layout.group_count(); ++g)
        layer_spread =
            std::max(layer_spread, spread(layer.chiplet_load, layout.chiplets_in_group(g)));
      layer_group_spread = std::max(layer_group_spread, spread(layer.group_load, all_groups));
    }
    for (int g = 0; g < layout.group_count(); ++g)
      EXPECT_LE(spread(m.step_chiplet_load, layout.chiplets_in_group(g)), layer_spread + 1e-9)
          << name << " group " << g;
    std::vector<double> step_group(all_groups.size(), 0.0);
    for (int c = 0; c < layout.chiplet_count(); ++c)
      step_group[static_cast<std::size_t>(layout.group[static_cast<std::size_t>(c)])] +=
          m.step_chiplet_load[static_cast<std::size_t>(c)];
    EXPECT_LE(spread(step_group, all_groups), layer_group_spread + 1e-9) << name;
    EXPECT_LT(m.step_chiplet_imbalance, m.chiplet_imbalance) << name;
    if (name == "mozart") {  // about 2 in each layer, near 1 over the step
      EXPECT_LE(m.step_chiplet_imbalance, 1.1);
    }
  }
}

// METIS refuses as many parts as vertices, printing to stdout (which broke `--json`): one
// expert per chiplet is then made without it.
TEST(Metis, AsManyChipletsAsExpertsGiveOneExpertEachAndPrintNothing) {
  const auto t = many_layers(500, 3);
  const auto layout = layout_from_hw(hw::load_hw("wsc-mesh-8x8"), 64);
  ASSERT_EQ(layout.chiplet_count(), 64);
  testing::internal::CaptureStdout();
  const Placement p = place(t, layout, "metis", {});
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  for (const auto& layer : p.layers) {
    std::vector<int> held(64, 0);
    for (const auto& chiplets : layer.chiplets_of) {
      ASSERT_EQ(chiplets.size(), 1u);
      ++held[static_cast<std::size_t>(chiplets.front())];
    }
    EXPECT_EQ(*std::max_element(held.begin(), held.end()), 1);
  }
}

// The least max/mean chiplet load any placement of one expert set per chiplet can have in the
// worst layer: the heaviest expert with the lightest others on one chiplet.
double least_possible(const trace::Trace& t, int chiplets) {
  double worst = 1;
  for (const auto& in : layer_inputs(t)) {
    auto sorted = in.load;
    std::sort(sorted.begin(), sorted.end());
    const double mean = std::accumulate(sorted.begin(), sorted.end(), 0.0) / chiplets;
    const auto per_chiplet = static_cast<std::ptrdiff_t>(in.experts / chiplets);
    worst = std::max(
        worst,
        (sorted.back() + std::accumulate(sorted.begin(), sorted.begin() + per_chiplet - 1, 0.0)) /
            mean);
  }
  return worst;
}

TEST(ChipletBalance, TheBoundHoldsInEveryLayerAndOverTheStep) {
  const auto layout = layout_from_hw(hw::load_hw("mozart-nop-tree-ucie"), 64);
  for (const std::uint64_t seed : {31, 32, 33}) {
    const auto t = many_layers(3000, seed);
    const double least = least_possible(t, 16);
    for (const double bound : {1.1, 1.5, 1.8, 2.0, 2.5}) {
      for (int pass = 0; pass < (bound >= 2.0 ? 2 : 1); ++pass) {  // then refined
        PlacerOptions options;
        options.chiplet_balance = bound;
        options.refine = pass == 1;
        options.refine_tokens = 1000;
        try {
          const auto m = evaluate(place(t, layout, "mozart", options), t);
          EXPECT_LE(m.worst_chiplet_imbalance, bound + 1e-9) << seed << " " << bound;
          EXPECT_LE(m.step_chiplet_imbalance, bound + 1e-9) << seed << " " << bound;
          EXPECT_GE(bound, least - 1e-9);  // no placement beats the lower bound
        } catch (const core::InputError& e) {
          const std::string what = e.what();
          EXPECT_EQ(what.rfind("--chiplet-balance: ", 0), 0u) << what;
          EXPECT_NE(what.find("cannot be met at layer"), std::string::npos) << what;
          EXPECT_EQ(what.find('\n'), std::string::npos) << what;
          EXPECT_LT(bound, 1.1 * least) << what;  // a bound with room is met
        }
      }
    }
  }
}

// The issue's case: 1.1 on a generated OLMoE trace gave 3.21 in the mean layer; now every
// layer is within a bound that can be met, and one that cannot is an error naming the layer.
TEST(ChipletBalance, TheIssuesCaseIsMetOrAnError) {
  const auto t = many_layers(8192, 2);
  const auto layout = layout_from_hw(hw::load_hw("mozart-nop-tree-ucie"), 64);
  PlacerOptions options;
  options.chiplet_balance = 1.1;
  try {
    const auto m = evaluate(place(t, layout, "mozart", options), t);
    EXPECT_LE(m.worst_chiplet_imbalance, 1.1 + 1e-9);
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("1.1 cannot be met at layer"), std::string::npos);
  }
  options.chiplet_balance = 1.02 * least_possible(t, 16) + 0.05;
  const auto m = evaluate(place(t, layout, "mozart", options), t);
  EXPECT_LE(m.worst_chiplet_imbalance, options.chiplet_balance + 1e-9);
}

// One expert in every token: it alone carries 16 chiplets / 4 slots = 4x the mean.
TEST(ChipletBalance, ABoundThatCannotBeMetNamesTheLayerAndByHowMuch) {
  auto t = planted(2000, 3);
  for (int l = 0; l < 2; ++l)
    for (std::size_t token = 0; token < t.tokens; ++token) {
      auto* e = &t.experts[t.offset(l, token)];
      if (std::find(e, e + 4, 0) == e + 4)
        e[0] = 0;
    }
  const auto layout = uniform_layout(16, 4, 4, "test");
  PlacerOptions options;
  options.chiplet_balance = 2.0;
  try {
    place(t, layout, "mozart", options);
    ADD_FAILURE() << "no error";
  } catch (const core::InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("--chiplet-balance: 2 cannot be met at layer 0: expert 0"),
              std::string::npos)
        << what;
  }
  EXPECT_NO_THROW(place(t, layout, "mozart", {}));  // no bound given: only an aim
  options.chiplet_balance = 0.9;
  EXPECT_THROW(place(olmoe_like(500, 1), layout, "mozart", options), core::InputError);
}

TEST(Placers, MozartPaperClustersAreEqualAndEveryExpertPlacedOnce) {
  const auto t = olmoe_like(3000, 41);
  const auto layout = layout_from_hw(hw::load_hw("mozart-nop-tree-ucie"), 64);
  const auto p = place(t, layout, "mozart-paper", {});
  for (std::size_t l = 0; l < p.layers.size(); ++l) {
    for (const auto& homes : p.layers[l].chiplets_of)
      EXPECT_EQ(homes.size(), 1u);
    for (const auto& experts : p.experts_on(l))
      EXPECT_EQ(experts.size(), 4u);  // N_e / N_c
    ASSERT_TRUE(p.solver[l].has_value());
  }
}

}  // namespace
}  // namespace mozart::placement
