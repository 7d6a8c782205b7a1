// The generator, the token-experts sampler and calibration.
#include "mozart/trace/generator.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/calibrate.hpp"
#include "mozart/trace/draw.hpp"
#include "mozart/trace/edit.hpp"
#include "mozart/trace/formats.hpp"

namespace mozart::trace {
namespace {

const std::string kData = MOZART_DATA_DIR;

TEST(Generator, SameSeedSameBytesOtherSeedOtherTokens) {
  const TraceShape shape{{0, 2, 4}, 64, 8};
  const auto a = serialise_trace(generate(shape, 500, {}, 11), Format::native);
  EXPECT_EQ(a, serialise_trace(generate(shape, 500, {}, 11), Format::native));
  EXPECT_NE(a, serialise_trace(generate(shape, 500, {}, 12), Format::native));
}

TEST(Generator, TracesAreValidAndRanked) {
  const Trace t = generate({{0, 1}, 16, 4}, 300, {}, 5);
  EXPECT_NO_THROW(validate(t, "generated"));
  for (std::size_t i = 0; i < t.gates.size(); i += 4) {
    EXPECT_GE(t.gates[i], t.gates[i + 3]);
    EXPECT_NEAR(t.gates[i] + t.gates[i + 1] + t.gates[i + 2] + t.gates[i + 3], 1.0f, 1e-5);
  }
}

TEST(Generator, StickinessGivesTemporalLocality) {
  // With sticky topics, consecutive tokens share more experts than tokens far apart.
  GeneratorParams p;
  p.stickiness = 0.95;
  const Trace t = generate({{0}, 64, 8}, 4000, p, 9);
  const auto shared = [&](std::size_t gap) {
    double overlap = 0;
    for (std::size_t i = 0; i + gap < t.tokens; ++i) {
      const auto a = t.choices(0, i), b = t.choices(0, i + gap);
      for (auto e : a)
        overlap += std::count(b.begin(), b.end(), e);
    }
    return overlap / static_cast<double>(t.tokens - gap);
  };
  EXPECT_GT(shared(1), shared(200) + 0.3);
}

TEST(Generator, BadParametersAreErrors) {
  GeneratorParams p;
  p.stickiness = 1.5;
  EXPECT_THROW(check_params(p, {{0}, 8, 2}, "params.json"), core::InputError);
  p = {};
  p.popularity = {{0.0, 1.0}};
  EXPECT_THROW(check_params(p, {{0}, 8, 2}, "params.json"), core::InputError);
  EXPECT_THROW(params_from_json(nlohmann::json{{"skwe", 1}}, "p.json"), core::InputError);
}

TEST(Generator, ParamsRoundTripThroughJson) {
  GeneratorParams p;
  p.skew = 1.25;
  p.layer_strength = {1, 2};
  p.domains = {"a", "b"};
  const auto back = params_from_json(nlohmann::json::parse(to_json(p).dump()), "p");
  EXPECT_EQ(to_json(back), to_json(p));
}

TEST(TokenExperts, SampledExpertsWereCountedForTheToken) {
  const auto counts = read_token_expert_counts(kData + "/token-experts/olmoe-1b-7b-arxiv.json");
  EXPECT_EQ(counts.experts, 64);
  EXPECT_EQ(counts.top_k, 8);
  const Trace t = sample_token_experts(counts, 3000, 256, 4);
  EXPECT_NO_THROW(validate(t, "sampled"));
  // Contiguous placement on 16 chiplets: the data's README gives C_T ≈ 6.8-7.0.
  const double ct = copies_per_token(t, contiguous_groups(64, 16));
  EXPECT_GT(ct, 6.5);
  EXPECT_LT(ct, 7.3);
}

// The chance of drawing the ordered experts `order` one by one without replacement.
double ordered_chance(const std::vector<double>& w, const std::vector<ExpertId>& order) {
  double rest = std::accumulate(w.begin(), w.end(), 0.0), chance = 1;
  for (const ExpertId e : order) {
    chance *= w[e] / rest;
    rest -= w[e];
  }
  return chance;
}

// How many outputs of `before` it took to reach `after` (at most `limit`; limit + 1 if not).
std::size_t outputs_used(const core::Rng& before, const core::Rng& after, std::size_t limit) {
  core::Rng probe = before;
  for (std::size_t used = 0; used <= limit; ++used, probe.next()) {
    core::Rng a = probe, b = after;
    bool same = true;
    for (int i = 0; i < 4; ++i)
      same = same && a.next() == b.next();
    if (same)
      return used;
  }
  return limit + 1;
}

// Drawing k distinct experts follows sequential sampling without replacement exactly, ordered
// tuples included, whether the weights are even or so concentrated that rejection alone would
// need about a million draws per expert; and it costs a bounded number of random numbers.
TEST(DrawDistinct, IsExactWithoutReplacementAndQuickOnDegenerateWeights) {
  constexpr int k = 3;
  constexpr std::size_t samples = 200000;
  for (const std::vector<double>& w : std::vector<std::vector<double>>{
           {4, 3, 2, 1}, {1e6, 1, 2, 3}, {1e6, 1e6, 1, 3}, {1e12, 1, 1e-3, 5}}) {
    const core::AliasTable table(w);
    core::Rng rng(11);
    std::map<std::vector<ExpertId>, std::size_t> seen;
    std::size_t most_used = 0;
    for (std::size_t s = 0; s < samples; ++s) {
      std::vector<ExpertId> out(k);
      const core::Rng before = rng;
      detail::draw_distinct(table, w, k, rng, out.data(), nullptr);
      if (s < 1000)
        most_used = std::max(most_used, outputs_used(before, rng, 1000));
      ++seen[out];
    }
    // Rejection stops after 128 rejections per expert wanted; each draw takes two numbers, each
    // remaining expert one (rejection alone would take some 10^6 draws per expert).
    EXPECT_LE(most_used, 2 * (k + 128 * k) + k) << w[0];
    std::vector<ExpertId> order = {0, 1, 2, 3};
    do {
      const std::vector<ExpertId> tuple(order.begin(), order.begin() + k);
      const double p = ordered_chance(w, tuple);
      const double f = static_cast<double>(seen[tuple]) / samples;
      EXPECT_NEAR(f, p, 5 * std::sqrt(p * (1 - p) / samples) + 1e-4)
          << w[0] << ": " << tuple[0] << tuple[1] << tuple[2];
    } while (std::next_permutation(order.begin(), order.end()));
  }
}

// Fewer experts with weight than k: those, then the lowest ids without weight.
TEST(DrawDistinct, CompletesWhenFewerThanKExpertsHaveWeight) {
  const std::vector<double> w = {0, 0, 5, 0, 1};
  const core::AliasTable table(w);
  core::Rng rng(3);
  for (int s = 0; s < 100; ++s) {
    std::vector<ExpertId> out(4);
    detail::draw_distinct(table, w, 4, rng, out.data(), nullptr);
    EXPECT_EQ(std::set<ExpertId>(out.begin(), out.begin() + 2), (std::set<ExpertId>{2, 4}));
    EXPECT_EQ(out[2], 0);
    EXPECT_EQ(out[3], 1);
  }
}

// The --like sampler: the same law as draw_distinct, ordered tuples included, through both of
// its ways (the alias table while the drawn experts hold at most half the weight, the map of
// the undrawn intervals after), for even, concentrated and degenerate weights.
std::map<std::vector<ExpertId>, std::size_t> sequential_tuples(const std::vector<double>& w, int k,
                                                               std::size_t samples) {
  const detail::SequentialDraw draw(w);
  std::vector<std::uint64_t> scratch(draw.words(), 0);
  core::Rng rng(17);
  std::map<std::vector<ExpertId>, std::size_t> seen;
  for (std::size_t s = 0; s < samples; ++s) {
    std::vector<ExpertId> out(static_cast<std::size_t>(k));
    draw.draw(k, rng, out.data(), nullptr, scratch.data());
    ++seen[out];
  }
  return seen;
}

TEST(SequentialDraw, IsExactWithoutReplacementWhateverTheConcentration) {
  constexpr int k = 3;
  constexpr std::size_t samples = 200000;
  for (const std::vector<double>& w : std::vector<std::vector<double>>{
           {4, 3, 2, 1}, {1, 1, 1, 1}, {1e6, 1, 2, 3}, {1e6, 1e6, 1, 3}, {1e12, 1, 1e-3, 5}}) {
    auto seen = sequential_tuples(w, k, samples);
    std::vector<ExpertId> order = {0, 1, 2, 3};
    std::size_t counted = 0;
    do {
      const std::vector<ExpertId> tuple(order.begin(), order.begin() + k);
      const double p = ordered_chance(w, tuple);
      const double f = static_cast<double>(seen[tuple]) / samples;
      counted += seen[tuple];
      EXPECT_NEAR(f, p, 5 * std::sqrt(p * (1 - p) / samples) + 1e-4)
          << w[0] << ": " << tuple[0] << tuple[1] << tuple[2];
      std::reverse(order.begin() + k, order.end());  // each k-tuple once
    } while (std::next_permutation(order.begin(), order.end()));
    EXPECT_EQ(counted, samples) << w[0];  // no tuple with a repeated expert
  }
}

// Over 64 experts the drawn set spans words: the four heavy experts sit in the second word.
TEST(SequentialDraw, IsExactBeyondSixtyFourExperts) {
  std::vector<double> w(70, 0.01);
  w[65] = 40, w[66] = 30, w[67] = 20, w[68] = 10;
  constexpr std::size_t samples = 200000;
  auto seen = sequential_tuples(w, 3, samples);
  std::vector<ExpertId> order = {65, 66, 67, 68};
  do {
    const std::vector<ExpertId> tuple(order.begin(), order.begin() + 3);
    const double p = ordered_chance(w, tuple);
    const double f = static_cast<double>(seen[tuple]) / samples;
    EXPECT_NEAR(f, p, 5 * std::sqrt(p * (1 - p) / samples) + 1e-4)
        << tuple[0] << " " << tuple[1] << " " << tuple[2];
    std::reverse(order.begin() + 3, order.end());
  } while (std::next_permutation(order.begin(), order.end()));
  for (const auto& [tuple, n] : seen)
    EXPECT_EQ(std::set<ExpertId>(tuple.begin(), tuple.end()).size(), 3u);
}

TEST(SequentialDraw, GatesAreTheDrawnWeightsNormalisedFallingWithRank) {
  const std::vector<double> w = {4, 3, 2, 1};
  const detail::SequentialDraw draw(w);
  std::vector<std::uint64_t> scratch(draw.words(), 0);
  core::Rng rng(5);
  for (int s = 0; s < 200; ++s) {
    ExpertId out[3];
    float gates[3];
    draw.draw(3, rng, out, gates, scratch.data());
    std::vector<double> drawn = {w[out[0]], w[out[1]], w[out[2]]};
    std::sort(drawn.begin(), drawn.end(), std::greater<>());
    const double total = drawn[0] + drawn[1] + drawn[2];
    for (int j = 0; j < 3; ++j)
      EXPECT_FLOAT_EQ(gates[j], static_cast<float>(drawn[static_cast<std::size_t>(j)] / total));
  }
}

TEST(SequentialDraw, CompletesWhenFewerThanKExpertsHaveWeight) {
  const std::vector<double> w = {0, 0, 5, 0, 1};
  const detail::SequentialDraw draw(w);
  std::vector<std::uint64_t> scratch(draw.words(), 0);
  core::Rng rng(3);
  for (int s = 0; s < 100; ++s) {
    std::vector<ExpertId> out(4);
    draw.draw(4, rng, out.data(), nullptr, scratch.data());
    EXPECT_EQ(std::set<ExpertId>(out.begin(), out.begin() + 2), (std::set<ExpertId>{2, 4}));
    EXPECT_EQ(out[2], 0);
    EXPECT_EQ(out[3], 1);
  }
}

TEST(Calibration, RecoversAPlantedLaw) {
  GeneratorParams planted;
  planted.skew = 1.0;
  planted.topic_strength = 3.0;
  planted.structure_seed = 77;
  const TraceShape shape{{0, 1}, 32, 4};
  const Trace real = generate(shape, 20000, planted, 3);
  const auto target = target_from_trace(real, "planted");
  CalibrationOptions options;
  options.tokens_per_round = 8000;
  const Calibration c = calibrate(target, shape, {}, options);
  EXPECT_EQ(c.fitted_on, "coactivation lift");
  EXPECT_NEAR(c.achieved, c.target, 0.03);
  const auto fitted = target_stats(target_from_trace(generate(shape, 20000, c.params, 8), "fit"));
  const auto truth = target_stats(target);
  for (std::size_t l = 0; l < truth.size(); ++l) {
    EXPECT_NEAR(fitted[l].imbalance, truth[l].imbalance, 0.15 * truth[l].imbalance);
    EXPECT_NEAR(fitted[l].entropy, truth[l].entropy, 0.02);
  }
}

TEST(Calibration, RoundTripsAtAnyNumberOfLayers) {
  // Fitted on three measured layers of an eight-layer model, the parameters must reproduce each
  // measured layer's statistics when the whole model is generated, at another token count.
  GeneratorParams planted;
  planted.skew = 1.6;
  planted.topic_strength = 4.0;
  planted.structure_seed = 42;
  const TraceShape measured{{0, 3, 7}, 32, 4};
  const auto target = target_from_trace(generate(measured, 16000, planted, 5), "planted");
  const TraceShape model{{0, 1, 2, 3, 4, 5, 6, 7}, 32, 4};
  CalibrationOptions options;
  options.tokens_per_round = 4000;
  options.bisection_steps = 5;
  const Calibration c = calibrate(target, model, {}, options);
  const Trace whole = generate(model, 24000, c.params, 9);
  Trace part = make_trace(measured, whole.tokens);  // the measured layers of the whole model
  for (int l = 0; l < 3; ++l) {
    const auto block = whole.layer_block(measured.layer_ids[static_cast<std::size_t>(l)]);
    std::copy(block.begin(), block.end(), part.experts.begin() + part.offset(l, 0));
  }
  const auto got = target_stats(target_from_trace(part, "generated"));
  const auto truth = target_stats(target);
  for (std::size_t l = 0; l < truth.size(); ++l) {
    EXPECT_NEAR(got[l].imbalance, truth[l].imbalance, 0.08 * truth[l].imbalance) << "layer " << l;
    EXPECT_NEAR(got[l].entropy, truth[l].entropy, 0.01) << "layer " << l;
    EXPECT_NEAR(got[l].top_decile_share, truth[l].top_decile_share, 0.03) << "layer " << l;
  }
}

TEST(Calibration, FitsTheStickinessToConsecutiveReuseAndRoundTrips) {
  // A planted stickiness is recovered from the consecutive reuse of an ordered trace, and the
  // fitted parameters reproduce the reuse at another length and number of layers.
  GeneratorParams planted;
  planted.stickiness = 0.6;
  planted.sequence_length = 100;
  planted.structure_seed = 5;
  const TraceShape measured{{0, 2}, 32, 4};
  const auto target = target_from_trace(generate(measured, 12000, planted, 6), "planted");
  ASSERT_EQ(target.consecutive_reuse.size(), 2u);
  EXPECT_EQ(target.sequence_length, 100);
  CalibrationOptions options;
  options.tokens_per_round = 4000;
  options.popularity_rounds = 6;
  options.bisection_steps = 7;
  const TraceShape model{{0, 1, 2, 3}, 32, 4};
  const Calibration c = calibrate(target, model, {}, options);
  EXPECT_NEAR(c.reuse_target, (target.consecutive_reuse[0] + target.consecutive_reuse[1]) / 2,
              1e-12);
  // Not the planted value itself: the fitted law's topics are drawn afresh, and how many
  // experts two tokens of one topic share depends on them.
  EXPECT_GT(c.params.stickiness, 0.3);
  EXPECT_LT(c.params.stickiness, 0.95);
  EXPECT_EQ(c.params.sequence_length, 100);
  const auto again = consecutive_reuse(generate(model, 20000, c.params, 7));
  for (const int l : {0, 2})
    EXPECT_NEAR(again[static_cast<std::size_t>(l)],
                target.consecutive_reuse[static_cast<std::size_t>(l / 2)], 0.03)
        << "layer " << l;
  // Unordered input (per-token counts) fits no stickiness.
  const auto counts = read_token_expert_counts(kData + "/token-experts/olmoe-1b-7b-arxiv.json");
  const auto unordered = target_from_token_experts(counts, 4000, 1);
  EXPECT_TRUE(unordered.consecutive_reuse.empty());
}

TEST(Calibration, ReportsTheSamplingNoiseOfEachStatistic) {
  // Half the difference of two halves: small for a long input, larger for a short one, and
  // absent for aggregate counts.
  const TraceShape shape{{0, 1}, 32, 4};
  const auto longer = target_from_trace(generate(shape, 40000, {}, 2), "long");
  const auto shorter = target_from_trace(generate(shape, 1000, {}, 2), "short");
  ASSERT_EQ(longer.noise.size(), 2u);
  double a = 0, b = 0;
  for (std::size_t l = 0; l < 2; ++l) {
    EXPECT_EQ(longer.noise[l].layer_id, static_cast<int>(l));
    ASSERT_TRUE(longer.noise[l].coactivation_lift && longer.noise[l].consecutive_reuse);
    EXPECT_GE(*longer.noise[l].coactivation_lift, 0);
    EXPECT_LT(longer.noise[l].entropy, 0.01);
    a += longer.noise[l].entropy + *longer.noise[l].coactivation_lift;
    b += shorter.noise[l].entropy + *shorter.noise[l].coactivation_lift;
  }
  EXPECT_LT(a, b);
  const auto counts = target_from_expert_counts(kData + "/olmoe-mixtral-expert-counts.json",
                                                "olmoe", "arxiv", 64, 8);
  EXPECT_TRUE(counts.noise.empty());
}

TEST(Generator, ALayersLawDoesNotDependOnTheOtherLayers) {
  // Layer 5's popularity and topics come from its own stream: the same law in a trace of layer 5
  // alone and in one of layers 0 to 5, so the experts' counts there correlate closely (two
  // different drawn laws would not correlate at all).
  GeneratorParams p;
  p.stickiness = 0;
  const Trace alone = generate({{5}, 32, 4}, 8000, p, 3);
  const Trace among = generate({{0, 1, 2, 3, 4, 5}, 32, 4}, 8000, p, 4);
  std::vector<double> a(32), b(32);
  for (const ExpertId e : alone.layer_block(0))
    ++a[e];
  for (const ExpertId e : among.layer_block(5))
    ++b[e];
  const auto centred = [](std::vector<double> v) {
    const double m = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    for (auto& x : v)
      x -= m;
    return v;
  };
  const auto ca = centred(a), cb = centred(b);
  const double r = std::inner_product(ca.begin(), ca.end(), cb.begin(), 0.0) /
                   std::sqrt(std::inner_product(ca.begin(), ca.end(), ca.begin(), 0.0) *
                             std::inner_product(cb.begin(), cb.end(), cb.begin(), 0.0));
  EXPECT_GT(r, 0.95);
}

// A law's structure is kept between draws (generator.cpp, structure_of). Each law below differs
// from the base in one thing the structure depends on, and is drawn right after the base, whose
// structure is then kept: were that thing left out of what tells kept structures apart, the law
// would reuse the base's structure and come out the same as the base, or, where the thing also
// changes the draws, differently from when drawn again once the base's structure is gone.
TEST(Generator, KeptStructuresTellEveryLawApart) {
  GeneratorParams base;
  base.balanced = true;
  base.layer_strength = {4.0, 3.0};
  const TraceShape shape{{0, 1}, 16, 4};
  using Law = std::pair<TraceShape, GeneratorParams>;
  std::vector<std::pair<std::string, Law>> laws;
  auto with = [&](const std::string& what, auto&& change) {
    Law law{shape, base};
    change(law.first, law.second);
    laws.emplace_back(what, law);
  };
  with("skew", [](TraceShape&, GeneratorParams& p) { p.skew = 1.0; });
  with("topics", [](TraceShape&, GeneratorParams& p) { p.topics = 4; });
  with("topic_share", [](TraceShape&, GeneratorParams& p) { p.topic_share = 0.5; });
  with("layer_strength", [](TraceShape&, GeneratorParams& p) { p.layer_strength = {1.0, 3.0}; });
  with("domain_spread", [](TraceShape&, GeneratorParams& p) { p.domain_spread = 3.0; });
  with("domains", [](TraceShape&, GeneratorParams& p) { p.domains = {"a", "b"}; });
  with("structure_seed", [](TraceShape&, GeneratorParams& p) { p.structure_seed = 2; });
  with("balanced", [](TraceShape&, GeneratorParams& p) { p.balanced = false; });
  with("popularity", [](TraceShape&, GeneratorParams& p) {
    p.popularity.assign(2, std::vector<double>(16, 0.0));
    p.popularity[0][3] = 2.0;
  });
  with("experts", [](TraceShape& s, GeneratorParams&) { s.experts = 17; });
  with("layer_ids", [](TraceShape& s, GeneratorParams&) { s.layer_ids = {0, 2}; });
  with("top_k", [](TraceShape& s, GeneratorParams&) { s.top_k = 3; });
  // With two domains, so that their spread shapes the topics' frequencies.
  Law two_domains{shape, base};
  two_domains.second.domains = {"a", "b"};
  Law spread = two_domains;
  spread.second.domain_spread = 3.0;
  // Without per-layer strengths, so that the topic strength applies.
  Law plain{shape, base};
  plain.second.layer_strength.clear();
  Law strength = plain;
  strength.second.topic_strength = 2.0;
  // The experts drawn, not the header, which names the shape.
  auto experts = [](const Law& law) {
    const Trace t = generate(law.first, 400, law.second, 7);
    return std::vector<ExpertId>(t.experts.begin(), t.experts.end());
  };
  const Law plain_base{shape, base};
  std::vector<std::vector<ExpertId>> after_base;
  for (const auto& [what, law] : laws) {
    const auto before = experts(plain_base);
    after_base.push_back(experts(law));
    EXPECT_TRUE(after_base.back() != before) << what;
  }
  EXPECT_TRUE(experts(two_domains) != experts(spread)) << "domain_spread, two domains";
  EXPECT_TRUE(experts(plain) != experts(strength)) << "topic_strength";
  // Drawn again once the base's structure is no longer kept (the shape's experts and k, and
  // the domains, change the draws whatever the structure: only this tells those).
  for (std::size_t i = 0; i < laws.size(); ++i)
    EXPECT_TRUE(experts(laws[i].second) == after_base[i]) << laws[i].first;
}

TEST(Generator, ThreadsDrawingAtOnceGetTheTracesDrawnAlone) {
  GeneratorParams a, b;
  a.balanced = true;
  b.skew = 0.5;
  const TraceShape shape{{0, 1, 2}, 32, 4};
  auto draw = [&](const GeneratorParams& p, std::uint64_t seed) {
    return serialise_trace(generate(shape, 300, p, seed), Format::native);
  };
  const std::string alone_a = draw(a, 1), alone_b = draw(b, 2);
  std::vector<std::string> got(8);
  {
    std::vector<std::jthread> threads;
    for (std::size_t i = 0; i < got.size(); ++i)
      threads.emplace_back([&, i] { got[i] = i % 2 == 0 ? draw(a, 1) : draw(b, 2); });
  }
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_TRUE(got[i] == (i % 2 == 0 ? alone_a : alone_b)) << i;
}

TEST(Calibration, WarnsWhenAFitEndsAtABound) {
  // Lifts no topic strength reaches: below independent routing's, and far above.
  auto target = target_from_trace(generate({{0, 1}, 16, 2}, 2000, {}, 1), "planted");
  target.coactivation_lift = {-1.0, 5.0};
  target.consecutive_reuse.clear();  // the strength's warnings alone
  CalibrationOptions options;
  options.tokens_per_round = 2000;
  options.popularity_rounds = 2;
  options.bisection_steps = 4;
  const Calibration c = calibrate(target, target.shape, {}, options);
  ASSERT_EQ(c.warnings.size(), 2u);
  EXPECT_NE(c.warnings[0].find("layer 0: topic strength 0.250 at the bound 0 "), std::string::npos)
      << c.warnings[0];
  EXPECT_NE(c.warnings[1].find("layer 1: topic strength 7.750 at the bound 8 "), std::string::npos)
      << c.warnings[1];
  // A reachable target warns of nothing.
  target.coactivation_lift =
      target_from_trace(generate({{0, 1}, 16, 2}, 2000, {}, 2), "t").coactivation_lift;
  EXPECT_TRUE(calibrate(target, target.shape, {}, options).warnings.empty());
}

TEST(Calibration, ReadsTheSharedExpertCounts) {
  const auto target = target_from_expert_counts(kData + "/olmoe-mixtral-expert-counts.json",
                                                "olmoe", "github", 64, 8);
  ASSERT_EQ(target.counts.size(), 3u);
  ASSERT_EQ(target.transitions.size(), 2u);
  EXPECT_GT(imbalance_of(target.counts[0]), 2.0);  // OLMoE's popularity is skewed (README: 3-8x)
  EXPECT_THROW(target_from_expert_counts(kData + "/olmoe-mixtral-expert-counts.json", "olmoe",
                                         "poetry", 64, 8),
               core::InputError);
  // OLMoE's 64 experts cannot calibrate a 128-expert model.
  EXPECT_THROW(target_from_expert_counts(kData + "/olmoe-mixtral-expert-counts.json", "olmoe",
                                         "arxiv", 128, 8),
               core::InputError);
}

}  // namespace
}  // namespace mozart::trace
