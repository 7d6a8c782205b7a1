// The generator that follows a real trace (`trace gen --like`): it keeps which experts fire
// together, its consecutive-token reuse, and a placement made from it works on held-out real
// routing nearly as well as one made from the real trace.
#include "mozart/trace/like.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/placement/metrics.hpp"
#include "mozart/placement/placers.hpp"
#include "mozart/trace/edit.hpp"
#include "mozart/trace/formats.hpp"
#include "mozart/trace/generator.hpp"
#include "mozart/trace/priors.hpp"

namespace mozart::trace {
namespace {

const std::string kData = MOZART_DATA_DIR;

double mean(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Real routing: OLMoE's arxiv per-token counts, 40,000 tokens, cut in two for held-out use.
struct Held {
  Trace train, test;
};
const Held& olmoe_held_out(const std::string& domain) {
  static std::map<std::string, Held> cache;  // read once per test binary
  if (const auto it = cache.find(domain); it != cache.end())
    return it->second;
  const auto counts =
      read_token_expert_counts(kData + "/token-experts/olmoe-1b-7b-" + domain + ".json");
  const Trace all = sample_token_experts(counts, 40000, 256, 3);
  const std::size_t cut = split_point(all, {0, 0, 0.5}, "test");
  return cache[domain] = {slice(all, 0, cut, {}, "test"), slice(all, cut, all.tokens, {}, "test")};
}

// The same popularity per layer with independent experts: what --like must beat.
Trace popularity_only(const Trace& source, std::size_t tokens) {
  LikeOptions one;
  one.topics = 1;
  return generate_like(fit_like(source, "source", one), tokens, 5);
}

TEST(Like, KeepsTheSourcesCoactivationAndPopularity) {
  const auto& [train, test] = olmoe_held_out("arxiv");
  const auto law = fit_like(train, "arxiv");
  const Trace like = generate_like(law, train.tokens, 11);
  EXPECT_NO_THROW(validate(like, "like"));
  const auto kept = coactivation_correlation(train, like);
  const auto independent = coactivation_correlation(train, popularity_only(train, train.tokens));
  // Held-out real routing from the same source sets the bar sampling noise allows.
  const auto noise = coactivation_correlation(train, test);
  for (std::size_t l = 0; l < kept.size(); ++l) {
    std::printf(
        "layer %zu: lift correlation like %.3f, independent %.3f, held-out real %.3f; "
        "matrix %.3f, %.3f, %.3f\n",
        l, kept[l].lift, independent[l].lift, noise[l].lift, kept[l].matrix, independent[l].matrix,
        noise[l].matrix);
    EXPECT_GE(kept[l].lift, 0.8) << "layer " << l;
    EXPECT_LT(independent[l].lift, 0.3) << "layer " << l;
    EXPECT_GE(kept[l].matrix, 0.95) << "layer " << l;
    EXPECT_LE(kept[l].lift, noise[l].lift + 0.05) << "layer " << l;
  }
  // Popularity per expert, by name: the shares differ from the source's by about as much as
  // the held-out half's do (sampling noise).
  const auto a = compute_priors(train, {0, false}), b = compute_priors(like, {0, false}),
             c = compute_priors(test, {0, false});
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    double like_gap = 0, noise_gap = 0;
    for (std::size_t e = 0; e < a.layers[l].frequency.size(); ++e) {
      like_gap = std::max(like_gap, std::abs(a.layers[l].frequency[e] - b.layers[l].frequency[e]));
      noise_gap =
          std::max(noise_gap, std::abs(a.layers[l].frequency[e] - c.layers[l].frequency[e]));
    }
    std::printf("layer %zu: largest share gap like %.4f, held-out real %.4f\n", l, like_gap,
                noise_gap);
    EXPECT_LE(like_gap, 2 * noise_gap) << "layer " << l;
  }
}

TEST(Like, ReproducesConsecutiveReuse) {
  // A source with temporal locality: the parametric generator with sticky topics.
  GeneratorParams p;
  p.stickiness = 0.8;
  const Trace source = generate({{0, 1, 2}, 64, 8}, 20000, p, 4);
  const auto law = fit_like(source, "sticky");
  const double want = mean(consecutive_reuse(source));
  EXPECT_NEAR(law.target_reuse, want, 0.01);  // measured on the fitting sample
  EXPECT_GT(law.persistence, 0.3);
  EXPECT_NEAR(mean(consecutive_reuse(generate_like(law, 20000, 8))), want, 0.02);
  // Independent tokens (no order in the source) give no persistence.
  const auto flat = fit_like(olmoe_held_out("github").train, "github");
  EXPECT_LT(flat.persistence, 0.05);
}

TEST(Like, AnyLengthAndLayersOfTheModelDeterministic) {
  const Trace& train = olmoe_held_out("arxiv").train;
  const auto law = fit_like(train, "arxiv");
  const TraceShape model{{0, 1, 2, 3, 7, 8, 15}, 64, 8};
  const Trace a = generate_like(law, 3000, 2, model, "olmoe");
  EXPECT_EQ(a.layers(), 7);
  EXPECT_EQ(a.tokens, 3000u);
  EXPECT_NO_THROW(validate(a, "like"));
  EXPECT_EQ(serialise_trace(a, Format::native),
            serialise_trace(generate_like(law, 3000, 2, model, "olmoe"), Format::native));
  EXPECT_EQ(serialise_trace(generate_like(fit_like(train, "arxiv"), 100, 9), Format::native),
            serialise_trace(generate_like(law, 100, 9), Format::native));
  // A recorded layer keeps its experts' identity: layer 7 of the output is the source's.
  const Trace recorded = slice(a, 0, a.tokens, {7}, "a");
  const auto x = compute_priors(slice(train, 0, train.tokens, {7}, "t"), {0, false});
  const auto y = compute_priors(recorded, {0, false});
  const auto& fx = x.layers[0].frequency;
  const auto& fy = y.layers[0].frequency;
  EXPECT_EQ(std::max_element(fx.begin(), fx.end()) - fx.begin(),
            std::max_element(fy.begin(), fy.end()) - fy.begin());
  // Another model's experts or top-k: refused.
  EXPECT_THROW(generate_like(law, 10, 1, {{0}, 32, 8}), core::InputError);
  EXPECT_THROW(generate_like(law, 10, 1, {{0}, 64, 4}), core::InputError);
}

// The goal: placed from a --like trace of the training half, C_T on the held-out half
// falls by at least 80% of what a placement from the training half itself achieves.
void expect_placement_transfers(const std::string& domain) {
  const auto& [train, test] = olmoe_held_out(domain);
  const Trace like = generate_like(fit_like(train, domain), train.tokens, 21);
  const auto layout = placement::layout_from_hw(hw::load_hw("mozart-nop-tree-ucie"), 64);
  const auto base =
      placement::evaluate(placement::place(train, layout, "contiguous", {}), test).copies_chiplets;
  const auto real =
      placement::evaluate(placement::place(train, layout, "mozart", {}), test).copies_chiplets;
  const auto from_like =
      placement::evaluate(placement::place(like, layout, "mozart", {}), test).copies_chiplets;
  const auto from_independent =
      placement::evaluate(
          placement::place(popularity_only(train, train.tokens), layout, "mozart", {}), test)
          .copies_chiplets;
  std::printf(
      "%s: C_T contiguous %.3f, placed from real %.3f, from like %.3f, from "
      "popularity only %.3f: like keeps %.0f%% of the cut\n",
      domain.c_str(), base, real, from_like, from_independent,
      100 * (base - from_like) / (base - real));
  ASSERT_LT(real, base);
  EXPECT_GE(base - from_like, 0.8 * (base - real));
  EXPECT_LT(from_like, from_independent);
}

TEST(Like, PlacementFromALikeTraceTransfersToHeldOutOlmoeArxiv) {
  expect_placement_transfers("arxiv");
}
TEST(Like, PlacementFromALikeTraceTransfersToHeldOutOlmoeGithub) {
  expect_placement_transfers("github");
}

TEST(Like, BadInput) {
  Trace one = generate({{0}, 8, 2}, 1, {}, 1);
  EXPECT_THROW(fit_like(one, "one"), core::InputError);
  LikeOptions none;
  none.topics = 0;
  EXPECT_THROW(fit_like(generate({{0}, 8, 2}, 100, {}, 1), "t", none), core::InputError);
}

}  // namespace
}  // namespace mozart::trace
