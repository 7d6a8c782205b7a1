#include "mozart/trace/like.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/random.hpp"
#include "mozart/trace/draw.hpp"
#include "mozart/trace/edit.hpp"
#include "mozart/trace/memory.hpp"
#include "mozart/trace/priors.hpp"
#include "mozart/trace/progress.hpp"

namespace mozart::trace {
namespace {

using core::AliasTable;
using core::InputError;
using core::Rng;

constexpr std::size_t kTokensPerTick = std::size_t{1} << 12;
constexpr int kRuns = 16;  // contiguous runs the fitting sample is taken in
// Pseudo-count per expert in each topic: keeps every expert possible under every topic (the
// fit's log-likelihood stays finite) at a weight far below one real choice.
constexpr double kExpertPrior = 0.01;

// The tokens fitted on: all, or `cap` in kRuns contiguous runs spread over the source (runs
// keep consecutive tokens together for the reuse statistic). Sequence ids are renumbered so
// that no run continues the sequence of the run before it.
Trace fitting_sample(const Trace& source, std::size_t cap) {
  if (source.tokens <= cap)
    return source;
  const std::size_t run = cap / kRuns;
  std::vector<std::size_t> picked;
  for (int r = 0; r < kRuns; ++r) {
    const std::size_t first = (source.tokens - run) * static_cast<std::size_t>(r) / (kRuns - 1);
    for (std::size_t t = first; t < first + run; ++t)
      picked.push_back(t);
  }
  Trace out = make_trace(source.shape, picked.size(), source.model);
  const auto k = static_cast<std::size_t>(source.top_k());
  std::uint32_t sequence = 0;
  for (std::size_t i = 0; i < picked.size(); ++i) {
    const std::size_t t = picked[i];
    if (i > 0 && (picked[i - 1] + 1 != t || source.sequence[t] != source.sequence[t - 1]))
      ++sequence;
    out.sequence[i] = sequence;
    out.position[i] = source.position[t];
    for (int l = 0; l < source.layers(); ++l)
      std::copy_n(source.experts.data() + source.offset(l, t), k,
                  out.experts.data() + out.offset(l, i));
  }
  return out;
}

// Expectation-maximisation for one layer's mixture of multinomials. Returns the layer and
// leaves each token's topic responsibilities (tokens × topics) in `resp`.
class MixtureFit {
 public:
  MixtureFit(const Trace& sample, int layer, int topics, std::uint64_t seed)
      : sample_(sample),
        layer_(layer),
        topics_(static_cast<std::size_t>(topics)),
        experts_(static_cast<std::size_t>(sample.num_experts())),
        log_expert_(experts_ * topics_),
        log_share_(topics_, -std::log(static_cast<double>(topics))) {
    start(seed);
  }

  void iterate(std::vector<float>& resp) {
    const auto k = static_cast<std::size_t>(sample_.top_k());
    std::vector<double> counts(experts_ * topics_, 0.0), mass(topics_, 0.0), score(topics_);
    resp.resize(sample_.tokens * topics_);
    for (std::size_t t = 0; t < sample_.tokens; ++t) {
      const auto chosen = sample_.choices(layer_, t);
      std::copy(log_share_.begin(), log_share_.end(), score.begin());
      for (const ExpertId e : chosen) {
        const double* row = log_expert_.data() + static_cast<std::size_t>(e) * topics_;
        for (std::size_t z = 0; z < topics_; ++z)
          score[z] += row[z];
      }
      const double top = *std::max_element(score.begin(), score.end());
      double total = 0;
      for (auto& s : score)  // a topic e^-16 below the best takes no part
        total += (s = s - top < -16 ? 0.0 : std::exp(s - top));
      float* r = resp.data() + t * topics_;
      for (std::size_t z = 0; z < topics_; ++z) {
        const double p = score[z] / total;
        r[z] = static_cast<float>(p);
        mass[z] += p;
      }
      for (const ExpertId e : chosen) {
        double* row = counts.data() + static_cast<std::size_t>(e) * topics_;
        for (std::size_t z = 0; z < topics_; ++z)
          row[z] += r[z];
      }
    }
    const double tokens = static_cast<double>(sample_.tokens);
    for (std::size_t z = 0; z < topics_; ++z) {
      log_share_[z] = std::log(std::max(mass[z], 1e-12) / tokens);
      const double norm =
          std::log(mass[z] * static_cast<double>(k) + kExpertPrior * static_cast<double>(experts_));
      for (std::size_t e = 0; e < experts_; ++e)
        log_expert_[e * topics_ + z] = std::log(counts[e * topics_ + z] + kExpertPrior) - norm;
    }
  }

  LikeLayer layer() const {
    LikeLayer out;
    out.layer_id = sample_.shape.layer_ids[static_cast<std::size_t>(layer_)];
    for (std::size_t z = 0; z < topics_; ++z) {
      out.share.push_back(std::exp(log_share_[z]));
      auto& weights = out.experts.emplace_back(experts_);
      for (std::size_t e = 0; e < experts_; ++e)
        weights[e] = std::exp(log_expert_[e * topics_ + z]);
    }
    return out;
  }

 private:
  // Each topic starts at a distinct sampled token's experts, half of its weight on them and
  // half spread as the layer's popularity: topics start apart, and none starts empty.
  void start(std::uint64_t seed) {
    const auto k = static_cast<double>(sample_.top_k());
    std::vector<double> popularity(experts_, 1.0);
    for (const ExpertId e : sample_.layer_block(layer_))
      popularity[e] += 1;
    const double total = std::accumulate(popularity.begin(), popularity.end(), 0.0);
    Rng rng(seed);
    std::vector<std::size_t> order(sample_.tokens);
    std::iota(order.begin(), order.end(), std::size_t{0});
    for (std::size_t z = 0; z < topics_; ++z) {
      std::swap(order[z], order[z + rng.below(order.size() - z)]);
      std::vector<double> w(experts_);
      for (std::size_t e = 0; e < experts_; ++e)
        w[e] = 0.5 * popularity[e] / total;
      for (const ExpertId e : sample_.choices(layer_, order[z]))
        w[e] += 0.5 / k;
      for (std::size_t e = 0; e < experts_; ++e)
        log_expert_[e * topics_ + z] = std::log(w[e]);
    }
  }

  const Trace& sample_;
  int layer_;
  std::size_t topics_, experts_;
  std::vector<double> log_expert_;  // [expert][topic]
  std::vector<double> log_share_;
};

// How each topic of a layer follows the topics of the layer above, from the responsibilities
// of both (one pseudo-token spread as the layer's shares smooths rare rows).
std::vector<std::vector<double>> given_above(const std::vector<float>& above,
                                             const std::vector<float>& here,
                                             const std::vector<double>& share, std::size_t tokens) {
  const std::size_t topics = share.size();
  std::vector<std::vector<double>> out(topics, share);
  for (std::size_t t = 0; t < tokens; ++t) {
    const float* a = above.data() + t * topics;
    const float* h = here.data() + t * topics;
    for (std::size_t y = 0; y < topics; ++y) {
      if (a[y] < 1e-4f)
        continue;
      for (std::size_t z = 0; z < topics; ++z)
        out[y][z] += static_cast<double>(a[y]) * static_cast<double>(h[z]);
    }
  }
  for (auto& row : out) {
    const double total = std::accumulate(row.begin(), row.end(), 0.0);
    for (auto& v : row)
      v /= total;
  }
  return out;
}

double mean_of(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double mx = mean_of(x), my = mean_of(y);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : 0.0;
}

// For pairs a < b: the share of tokens choosing both, and that share were the two chosen
// independently (the product of the shares of tokens choosing each).
struct PairShares {
  std::vector<double> share, expected;
};
PairShares pair_shares(const LayerPriors& layer, std::size_t tokens, int top_k) {
  const std::size_t e = layer.counts.size();
  const double n = static_cast<double>(tokens);
  PairShares out;
  for (std::size_t i = 0; i < e; ++i)
    for (std::size_t j = i + 1; j < e; ++j) {
      out.share.push_back(static_cast<double>(layer.coactivation[i * e + j]) / n);
      out.expected.push_back(layer.frequency[i] * layer.frequency[j] * top_k * top_k);
    }
  return out;
}

bool has_consecutive_pairs(const Trace& t) {
  for (std::size_t i = 1; i < t.tokens; ++i)
    if (t.sequence[i] == t.sequence[i - 1])
      return true;
  return false;
}

// The drawing tables of a model over an output shape.
struct Sampler {
  std::vector<std::vector<AliasTable>> topic_of_layer;       // [source layer][topic above]
  std::vector<AliasTable> first;                             // the first layer's topics
  std::vector<std::vector<detail::SequentialDraw>> experts;  // [source layer][topic]
  std::vector<std::size_t> source_of;                        // per output layer
  std::vector<std::vector<ExpertId>> rename;                 // per output layer; empty: identity

  Sampler(const LikeModel& m, const TraceShape& shape) {
    const auto& ids = m.shape.layer_ids;
    for (const auto& layer : m.layers) {
      auto& rows = topic_of_layer.emplace_back();
      for (const auto& row : layer.given_above)
        rows.emplace_back(row);
      auto& tables = experts.emplace_back();
      for (const auto& w : layer.experts)
        tables.emplace_back(w);
    }
    first.emplace_back(m.layers.front().share);
    for (const int id : shape.layer_ids) {
      std::size_t nearest = 0;
      for (std::size_t i = 1; i < ids.size(); ++i)
        if (std::abs(ids[i] - id) < std::abs(ids[nearest] - id))
          nearest = i;
      source_of.push_back(nearest);
      auto& map = rename.emplace_back();
      if (ids[nearest] == id)
        continue;
      // A layer the source did not record: the nearest one's law, its experts renamed by a
      // permutation fixed by the layer id.
      map.resize(static_cast<std::size_t>(shape.experts));
      std::iota(map.begin(), map.end(), ExpertId{0});
      Rng rng(0x5DEECE66Dull ^ (static_cast<std::uint64_t>(id) + 1) * 0x9E3779B97F4A7C15ull);
      for (std::size_t i = map.size(); i > 1; --i)
        std::swap(map[i - 1], map[rng.below(i)]);
    }
  }
};

// With `gates` (the model's own gates), the chosen experts' gates too: they take no random draws,
// so the experts are the same either way (the fit's rounds look at the experts only).
Trace draw_like(const LikeModel& m, const TraceShape& shape, std::size_t tokens, std::uint64_t seed,
                const std::string& name, int sequence_length, double persistence, bool gates,
                const Progress& progress) {
  const Sampler sampler(m, shape);
  Trace trace = make_trace(shape, tokens, name);
  if (gates)
    trace.gates.resize(trace.experts.size());  // every gate is drawn below
  Rng rng(seed);
  const auto seq_len = static_cast<std::size_t>(sequence_length);
  const int k = shape.top_k;
  std::vector<std::uint32_t> topic(m.layers.size(), 0);
  std::vector<std::uint64_t> picked(sampler.experts.front().front().words(), 0);
  detail::ProgressTicker ticker(progress, tokens, kTokensPerTick);
  for (std::size_t t = 0; t < tokens; ++t) {
    ticker.at(t);
    trace.sequence[t] = static_cast<std::uint32_t>(t / seq_len);
    trace.position[t] = static_cast<std::uint32_t>(t % seq_len);
    if (trace.position[t] == 0 || rng.uniform() >= persistence) {
      topic[0] = sampler.first[0].draw(rng);
      for (std::size_t l = 1; l < topic.size(); ++l)
        topic[l] = sampler.topic_of_layer[l][topic[l - 1]].draw(rng);
    }
    for (int j = 0; j < trace.layers(); ++j) {
      const auto s = sampler.source_of[static_cast<std::size_t>(j)];
      const auto z = topic[s];
      const auto at = trace.offset(j, t);
      ExpertId* out = trace.experts.data() + at;
      sampler.experts[s][z].draw(k, rng, out, gates ? trace.gates.data() + at : nullptr,
                                 picked.data());
      if (const auto& map = sampler.rename[static_cast<std::size_t>(j)]; !map.empty())
        for (int i = 0; i < k; ++i)
          out[i] = map[out[i]];
    }
  }
  ticker.finish();
  return trace;
}

// Drawing k distinct experts caps how often a topic's heaviest experts are chosen, which the
// mixture (fitted as if draws were independent) does not see: each expert's weight in every
// topic is scaled by its source share over its generated share, round after round.
void fit_popularity(LikeModel& m, const Trace& sample, const LikeOptions& options) {
  const auto e = static_cast<std::size_t>(m.shape.experts);
  for (int round = 0; round < options.popularity_rounds; ++round) {
    const Trace t = draw_like(m, m.shape, options.reuse_tokens,
                              options.seed + 104729 * static_cast<std::uint64_t>(round + 1), {},
                              m.sequence_length, 0.0, false, {});
    for (int l = 0; l < t.layers(); ++l) {
      std::vector<double> want(e, 0.5), got(e, 0.5);
      for (const ExpertId x : sample.layer_block(l))
        want[x] += 1;
      for (const ExpertId x : t.layer_block(l))
        got[x] += 1;
      const double scale = std::accumulate(got.begin(), got.end(), 0.0) /
                           std::accumulate(want.begin(), want.end(), 0.0);
      for (auto& topic : m.layers[static_cast<std::size_t>(l)].experts) {
        double total = 0;
        for (std::size_t x = 0; x < e; ++x)
          total += (topic[x] *= want[x] * scale / got[x]);
        for (auto& w : topic)
          w /= total;
      }
    }
  }
}

// The persistence whose generated reuse (mean over layers) is the target's, by bisection.
void fit_persistence(LikeModel& m, const LikeOptions& options) {
  const auto reuse_at = [&](double persistence, int round) {
    const Trace t = draw_like(m, m.shape, options.reuse_tokens,
                              options.seed + 7919 * static_cast<std::uint64_t>(round + 1), {},
                              m.sequence_length, persistence, false, {});
    return mean_of(consecutive_reuse(t));
  };
  if (m.target_reuse < 0 || m.sequence_length < 2) {
    m.achieved_reuse = m.sequence_length < 2 ? 0.0 : reuse_at(0, 0);
    return;
  }
  const detail::UnitFit fit =
      detail::fit_unit_interval(reuse_at, m.target_reuse, options.reuse_steps);
  m.persistence = fit.value;
  m.achieved_reuse = reuse_at(m.persistence, options.reuse_steps);
  if (fit.at_bound >= 0)
    m.warnings.push_back(fmt::format(
        "persistence {:.3f} at the bound {} of its search [0, 1]: consecutive reuse {:.4f} "
        "wanted, {:.4f} reached ({})",
        m.persistence, fit.at_bound, m.target_reuse, m.achieved_reuse,
        fit.at_bound == 0 ? "independent tokens of this law already share more experts"
                          : "tokens of one topic share fewer experts than the source's do"));
}

}  // namespace

LikeModel fit_like(const Trace& source, const std::string& label, const LikeOptions& options) {
  validate_shape(source.shape, label);
  if (source.tokens < 2)
    throw InputError({label, "tokens", 0}, std::to_string(source.tokens),
                     "at least 2 tokens to fit a generator on");
  if (options.topics < 1 || options.iterations < 1 || options.fit_tokens < 2)
    throw InputError({label, "like options", 0}, std::to_string(options.topics),
                     "at least 1 topic, 1 iteration and 2 fitting tokens");
  const Trace sample = fitting_sample(source, options.fit_tokens);
  const int topics = static_cast<int>(std::min<std::size_t>(
      static_cast<std::size_t>(options.topics), std::max<std::size_t>(1, sample.tokens / 4)));
  LikeModel m;
  m.source = label;
  m.model = source.model;
  m.shape = source.shape;
  m.gates = !source.gates.empty();
  m.sequence_length = static_cast<int>(std::clamp<std::size_t>(
      (source.tokens + count_sequences(source) / 2) / count_sequences(source), 1, 1u << 24));
  std::vector<float> above, here;
  for (int l = 0; l < sample.layers(); ++l) {
    MixtureFit fit(sample, l, topics,
                   options.seed ^ (static_cast<std::uint64_t>(sample.shape.layer_ids[l]) + 1) *
                                      0x9E3779B97F4A7C15ull);
    for (int i = 0; i < options.iterations; ++i)
      fit.iterate(here);
    LikeLayer layer = fit.layer();
    if (l > 0)
      layer.given_above = given_above(above, here, layer.share, sample.tokens);
    else
      layer.given_above.clear();
    m.layers.push_back(std::move(layer));
    std::swap(above, here);
  }
  fit_popularity(m, sample, options);
  if (has_consecutive_pairs(sample))
    m.target_reuse = mean_of(consecutive_reuse(sample));
  fit_persistence(m, options);
  return m;
}

Trace generate_like(const LikeModel& m, std::size_t tokens, std::uint64_t seed,
                    const TraceShape& requested, const std::string& model_name, int sequence_length,
                    const Progress& progress) {
  const TraceShape shape = requested.layer_ids.empty() ? m.shape : requested;
  validate_shape(shape, "trace gen --like");
  if (shape.experts != m.shape.experts || shape.top_k != m.shape.top_k)
    throw InputError({m.source, "shape", 0},
                     fmt::format("{} experts, top-{}", m.shape.experts, m.shape.top_k),
                     fmt::format("the model's {} experts, top-{} (a trace of another model?)",
                                 shape.experts, shape.top_k));
  if (tokens == 0)
    throw InputError({"trace gen --like", "tokens", 0}, "0", "at least one token");
  require_trace_memory(tokens, shape, m.gates, false,
                       model_name.empty() ? std::string("trace gen --like") : model_name);
  return draw_like(m, shape, tokens, seed, model_name.empty() ? m.model : model_name,
                   sequence_length > 0 ? sequence_length : m.sequence_length, m.persistence,
                   m.gates, progress);
}

std::vector<CoactivationMatch> coactivation_correlation(const Trace& a, const Trace& b) {
  if (a.shape.layer_ids != b.shape.layer_ids || a.num_experts() != b.num_experts())
    throw InputError({"coactivation_correlation", "shape", 0},
                     fmt::format("{} layers of {} experts", b.layers(), b.num_experts()),
                     fmt::format("{} layers of {} experts", a.layers(), a.num_experts()));
  const auto pa = compute_priors(a, {0, true}), pb = compute_priors(b, {0, true});
  std::vector<CoactivationMatch> out;
  for (std::size_t l = 0; l < pa.layers.size(); ++l) {
    const auto x = pair_shares(pa.layers[l], a.tokens, a.top_k());
    const auto y = pair_shares(pb.layers[l], b.tokens, b.top_k());
    CoactivationMatch match;
    match.matrix = pearson(x.share, y.share);
    // Lifts of pairs both traces expect at least 10 times under independence: rarer pairs'
    // lifts are mostly sampling noise.
    std::vector<double> lx, ly;
    for (std::size_t i = 0; i < x.share.size(); ++i)
      if (x.expected[i] * static_cast<double>(a.tokens) >= 10 &&
          y.expected[i] * static_cast<double>(b.tokens) >= 10) {
        lx.push_back(x.share[i] / x.expected[i]);
        ly.push_back(y.share[i] / y.expected[i]);
      }
    match.lift = pearson(lx, ly);
    out.push_back(match);
  }
  return out;
}

nlohmann::ordered_json summary_json(const LikeModel& m) {
  nlohmann::ordered_json j;
  j["source"] = m.source;
  j["layer_ids"] = m.shape.layer_ids;
  j["experts"] = m.shape.experts;
  j["top_k"] = m.shape.top_k;
  j["topics"] = m.layers.empty() ? 0 : m.layers.front().share.size();
  j["sequence_length"] = m.sequence_length;
  j["persistence"] = m.persistence;
  j["target_reuse"] =
      m.target_reuse < 0 ? nlohmann::ordered_json() : nlohmann::ordered_json(m.target_reuse);
  j["achieved_reuse"] = m.achieved_reuse;
  j["warnings"] = m.warnings;
  return j;
}

}  // namespace mozart::trace
