#include "mozart/trace/calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"
#include "mozart/core/random.hpp"
#include "mozart/trace/draw.hpp"
#include "mozart/trace/edit.hpp"
#include "mozart/trace/progress.hpp"

namespace mozart::trace {
namespace {

using core::InputError;

// The target without its sampling noise (for generated samples and the halves).
CalibrationTarget target_from_trace_only(const Trace& trace, const std::string& label);

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

std::vector<double> log_shares(const std::vector<std::uint64_t>& counts) {
  const double total =
      static_cast<double>(std::accumulate(counts.begin(), counts.end(), std::uint64_t{0}));
  std::vector<double> out(counts.size());
  for (std::size_t e = 0; e < counts.size(); ++e)
    out[e] = std::log((static_cast<double>(counts[e]) + 0.5) /
                      (total + 0.5 * static_cast<double>(counts.size())));
  return out;
}

std::vector<std::uint64_t> counts_object(const nlohmann::json& object, int experts,
                                         const std::string& path, const std::string& key) {
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(experts), 0);
  for (const auto& [id, n] : object.items()) {
    const int e = std::stoi(id);
    if (e < 0 || e >= experts)
      throw InputError({path, key, 0}, id, fmt::format("an expert id in [0, {}]", experts - 1));
    counts[static_cast<std::size_t>(e)] = n.get<std::uint64_t>();
  }
  return counts;
}

std::vector<std::uint64_t> pairs_object(const nlohmann::json& object, int experts,
                                        const std::string& path, const std::string& key) {
  const auto e = static_cast<std::size_t>(experts);
  std::vector<std::uint64_t> t(e * e, 0);
  for (const auto& [pair, n] : object.items()) {
    const auto comma = pair.find(',');
    const int a = std::stoi(pair.substr(0, comma));
    const int b = std::stoi(pair.substr(comma + 1));
    if (comma == std::string::npos || a < 0 || b < 0 || a >= experts || b >= experts)
      throw InputError({path, key, 0}, pair,
                       fmt::format("\"a,b\" with ids in [0, {}]", experts - 1));
    t[static_cast<std::size_t>(a) * e + static_cast<std::size_t>(b)] = n.get<std::uint64_t>();
  }
  return t;
}

// The statistic the topic strength is fitted on, and whether it falls as the strength grows.
struct FitStatistic {
  std::string name;
  bool falls = true;
  double target = 0;
};

FitStatistic fit_statistic(const CalibrationTarget& target) {
  if (!target.coactivation_lift.empty())
    return {"coactivation lift", false, mean(target.coactivation_lift)};
  if (!target.transitions.empty()) {
    std::vector<double> c;
    for (const auto& t : target.transitions)
      c.push_back(transition_concentration(t, target.shape.experts));
    return {"transition concentration", false, mean(c)};
  }
  return {"popularity only", true, 0};
}

// Per layer for the lift; one value (the mean over layer pairs) for transitions.
std::vector<double> measure(const FitStatistic& statistic, const CalibrationTarget& generated) {
  if (statistic.name == "coactivation lift")
    return generated.coactivation_lift;
  std::vector<double> c;
  for (const auto& t : generated.transitions)
    c.push_back(transition_concentration(t, generated.shape.experts));
  return {mean(c)};
}

std::vector<double> wanted(const FitStatistic& statistic, const CalibrationTarget& target) {
  if (statistic.name == "coactivation lift")
    return target.coactivation_lift;
  return {statistic.target};
}

class Fitter {
 public:
  Fitter(const CalibrationTarget& target, const CalibrationOptions& options, std::size_t rounds)
      : target_(target), options_(options), ticker_(options.progress, rounds, 1) {}

  void finish() const { ticker_.finish(); }

  // Drives each measured layer's generated shares towards the target's.
  void fit_popularity(GeneratorParams& p, int rounds) const {
    for (int r = 0; r < rounds; ++r) {
      const Trace trace = generate(target_.shape, options_.tokens_per_round, unsticky(p),
                                   options_.seed + static_cast<std::uint64_t>(r));
      ticker_.at(++done_);
      for (int l = 0; l < trace.layers(); ++l) {
        std::vector<std::uint64_t> counts(static_cast<std::size_t>(trace.num_experts()), 0);
        for (const ExpertId id : trace.layer_block(l))
          ++counts[id];
        const auto want = log_shares(target_.counts[static_cast<std::size_t>(l)]);
        const auto got = log_shares(counts);
        auto& w = p.popularity[static_cast<std::size_t>(l)];
        for (std::size_t e = 0; e < w.size(); ++e)
          w[e] = std::clamp(w[e] + want[e] - got[e], -50.0, 50.0);
      }
    }
  }

  CalibrationTarget sample(const GeneratorParams& p) const {
    auto out = target_from_trace_only(
        generate(target_.shape, options_.tokens_per_round, unsticky(p), options_.seed + 99),
        "generated");
    ticker_.at(++done_);
    return out;
  }

 private:
  // Neither the shares, the lift nor the transitions depend on how long a topic lasts, but
  // their sampling noise does: fitting draws a fresh topic for every token.
  static GeneratorParams unsticky(GeneratorParams p) {
    p.stickiness = 0;
    return p;
  }

  const CalibrationTarget& target_;
  const CalibrationOptions& options_;
  mutable detail::ProgressTicker ticker_;
  mutable std::size_t done_ = 0;
};

// A strength whose search never left a bound of [0, kMaxStrength]: the generator's law cannot
// reach the target there (a lift below independent routing's, or above what topics give).
constexpr double kMaxStrength = 8.0;

std::vector<std::string> bound_warnings(const CalibrationTarget& target,
                                        const FitStatistic& statistic,
                                        const std::vector<double>& low,
                                        const std::vector<double>& high,
                                        const std::vector<double>& want,
                                        const std::vector<double>& got) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (low[i] > 0 && high[i] < kMaxStrength)
      continue;
    const std::string layer = want.size() == 1 ? std::string("all layers")
                                               : fmt::format("layer {}", target.shape.layer_ids[i]);
    out.push_back(fmt::format(
        "{}: topic strength {:.3f} at the bound {} of its search [0, {}]: {} {:.4f} wanted, "
        "{:.4f} reached",
        layer, 0.5 * (low[i] + high[i]), low[i] > 0 ? kMaxStrength : 0.0, kMaxStrength,
        statistic.name, want[i], got[i]));
  }
  return out;
}

// The generated rounds calibrate() runs, for its progress reports.
std::size_t rounds_of(const CalibrationOptions& o, bool fits_strength) {
  const auto rounds = static_cast<std::size_t>(std::max(o.popularity_rounds, 0));
  if (!fits_strength)
    return rounds;
  const auto steps = static_cast<std::size_t>(std::max(o.bisection_steps, 0));
  return steps * (rounds / 2 + 1) + rounds + 1;
}

std::size_t nearest_measured(const std::vector<int>& measured, int id) {
  std::size_t nearest = 0;
  for (std::size_t i = 1; i < measured.size(); ++i)
    if (std::abs(measured[i] - id) < std::abs(measured[nearest] - id))
      nearest = i;
  return nearest;
}

std::vector<double> expand_strength(const std::vector<double>& fitted,
                                    const std::vector<int>& measured, const TraceShape& model) {
  std::vector<double> out;
  for (const int id : model.layer_ids)
    out.push_back(fitted[nearest_measured(measured, id)]);
  return out;
}

std::vector<std::vector<double>> expand_to_model(const std::vector<std::vector<double>>& fitted,
                                                 const std::vector<int>& measured,
                                                 const TraceShape& model, std::uint64_t seed) {
  core::Rng rng(seed);
  std::vector<std::vector<double>> out;
  for (const int id : model.layer_ids) {
    const std::size_t nearest = nearest_measured(measured, id);
    auto weights = fitted[nearest];
    if (measured[nearest] != id)
      for (std::size_t i = weights.size(); i > 1; --i)
        std::swap(weights[i - 1], weights[rng.below(i)]);
    out.push_back(std::move(weights));
  }
  return out;
}

}  // namespace

namespace {

bool keeps_order(const Trace& trace) {
  for (std::size_t t = 1; t < trace.tokens; ++t)
    if (trace.sequence[t] == trace.sequence[t - 1])
      return true;
  return false;
}

// The fewest tokens halved for a sampling noise (two in each half).
constexpr std::size_t kHalvedTokens = 4;

// Half the difference of each statistic between the two halves of `trace`.
std::vector<LayerStats> half_difference(const Trace& trace, const std::string& label);

// The stickiness whose generated consecutive reuse (mean over the measured layers) is the
// target's, by bisection; the sequences take the target's mean length.
void fit_stickiness(const CalibrationTarget& target, const CalibrationOptions& options,
                    GeneratorParams& p, Calibration& out) {
  if (target.sequence_length > 0)
    p.sequence_length = target.sequence_length;
  out.reuse_target = mean(target.consecutive_reuse);
  const auto reuse_at = [&](double stickiness, int step) {
    GeneratorParams q = p;
    q.stickiness = stickiness;
    return mean(consecutive_reuse(generate(target.shape, options.tokens_per_round, q,
                                           options.seed + 500 + static_cast<std::uint64_t>(step))));
  };
  const detail::UnitFit fit =
      detail::fit_unit_interval(reuse_at, out.reuse_target, options.bisection_steps);
  p.stickiness = fit.value;
  out.reuse_achieved = reuse_at(p.stickiness, options.bisection_steps);
  if (fit.at_bound >= 0)
    out.warnings.push_back(fmt::format(
        "all layers: stickiness {:.3f} at the bound {} of its search [0, 1]: consecutive reuse "
        "{:.4f} wanted, {:.4f} reached",
        p.stickiness, fit.at_bound, out.reuse_target, out.reuse_achieved));
}

}  // namespace

CalibrationTarget target_from_trace(const Trace& trace, const std::string& label) {
  if (trace.tokens < 2)
    throw InputError({label, "tokens", 0}, std::to_string(trace.tokens),
                     "at least 2 tokens to fit a generator on");
  CalibrationTarget target = target_from_trace_only(trace, label);
  if (trace.tokens >= kHalvedTokens)
    target.noise = half_difference(trace, label);
  else
    target.no_noise =
        fmt::format("{} tokens are too few to halve; {} at least", trace.tokens, kHalvedTokens);
  return target;
}

namespace {

CalibrationTarget target_from_trace_only(const Trace& trace, const std::string& label) {
  CalibrationTarget target;
  target.label = label;
  target.shape = trace.shape;
  const Priors priors = compute_priors(trace, {0, true});
  for (const auto& layer : priors.layers) {
    target.counts.push_back(layer.counts);
    target.coactivation_lift.push_back(
        coactivation_lift(layer.coactivation, layer.counts, trace.top_k()));
    if (!layer.transitions.empty())
      target.transitions.push_back(layer.transitions);
  }
  if (trace.num_experts() >= 16) {
    const auto groups = contiguous_groups(trace.num_experts(), 16);
    for (int l = 0; l < trace.layers(); ++l)
      target.copies_contiguous16.push_back(copies_per_token(trace, l, groups));
  }
  if (keeps_order(trace)) {
    target.consecutive_reuse = consecutive_reuse(trace);
    const std::size_t sequences = count_sequences(trace);
    target.sequence_length = static_cast<int>(
        std::min<std::size_t>((trace.tokens + sequences / 2) / sequences, 1 << 24));
  }
  return target;
}

std::vector<LayerStats> half_difference(const Trace& trace, const std::string& label) {
  const std::size_t cut = trace.tokens / 2;
  const auto a = target_stats(target_from_trace_only(slice(trace, 0, cut, {}, label), label));
  const auto b =
      target_stats(target_from_trace_only(slice(trace, cut, trace.tokens, {}, label), label));
  const auto half = [](double x, double y) { return 0.5 * std::abs(x - y); };
  const auto half_of = [&](const std::optional<double>& x, const std::optional<double>& y) {
    return x && y ? std::optional<double>(half(*x, *y)) : std::nullopt;
  };
  std::vector<LayerStats> out;
  for (std::size_t l = 0; l < a.size(); ++l) {
    LayerStats s;
    s.layer_id = a[l].layer_id;
    s.imbalance = half(a[l].imbalance, b[l].imbalance);
    s.entropy = half(a[l].entropy, b[l].entropy);
    s.min_share = half(a[l].min_share, b[l].min_share);
    s.top_decile_share = half(a[l].top_decile_share, b[l].top_decile_share);
    s.coactivation_lift = half_of(a[l].coactivation_lift, b[l].coactivation_lift);
    s.copies_contiguous16 = half_of(a[l].copies_contiguous16, b[l].copies_contiguous16);
    s.transition_concentration =
        half_of(a[l].transition_concentration, b[l].transition_concentration);
    s.consecutive_reuse = half_of(a[l].consecutive_reuse, b[l].consecutive_reuse);
    out.push_back(s);
  }
  return out;
}

}  // namespace

CalibrationTarget target_from_expert_counts(const std::string& path, const std::string& model_key,
                                            const std::string& domain, int experts, int top_k) {
  const auto json = nlohmann::json::parse(core::read_text_file(path), nullptr, false);
  if (json.is_discarded() || !json.is_object())
    throw InputError({path, "", 0}, "(unparseable)", "the expert-counts JSON object");
  const auto counts_key = fmt::format("{}/expert_counts/{}.pkl", model_key, domain);
  const auto pairs_key = fmt::format("{}/expert_counts_crosslayer/{}.pkl", model_key, domain);
  if (!json.contains(counts_key)) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : json.items())
      if (key.find("/expert_counts/") != std::string::npos)
        keys.push_back(key.substr(0, key.size() - 4));
    throw InputError({path, "model/domain", 0}, fmt::format("{}/{}", model_key, domain),
                     fmt::format("one of {}", fmt::join(keys, ", ")));
  }
  CalibrationTarget target;
  target.label = fmt::format("{}/{}", model_key, domain);
  target.no_noise = "aggregate counts cannot be halved";
  target.shape = {{0, 7, 15}, experts, top_k};
  try {
    for (const auto& layer : json.at(counts_key))
      target.counts.push_back(counts_object(layer, experts, path, counts_key));
    if (json.contains(pairs_key))
      for (const auto& pair : json.at(pairs_key))
        target.transitions.push_back(pairs_object(pair, experts, path, pairs_key));
  } catch (const nlohmann::json::exception& e) {
    throw InputError({path, counts_key, 0}, e.what(), "maps of expert id to count");
  } catch (const std::logic_error& e) {
    throw InputError({path, counts_key, 0}, e.what(), "integer expert ids");
  }
  if (target.counts.size() != 3)
    throw InputError({path, counts_key, 0}, std::to_string(target.counts.size()),
                     "3 layers (0, 7 and 15)");
  // Counts for fewer experts than the model has would calibrate a model they do not describe.
  int highest = -1;
  for (const auto& counts : target.counts)
    for (int e = 0; e < experts; ++e)
      if (counts[static_cast<std::size_t>(e)] > 0)
        highest = std::max(highest, e);
  if (highest + 1 != experts)
    throw InputError(
        {path, counts_key, 0}, fmt::format("counts for {} experts", highest + 1),
        fmt::format("counts for the model's {} experts (another model's data?)", experts));
  validate_shape(target.shape, path);
  return target;
}

CalibrationTarget target_from_token_experts(const TokenExpertCounts& counts, std::size_t tokens,
                                            std::uint64_t seed) {
  auto target =
      target_from_trace(sample_token_experts(counts, tokens, 256, seed),
                        fmt::format("{}/{} (token-experts)", counts.model, counts.domain));
  // The counts keep no order: the drawn sequences' reuse says nothing of real locality.
  target.consecutive_reuse.clear();
  target.sequence_length = 0;
  for (auto& layer : target.noise)
    layer.consecutive_reuse.reset();
  return target;
}

Calibration calibrate(const CalibrationTarget& target, const TraceShape& model_shape,
                      GeneratorParams start, const CalibrationOptions& options) {
  validate_shape(target.shape, target.label);
  if (model_shape.experts != target.shape.experts || model_shape.top_k != target.shape.top_k)
    throw InputError(
        {target.label, "experts/top_k", 0},
        fmt::format("{} experts, top-{}", target.shape.experts, target.shape.top_k),
        fmt::format("the model's {} experts, top-{}", model_shape.experts, model_shape.top_k));
  GeneratorParams p = std::move(start);
  p.structure_seed = options.seed;
  p.popularity.clear();
  for (const auto& counts : target.counts)
    p.popularity.push_back(log_shares(counts));
  const FitStatistic statistic = fit_statistic(target);
  const Fitter fitter(target, options, rounds_of(options, statistic.name != "popularity only"));
  Calibration out;
  out.fitted_on = statistic.name;
  out.target = statistic.target;
  const std::size_t layers = target.counts.size();
  p.layer_strength.assign(layers, p.topic_strength);
  if (statistic.name != "popularity only") {
    // One bisection per fitted value, run side by side on shared samples.
    const auto want = wanted(statistic, target);
    std::vector<double> low(want.size(), 0.0), high(want.size(), kMaxStrength);
    const auto set_strength = [&] {
      for (std::size_t l = 0; l < layers; ++l)
        p.layer_strength[l] =
            0.5 * (low[std::min(l, want.size() - 1)] + high[std::min(l, want.size() - 1)]);
    };
    std::vector<double> last(want.size(), 0.0);
    for (int step = 0; step < options.bisection_steps; ++step) {
      set_strength();
      fitter.fit_popularity(p, options.popularity_rounds / 2);
      last = measure(statistic, fitter.sample(p));
      for (std::size_t i = 0; i < want.size(); ++i) {
        const double mid = 0.5 * (low[i] + high[i]);
        const bool too_strong = statistic.falls ? last[i] < want[i] : last[i] > want[i];
        (too_strong ? high[i] : low[i]) = mid;
      }
    }
    set_strength();
    if (options.bisection_steps > 0)
      out.warnings = bound_warnings(target, statistic, low, high, want, last);
  }
  fitter.fit_popularity(p, options.popularity_rounds);
  if (statistic.name != "popularity only")
    out.achieved = mean(measure(statistic, fitter.sample(p)));
  if (!target.consecutive_reuse.empty())
    fit_stickiness(target, options, p, out);
  p.topic_strength = mean(p.layer_strength);
  p.layer_strength = expand_strength(p.layer_strength, target.shape.layer_ids, model_shape);
  p.popularity = expand_to_model(p.popularity, target.shape.layer_ids, model_shape, options.seed);
  out.params = std::move(p);
  fitter.finish();
  return out;
}

std::vector<LayerStats> target_stats(const CalibrationTarget& target) {
  std::vector<LayerStats> out;
  for (std::size_t l = 0; l < target.counts.size(); ++l) {
    const auto& counts = target.counts[l];
    LayerStats s;
    s.layer_id = target.shape.layer_ids[l];
    s.imbalance = imbalance_of(counts);
    s.entropy = normalised_entropy(counts);
    const double total =
        static_cast<double>(std::accumulate(counts.begin(), counts.end(), std::uint64_t{0}));
    const double mean_count = total / static_cast<double>(counts.size());
    s.min_share = static_cast<double>(*std::min_element(counts.begin(), counts.end())) / mean_count;
    auto sorted = counts;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    const std::size_t decile = std::max<std::size_t>(1, sorted.size() / 10);
    s.top_decile_share = static_cast<double>(std::accumulate(
                             sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(decile),
                             std::uint64_t{0})) /
                         total;
    if (l < target.coactivation_lift.size())
      s.coactivation_lift = target.coactivation_lift[l];
    if (l < target.copies_contiguous16.size())
      s.copies_contiguous16 = target.copies_contiguous16[l];
    if (l < target.transitions.size())
      s.transition_concentration =
          transition_concentration(target.transitions[l], target.shape.experts);
    if (l < target.consecutive_reuse.size())
      s.consecutive_reuse = target.consecutive_reuse[l];
    out.push_back(s);
  }
  return out;
}

nlohmann::ordered_json to_json(const LayerStats& s) {
  nlohmann::ordered_json j{{"layer", s.layer_id},
                           {"imbalance", s.imbalance},
                           {"entropy", s.entropy},
                           {"min_share_of_mean", s.min_share},
                           {"top_decile_share", s.top_decile_share}};
  const auto put = [&](const char* key, const std::optional<double>& v) {
    j[key] = v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json();
  };
  put("coactivation_lift", s.coactivation_lift);
  put("copies_contiguous16", s.copies_contiguous16);
  put("transition_concentration", s.transition_concentration);
  put("consecutive_reuse", s.consecutive_reuse);
  return j;
}

}  // namespace mozart::trace
