#include "mozart/trace/generator.hpp"

#include <algorithm>
#include <cmath>
#include <list>
#include <memory>
#include <mutex>
#include <numeric>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"
#include "mozart/core/parallel.hpp"
#include "mozart/core/random.hpp"
#include "mozart/trace/draw.hpp"
#include "mozart/trace/memory.hpp"
#include "mozart/trace/progress.hpp"

namespace mozart::trace {
namespace detail {

using core::AliasTable;
using core::Rng;

namespace {

// One more expert, drawn from those not yet `taken` in proportion to their weights; with no
// weight left among them (fewer than k experts can be drawn at all), the lowest such id.
ExpertId draw_remaining(const std::vector<double>& weights, const std::vector<char>& taken,
                        Rng& rng) {
  double rest = 0;
  for (std::size_t e = 0; e < weights.size(); ++e)
    if (!taken[e])
      rest += weights[e];
  std::size_t pick = weights.size();
  if (rest > 0) {
    double u = rng.uniform() * rest;
    for (std::size_t e = 0; e < weights.size() && u >= 0; ++e)
      if (!taken[e] && weights[e] > 0) {
        pick = e;  // the last one with weight, should rounding leave u above the total
        u -= weights[e];
      }
  } else {
    pick = static_cast<std::size_t>(std::find(taken.begin(), taken.end(), 0) - taken.begin());
  }
  return static_cast<ExpertId>(pick);
}

}  // namespace

void draw_distinct(const AliasTable& table, const std::vector<double>& weights, int k, Rng& rng,
                   ExpertId* out, float* gates) {
  // Rejection first: cheap while the experts not yet drawn hold much of the weight, and the
  // draws of every law the tests pin. After 128 rejections per expert wanted (weights so
  // concentrated that fewer than k experts hold nearly all of it) the rest come straight from
  // the remaining weights, O(experts) each. Both give the next expert with probability
  // w_e / (sum of w over those not yet drawn), and the switch depends only on draws already
  // made, so the law is exactly sequential sampling without replacement either way.
  const std::size_t patience = 128 * static_cast<std::size_t>(k);
  int chosen = 0;
  for (std::size_t rejected = 0; chosen < k && rejected < patience;) {
    const auto e = static_cast<ExpertId>(table.draw(rng));
    if (std::find(out, out + chosen, e) == out + chosen)
      out[chosen++] = e;
    else
      ++rejected;
  }
  if (chosen < k) {
    std::vector<char> taken(weights.size(), 0);
    for (int j = 0; j < chosen; ++j)
      taken[out[j]] = 1;
    for (; chosen < k; ++chosen) {
      out[chosen] = draw_remaining(weights, taken, rng);
      taken[out[chosen]] = 1;
    }
  }
  // The draw order is the rank: a router's top choice is the token's, not the globally most
  // popular expert. Gates fall with rank.
  if (gates != nullptr) {
    double total = 0;
    for (int j = 0; j < k; ++j)
      total += weights[out[j]];
    for (int j = 0; j < k; ++j)
      gates[j] = static_cast<float>(weights[out[j]] / total);
    std::sort(gates, gates + k, std::greater<>());
  }
}

}  // namespace detail

namespace {

using core::AliasTable;
using core::InputError;
using core::Rng;

// Tokens between progress reports: a few milliseconds of drawing for a large model.
constexpr std::size_t kTokensPerTick = std::size_t{1} << 12;

// One layer's sampling tables: a weight vector and an alias table per topic.
struct LayerTables {
  std::vector<std::vector<double>> weights;  // [topic][expert]
  std::vector<AliasTable> tables;            // [topic]
};

// The law's random structure comes from streams of its own: one per MoE layer, keyed by the
// model's layer id, and one for the domains. A layer's popularity and topics are then the same
// whichever other layers are generated, so parameters calibrated on some layers reproduce their
// fit in a trace of all of them.
constexpr std::uint64_t kDomainStream = std::uint64_t{1} << 32;  // above every layer id

Rng structure_stream(std::uint64_t structure_seed, std::uint64_t key) {
  return Rng(structure_seed ^ ((key + 1) * 0x9E3779B97F4A7C15ull));
}

std::vector<double> drawn_popularity(int experts, double skew, Rng& rng) {
  std::vector<double> log_weights(static_cast<std::size_t>(experts));
  for (auto& w : log_weights)
    w = skew * rng.normal();
  return log_weights;
}

std::vector<int> random_subset(int experts, int size, Rng& rng) {
  std::vector<int> all(static_cast<std::size_t>(experts));
  std::iota(all.begin(), all.end(), 0);
  for (int i = 0; i < size; ++i)
    std::swap(
        all[static_cast<std::size_t>(i)],
        all[static_cast<std::size_t>(i) + rng.below(static_cast<std::uint64_t>(experts - i))]);
  all.resize(static_cast<std::size_t>(size));
  return all;
}

// Each topic's favoured experts: a random `topic_share` of the layer's.
std::vector<std::vector<int>> topic_sets(int experts, const GeneratorParams& p, Rng& rng) {
  const int favoured =
      std::clamp(static_cast<int>(std::lround(p.topic_share * experts)), 1, experts);
  std::vector<std::vector<int>> out;
  for (int t = 0; t < p.topics; ++t)
    out.push_back(random_subset(experts, favoured, rng));
  return out;
}

LayerTables layer_tables(const std::vector<double>& log_weights,
                         const std::vector<std::vector<int>>& sets, double strength) {
  LayerTables out;
  for (const auto& set : sets) {
    std::vector<double> boost(log_weights);
    for (const int e : set)
      boost[static_cast<std::size_t>(e)] += strength;
    const double top = *std::max_element(boost.begin(), boost.end());
    for (auto& w : boost)
      w = std::exp(w - top);  // scaled so the largest is 1: no overflow
    out.tables.emplace_back(boost);
    out.weights.push_back(std::move(boost));
  }
  return out;
}

// Each domain's mixture over the topics (unnormalised weights).
std::vector<std::vector<double>> domain_mixtures(const GeneratorParams& p, Rng& rng) {
  std::vector<std::vector<double>> out;
  for (std::size_t d = 0; d < p.domains.size(); ++d) {
    std::vector<double> mix(static_cast<std::size_t>(p.topics));
    for (auto& m : mix)
      m = std::exp(p.domain_spread * rng.normal());
    out.push_back(std::move(mix));
  }
  return out;
}

// How often each topic drives a token: sequences draw their domain uniformly, and a token's
// topic, kept or redrawn, is distributed as its domain's mixture.
std::vector<double> topic_frequency(const std::vector<std::vector<double>>& mixtures) {
  std::vector<double> q(mixtures.front().size(), 0.0);
  for (const auto& mix : mixtures) {
    const double total = std::accumulate(mix.begin(), mix.end(), 0.0);
    for (std::size_t t = 0; t < mix.size(); ++t)
      q[t] += mix[t] / total / static_cast<double>(mixtures.size());
  }
  return q;
}

// Expert e's chance to be among k drawn without replacement with shares `share`:
// 1 - exp(-λ share_e), λ such that the chances sum to k (Rosén's approximation for successive
// sampling). Newton's method from λ = k rises to the root without overshooting (the sum is
// concave in λ and at most λ). The chances are those of the step that stops, whose misses `out`
// already holds; only a search that runs out of steps takes them at its last λ again.
void inclusion_chances(const std::vector<double>& share, int k, std::vector<double>& out) {
  out.resize(share.size());
  double lambda = k;
  bool converged = false;
  for (int step = 0; step < 100 && !converged; ++step) {
    double sum = 0, slope = 0;
    for (std::size_t e = 0; e < share.size(); ++e) {
      const double miss = std::exp(-lambda * share[e]);
      out[e] = miss;
      sum += 1 - miss;
      slope += share[e] * miss;
    }
    converged = sum >= k * (1 - 1e-12) || slope <= 0;
    if (!converged)
      lambda += (k - sum) / slope;
  }
  for (std::size_t e = 0; e < share.size(); ++e)
    out[e] = 1 - (converged ? out[e] : std::exp(-lambda * share[e]));
}

// The per-expert bias on the log-weights under which every expert's expected share of the
// layer's slots is the same, topics and their frequencies `q` included: what a loss-free
// balancing bias, updated every step toward equal load, converges to over the training mixture.
// Fitted by proportional rounds on the expected chances, so it needs no sampling.
std::vector<double> balancing_bias(int experts, int k, const std::vector<std::vector<int>>& sets,
                                   const std::vector<double>& q, double strength) {
  const auto n = static_cast<std::size_t>(experts);
  std::vector<double> bias(n, 0.0);
  if (k >= experts)
    return bias;  // every expert serves every token
  const double target = static_cast<double>(k) / experts;
  std::vector<double> weight(n), share(n), chance, expected(n);
  const double boost = std::exp(strength);
  for (int round = 0; round < 500; ++round) {
    std::fill(expected.begin(), expected.end(), 0.0);
    for (std::size_t e = 0; e < n; ++e)
      weight[e] = std::exp(bias[e]);  // the same for every topic of the round
    for (std::size_t t = 0; t < sets.size(); ++t) {
      share = weight;
      for (const int e : sets[t])
        share[static_cast<std::size_t>(e)] *= boost;
      const double total = std::accumulate(share.begin(), share.end(), 0.0);
      for (auto& s : share)
        s /= total;
      inclusion_chances(share, k, chance);
      for (std::size_t e = 0; e < n; ++e)
        expected[e] += q[t] * chance[e];
    }
    double worst = 0;
    for (std::size_t e = 0; e < n; ++e) {
      const double step = std::log(target / expected[e]);
      worst = std::max(worst, std::abs(step));
      bias[e] += step;
    }
    const double top = *std::max_element(bias.begin(), bias.end());
    for (auto& b : bias)
      b -= top;
    if (worst < 1e-6)
      break;
  }
  return bias;
}

void require(bool ok, const std::string& source, const std::string& field, double value,
             const std::string& expected) {
  if (!ok)
    throw InputError({source, field, 0}, fmt::format("{}", value), expected);
}

}  // namespace

double strength_at(const GeneratorParams& params, std::size_t layer) {
  return params.layer_strength.empty() ? params.topic_strength : params.layer_strength[layer];
}

void check_params(const GeneratorParams& p, const TraceShape& shape, const std::string& source) {
  require(std::isfinite(p.skew) && p.skew >= 0 && p.skew <= 10, source, "skew", p.skew,
          "a spread in [0, 10]");
  require(p.topics >= 1 && p.topics <= 4096, source, "topics", p.topics, "1 to 4096 topics");
  require(p.topic_share > 0 && p.topic_share <= 1, source, "topic_share", p.topic_share,
          "a share in (0, 1]");
  require(std::isfinite(p.topic_strength) && std::abs(p.topic_strength) <= 20, source,
          "topic_strength", p.topic_strength, "a log-boost in [-20, 20]");
  require(p.stickiness >= 0 && p.stickiness <= 1, source, "stickiness", p.stickiness,
          "a probability in [0, 1]");
  require(std::isfinite(p.domain_spread) && p.domain_spread >= 0 && p.domain_spread <= 10, source,
          "domain_spread", p.domain_spread, "a spread in [0, 10]");
  require(p.sequence_length >= 1, source, "sequence_length", p.sequence_length,
          "at least 1 token per sequence");
  require(!p.domains.empty() && p.domains.size() < 65536, source, "domains",
          static_cast<double>(p.domains.size()), "1 to 65535 domain names");
  if (!p.layer_strength.empty())
    require(p.layer_strength.size() == shape.layer_ids.size(), source, "layer_strength",
            static_cast<double>(p.layer_strength.size()),
            fmt::format("one strength per MoE layer ({})", shape.layer_ids.size()));
  for (const double b : p.layer_strength)
    require(std::isfinite(b) && std::abs(b) <= 20, source, "layer_strength[]", b,
            "a log-boost in [-20, 20]");
  if (p.popularity.empty())
    return;
  require(p.popularity.size() == shape.layer_ids.size(), source, "popularity",
          static_cast<double>(p.popularity.size()),
          fmt::format("one vector per MoE layer ({})", shape.layer_ids.size()));
  for (std::size_t l = 0; l < p.popularity.size(); ++l) {
    const auto& v = p.popularity[l];
    require(v.size() == static_cast<std::size_t>(shape.experts), source,
            fmt::format("popularity[{}]", l), static_cast<double>(v.size()),
            fmt::format("{} log-weights, one per expert (calibrated for another model?)",
                        shape.experts));
    for (const double w : v)
      require(std::isfinite(w) && std::abs(w) < 100, source, fmt::format("popularity[{}][]", l), w,
              "a finite log-weight");
  }
}

namespace {

// A law's random structure over a shape: the domains' topic mixtures and each MoE layer's
// sampling tables. It depends on the law and the shape only, not on the seed of the draws.
struct Structure {
  std::vector<AliasTable> mixtures;  // [domain]
  std::vector<LayerTables> layers;   // [MoE layer of the shape]
};

Structure build_structure(const TraceShape& shape, const GeneratorParams& p) {
  Structure out;
  Rng domain_setup = structure_stream(p.structure_seed, kDomainStream);
  const auto mixture_weights = domain_mixtures(p, domain_setup);
  for (const std::vector<double>& weights : mixture_weights)
    out.mixtures.emplace_back(weights);
  const auto frequency = topic_frequency(mixture_weights);
  auto build_layer = [&](std::size_t l) {
    Rng setup = structure_stream(p.structure_seed, static_cast<std::uint64_t>(shape.layer_ids[l]));
    auto log_weights =
        p.popularity.empty() ? drawn_popularity(shape.experts, p.skew, setup) : p.popularity[l];
    const auto sets = topic_sets(shape.experts, p, setup);
    // Balanced, the popularity is what is left over the balancing bias.
    if (p.balanced) {
      const auto bias =
          balancing_bias(shape.experts, shape.top_k, sets, frequency, strength_at(p, l));
      for (std::size_t e = 0; e < log_weights.size(); ++e)
        log_weights[e] += bias[e];
    }
    out.layers[l] = layer_tables(log_weights, sets, strength_at(p, l));
  };
  // Each layer draws from a stream of its own, so the layers are built apart, on every
  // hardware thread: the structure is the same on any number of them.
  out.layers.resize(shape.layer_ids.size());
  core::for_each_index(out.layers.size(), 0, build_layer);
  return out;
}

// Everything a structure depends on: the shape, and the law without what only the token draws
// read (stickiness, sequence length, gates, the domains' names: only their count shapes the
// mixtures). A parameter added to the law is part of the key unless cleared here.
struct StructureKey {
  TraceShape shape;
  GeneratorParams law;
  bool operator==(const StructureKey&) const = default;
};

StructureKey key_of(const TraceShape& shape, const GeneratorParams& p) {
  StructureKey key{shape, p};
  key.law.stickiness = 0;
  key.law.sequence_length = 0;
  key.law.gates = false;
  key.law.domains.assign(p.domains.size(), std::string());
  return key;
}

// What a structure holds, roughly: a weight and an alias entry (a probability and an index) per
// layer, topic and expert.
std::size_t structure_bytes(const TraceShape& shape, const GeneratorParams& p) {
  return shape.layer_ids.size() * static_cast<std::size_t>(p.topics) *
         static_cast<std::size_t>(shape.experts) * 24;
}

// Fitting a balanced law's bias is most of a short trace's cost, and a run often draws several
// traces from one law (`serve`: its placement's priors, then its iterations' routing), so the
// structures of the last few laws are kept, unless large. Pure memoisation: a structure is a
// function of its key, so a trace is the same whether or not its law's structure was kept.
constexpr std::size_t kKeptStructures = 4;
constexpr std::size_t kLargestKept = std::size_t{64} << 20;

std::shared_ptr<const Structure> structure_of(const TraceShape& shape, const GeneratorParams& p) {
  using Kept = std::pair<StructureKey, std::shared_ptr<const Structure>>;
  static std::mutex mutex;
  static std::list<Kept> kept;  // the most recently used first
  StructureKey key = key_of(shape, p);
  auto find = [&] {
    return std::find_if(kept.begin(), kept.end(), [&](const Kept& k) { return k.first == key; });
  };
  {
    const std::lock_guard lock(mutex);
    if (const auto hit = find(); hit != kept.end()) {
      kept.splice(kept.begin(), kept, hit);
      return hit->second;
    }
  }
  // Built outside the lock: other threads' laws need not wait for this one.
  auto built = std::make_shared<const Structure>(build_structure(shape, p));
  if (structure_bytes(shape, p) > kLargestKept)
    return built;
  const std::lock_guard lock(mutex);
  if (find() == kept.end()) {
    kept.emplace_front(std::move(key), built);
    if (kept.size() > kKeptStructures)
      kept.pop_back();
  }
  return built;
}

}  // namespace

Trace generate(const TraceShape& shape, std::size_t tokens, const GeneratorParams& p,
               std::uint64_t seed, const std::string& model, const Progress& progress) {
  validate_shape(shape, "generator");
  check_params(p, shape, "generator");
  require_trace_memory(tokens, shape, p.gates, true, model.empty() ? "generator" : model);
  const std::shared_ptr<const Structure> law = structure_of(shape, p);
  const std::vector<AliasTable>& mixtures = law->mixtures;
  const std::vector<LayerTables>& layers = law->layers;
  Rng draws(seed);

  Trace trace = make_trace(shape, tokens, model);
  trace.domain_names = p.domains;
  trace.domain.assign(tokens, 0);
  if (p.gates)
    trace.gates.assign(trace.experts.size(), 0.0f);
  const auto seq_len = static_cast<std::size_t>(p.sequence_length);
  std::uint32_t topic = 0;
  std::uint16_t domain = 0;
  detail::ProgressTicker ticker(progress, tokens, kTokensPerTick);
  for (std::size_t t = 0; t < tokens; ++t) {
    ticker.at(t);
    trace.sequence[t] = static_cast<std::uint32_t>(t / seq_len);
    trace.position[t] = static_cast<std::uint32_t>(t % seq_len);
    if (trace.position[t] == 0) {
      domain = static_cast<std::uint16_t>(draws.below(p.domains.size()));
      topic = mixtures[domain].draw(draws);
    } else if (draws.uniform() >= p.stickiness) {
      topic = mixtures[domain].draw(draws);
    }
    trace.domain[t] = domain;
    for (int l = 0; l < trace.layers(); ++l) {
      const auto& tables = layers[static_cast<std::size_t>(l)];
      const auto at = trace.offset(l, t);
      detail::draw_distinct(tables.tables[topic], tables.weights[topic], shape.top_k, draws,
                            trace.experts.data() + at, p.gates ? trace.gates.data() + at : nullptr);
    }
  }
  ticker.finish();
  return trace;
}

DefaultLaw default_law(const std::string& name, const std::string& source) {
  DefaultLaw law{name, {}, "", ""};
  if (name == "olmoe") {
    law.calibrated_on = "olmoe-1b-7b";
    law.source =
        "trace calibrate on OLMoE-1B-7B/arxiv: log-weight spread 2.16, mean strength 4.6, rounded";
  } else if (name == "mixtral") {
    // Mixtral's loads are near-even while its topics are not: the law is balanced and keeps the
    // data's own spread of log expert loads (0.118 / 0.084 / 0.289 at layers 0 / 7 / 15).
    law.params.balanced = true;
    law.params.skew = 0.16;
    law.params.topic_strength = 2.0;
    law.calibrated_on = "mixtral-8x7b";
    law.source =
        "Mixtral-8x7B/arxiv expert counts: spread of log loads 0.16 (mean of layers 0, 7, "
        "15); trace calibrate's strength 2.03 / 1.37 / 2.70, mean rounded";
  } else if (name == "loss-free-bias") {
    // The bias removes the expected imbalance; what remains is its lag behind the load. A
    // residual spread s gives max/mean about 1 + 2.4 s over 64 experts, and Wang et al. (arXiv
    // 2408.15664) report a global max violation of 0.04 under loss-free balancing: s = 0.04 / 2.4.
    law.params.balanced = true;
    law.params.skew = 0.02;
    law.calibrated_on = "olmoe-1b-7b";
    law.source =
        "OLMoE's topic structure (strength 4.5), bias-balanced; residual spread 0.02 "
        "derived from the loss-free balancing paper's max violation";
  } else {
    throw core::InputError({source, "law", 0}, name,
                           fmt::format("one of {}", fmt::join(default_law_names(), ", ")));
  }
  return law;
}

std::vector<std::string> default_law_names() {
  return {"olmoe", "mixtral", "loss-free-bias"};
}

nlohmann::ordered_json to_json(const GeneratorParams& p) {
  nlohmann::ordered_json j;
  j["skew"] = p.skew;
  j["topics"] = p.topics;
  j["topic_share"] = p.topic_share;
  j["topic_strength"] = p.topic_strength;
  j["stickiness"] = p.stickiness;
  j["domain_spread"] = p.domain_spread;
  j["sequence_length"] = p.sequence_length;
  j["domains"] = p.domains;
  j["gates"] = p.gates;
  j["structure_seed"] = p.structure_seed;
  j["layer_strength"] = p.layer_strength;
  j["popularity"] = p.popularity;
  j["balanced"] = p.balanced;
  return j;
}

GeneratorParams params_from_json(const nlohmann::json& j, const std::string& source) {
  static const std::vector<std::string> known = {
      "skew",           "topics",          "topic_share", "topic_strength", "stickiness",
      "domain_spread",  "sequence_length", "domains",     "gates",          "layer_strength",
      "structure_seed", "popularity",      "balanced",    "calibration"};
  if (!j.is_object())
    throw InputError({source, "", 0}, j.dump().substr(0, 60),
                     "a JSON object of generator parameters");
  GeneratorParams p;
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw InputError({source, key, 0}, key, fmt::format("one of {}", fmt::join(known, ", ")));
    try {
      if (key == "skew")
        p.skew = value.get<double>();
      else if (key == "topics")
        p.topics = value.get<int>();
      else if (key == "topic_share")
        p.topic_share = value.get<double>();
      else if (key == "topic_strength")
        p.topic_strength = value.get<double>();
      else if (key == "stickiness")
        p.stickiness = value.get<double>();
      else if (key == "domain_spread")
        p.domain_spread = value.get<double>();
      else if (key == "sequence_length")
        p.sequence_length = value.get<int>();
      else if (key == "domains")
        p.domains = value.get<std::vector<std::string>>();
      else if (key == "gates")
        p.gates = value.get<bool>();
      else if (key == "structure_seed")
        p.structure_seed = value.get<std::uint64_t>();
      else if (key == "layer_strength")
        p.layer_strength = value.get<std::vector<double>>();
      else if (key == "popularity")
        p.popularity = value.get<std::vector<std::vector<double>>>();
      else if (key == "balanced")
        p.balanced = value.get<bool>();
    } catch (const nlohmann::json::exception&) {
      throw InputError({source, key, 0}, value.dump().substr(0, 60),
                       "a value of the documented type");
    }
  }
  return p;
}

TokenExpertCounts read_token_expert_counts(const std::string& path) {
  const auto json = nlohmann::json::parse(core::read_text_file(path), nullptr, false);
  if (json.is_discarded() || !json.is_object())
    throw InputError({path, "", 0}, "(unparseable)", "a token-experts JSON object");
  TokenExpertCounts out;
  try {
    out.model = json.at("model").get<std::string>();
    out.domain = json.at("domain").get<std::string>();
    out.experts = json.at("num_experts").get<int>();
    out.top_k = json.at("top_k").get<int>();
    out.layer_ids = json.at("layers").get<std::vector<int>>();
    for (const auto& layer : json.at("token_expert_counts")) {
      auto& counts = out.counts.emplace_back();
      for (const auto& [token, experts] : layer.items()) {
        auto& items = counts[std::stoll(token)];
        for (const auto& [expert, n] : experts.items()) {
          const int e = std::stoi(expert);
          if (e < 0 || e >= out.experts)
            throw InputError({path, fmt::format("token {}: expert", token), 0}, expert,
                             fmt::format("an id in [0, {}]", out.experts - 1));
          if (const auto count = n.get<std::uint32_t>(); count > 0)
            items.emplace_back(e, count);
        }
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError({path, "", 0}, e.what(),
                     "fields model, domain, num_experts, top_k, layers, token_expert_counts");
  } catch (const std::logic_error& e) {
    throw InputError({path, "token_expert_counts", 0}, e.what(), "integer token and expert ids");
  }
  if (out.counts.size() != out.layer_ids.size() || out.counts.empty())
    throw InputError({path, "token_expert_counts", 0}, std::to_string(out.counts.size()),
                     fmt::format("one map per layer ({})", out.layer_ids.size()));
  validate_shape({out.layer_ids, out.experts, out.top_k}, path);
  return out;
}

Trace sample_token_experts(const TokenExpertCounts& counts, std::size_t tokens, int sequence_length,
                           std::uint64_t seed, const Progress& progress) {
  // Tokens counted at every layer with at least k experts each; frequency from the first layer.
  std::vector<std::int64_t> ids;
  std::vector<double> frequency;
  for (const auto& [token, items] : counts.counts.front()) {
    bool usable = true;
    for (const auto& layer : counts.counts) {
      const auto it = layer.find(token);
      usable = usable && it != layer.end() &&
               it->second.size() >= static_cast<std::size_t>(counts.top_k);
    }
    if (!usable)
      continue;
    std::uint64_t slots = 0;
    for (const auto& [expert, n] : items)
      slots += n;
    ids.push_back(token);
    frequency.push_back(static_cast<double>(slots));
  }
  if (ids.empty())
    throw InputError(counts.model + "/" + counts.domain, "no token is counted at every layer");
  const AliasTable by_frequency(frequency);
  Rng rng(seed);
  const TraceShape shape{counts.layer_ids, counts.experts, counts.top_k};
  require_trace_memory(tokens, shape, false, true, counts.model);
  Trace trace = make_trace(shape, tokens, counts.model);
  trace.domain_names = {counts.domain};
  trace.domain.assign(tokens, 0);
  const auto k = static_cast<std::size_t>(counts.top_k);
  std::vector<std::pair<double, int>> keys;
  detail::ProgressTicker ticker(progress, tokens, kTokensPerTick);
  for (std::size_t t = 0; t < tokens; ++t) {
    ticker.at(t);
    trace.sequence[t] = static_cast<std::uint32_t>(t / static_cast<std::size_t>(sequence_length));
    trace.position[t] = static_cast<std::uint32_t>(t % static_cast<std::size_t>(sequence_length));
    const auto token = ids[by_frequency.draw(rng)];
    for (int l = 0; l < trace.layers(); ++l) {
      keys.clear();
      for (const auto& [expert, n] : counts.counts[static_cast<std::size_t>(l)].at(token))
        keys.emplace_back(std::log(static_cast<double>(n)) + rng.gumbel(), expert);
      std::partial_sort(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(k), keys.end(),
                        std::greater<>());
      auto* out = trace.experts.data() + trace.offset(l, t);
      for (std::size_t j = 0; j < k; ++j)
        out[j] = static_cast<ExpertId>(keys[j].second);
    }
  }
  ticker.finish();
  return trace;
}

}  // namespace mozart::trace
