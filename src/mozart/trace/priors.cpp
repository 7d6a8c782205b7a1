#include "mozart/trace/priors.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "mozart/trace/memory.hpp"

namespace mozart::trace {
namespace {

std::vector<double> shares(std::span<const std::uint64_t> counts) {
  const double total =
      static_cast<double>(std::accumulate(counts.begin(), counts.end(), std::uint64_t{0}));
  std::vector<double> out(counts.size(), 0.0);
  if (total > 0)
    for (std::size_t e = 0; e < counts.size(); ++e)
      out[e] = static_cast<double>(counts[e]) / total;
  return out;
}

void count_slots(std::span<const ExpertId> ids, std::vector<std::uint64_t>& counts) {
  for (const ExpertId id : ids)
    ++counts[id];
}

// Only the upper triangle is counted in the hot loop; the lower is mirrored at the end.
void count_coactivation(std::span<const ExpertId> block, int k, int experts,
                        std::vector<std::uint64_t>& c) {
  const auto e = static_cast<std::size_t>(experts);
  for (std::size_t at = 0; at < block.size(); at += static_cast<std::size_t>(k)) {
    const ExpertId* ids = block.data() + at;
    for (int i = 0; i < k; ++i) {
      for (int j = i + 1; j < k; ++j) {
        const auto a = std::min(ids[i], ids[j]);
        const auto b = std::max(ids[i], ids[j]);
        ++c[a * e + b];
      }
    }
  }
  for (std::size_t a = 0; a < e; ++a)
    for (std::size_t b = a + 1; b < e; ++b)
      c[b * e + a] = c[a * e + b];
}

std::vector<std::uint64_t> count_transitions(std::span<const ExpertId> from,
                                             std::span<const ExpertId> to, int experts) {
  const auto e = static_cast<std::size_t>(experts);
  std::vector<std::uint64_t> t(e * e, 0);
  for (std::size_t i = 0; i < from.size(); ++i)
    ++t[from[i] * e + to[i]];
  return t;
}

std::vector<DriftWindow> drift_of(std::span<const ExpertId> block, std::size_t tokens, int k,
                                  int experts, std::size_t window) {
  std::vector<DriftWindow> out;
  std::vector<double> previous;
  for (std::size_t first = 0; first < tokens; first += window) {
    const std::size_t n = std::min(window, tokens - first);
    std::vector<std::uint64_t> counts(static_cast<std::size_t>(experts), 0);
    count_slots(block.subspan(first * static_cast<std::size_t>(k), n * static_cast<std::size_t>(k)),
                counts);
    auto v = shares(counts);
    double distance = 0;
    if (!previous.empty())
      for (std::size_t e = 0; e < v.size(); ++e)
        distance += 0.5 * std::abs(v[e] - previous[e]);
    out.push_back({first, n, imbalance_of(counts), distance});
    previous = std::move(v);
  }
  return out;
}

}  // namespace

double imbalance_of(std::span<const std::uint64_t> counts) {
  if (counts.empty())
    return 0;
  const double total =
      static_cast<double>(std::accumulate(counts.begin(), counts.end(), std::uint64_t{0}));
  if (total == 0)
    return 0;
  const double mean = total / static_cast<double>(counts.size());
  return static_cast<double>(*std::max_element(counts.begin(), counts.end())) / mean;
}

double normalised_entropy(std::span<const std::uint64_t> counts) {
  if (counts.size() < 2)
    return 1;
  double h = 0;
  for (const double p : shares(counts))
    if (p > 0)
      h -= p * std::log(p);
  return h / std::log(static_cast<double>(counts.size()));
}

double transition_concentration(std::span<const std::uint64_t> transitions, int experts) {
  const auto e = static_cast<std::size_t>(experts);
  std::uint64_t total = 0, top = 0;
  for (std::size_t a = 0; a < e; ++a) {
    const auto row = transitions.subspan(a * e, e);
    total += std::accumulate(row.begin(), row.end(), std::uint64_t{0});
    top += *std::max_element(row.begin(), row.end());
  }
  return total == 0 ? 0 : static_cast<double>(top) / static_cast<double>(total);
}

double coactivation_lift(std::span<const std::uint64_t> coactivation,
                         std::span<const std::uint64_t> counts, int top_k) {
  const std::size_t e = counts.size();
  const double tokens =
      static_cast<double>(std::accumulate(counts.begin(), counts.end(), std::uint64_t{0})) / top_k;
  double weighted = 0, mass = 0;
  for (std::size_t a = 0; a < e; ++a) {
    for (std::size_t b = a + 1; b < e; ++b) {
      const auto both = static_cast<double>(coactivation[a * e + b]);
      if (both == 0)
        continue;
      const double expected =
          static_cast<double>(counts[a]) * static_cast<double>(counts[b]) / tokens;
      weighted += both * std::log(both / expected);
      mass += both;
    }
  }
  return mass == 0 ? 0 : weighted / mass;
}

Priors compute_priors(const Trace& trace, const PriorOptions& options) {
  Priors priors{trace.model, trace.num_experts(), trace.top_k(), trace.tokens, {}};
  const auto e = static_cast<std::size_t>(trace.num_experts());
  if (options.coactivation)  // two E × E matrices per layer: 2^56 bytes at most, no overflow
    require_memory(static_cast<std::uint64_t>(trace.layers()) * e * e * 2 * sizeof(std::uint64_t),
                   fmt::format("co-activation and transition counts of {} layers × {}² experts",
                               trace.layers(), e),
                   trace.model.empty() ? "priors" : trace.model);
  for (int l = 0; l < trace.layers(); ++l) {
    LayerPriors layer;
    layer.layer_id = trace.shape.layer_ids[static_cast<std::size_t>(l)];
    const auto block = trace.layer_block(l);
    layer.counts.assign(e, 0);
    count_slots(block, layer.counts);
    layer.frequency = shares(layer.counts);
    layer.imbalance = imbalance_of(layer.counts);
    layer.entropy = normalised_entropy(layer.counts);
    if (options.coactivation) {
      layer.coactivation.assign(e * e, 0);
      count_coactivation(block, trace.top_k(), trace.num_experts(), layer.coactivation);
      if (l + 1 < trace.layers())
        layer.transitions = count_transitions(block, trace.layer_block(l + 1), trace.num_experts());
    }
    if (options.drift_window > 0)
      layer.drift =
          drift_of(block, trace.tokens, trace.top_k(), trace.num_experts(), options.drift_window);
    priors.layers.push_back(std::move(layer));
  }
  return priors;
}

double copies_per_token(const Trace& trace, int layer, std::span<const int> group_of_expert) {
  if (trace.tokens == 0)
    return 0;
  const int groups = *std::max_element(group_of_expert.begin(), group_of_expert.end()) + 1;
  std::vector<std::uint64_t> stamp(static_cast<std::size_t>(groups), 0);
  std::uint64_t copies = 0;
  for (std::size_t t = 0; t < trace.tokens; ++t) {
    for (const ExpertId id : trace.choices(layer, t)) {
      auto& mark = stamp[static_cast<std::size_t>(group_of_expert[id])];
      copies += mark != t + 1;
      mark = t + 1;
    }
  }
  return static_cast<double>(copies) / static_cast<double>(trace.tokens);
}

double copies_per_token(const Trace& trace, std::span<const int> group_of_expert) {
  double sum = 0;
  for (int l = 0; l < trace.layers(); ++l)
    sum += copies_per_token(trace, l, group_of_expert);
  return trace.layers() == 0 ? 0 : sum / trace.layers();
}

std::vector<int> contiguous_groups(int experts, int groups) {
  std::vector<int> map(static_cast<std::size_t>(experts));
  for (int e = 0; e < experts; ++e)
    map[static_cast<std::size_t>(e)] =
        static_cast<int>(static_cast<long long>(e) * groups / experts);
  return map;
}

nlohmann::ordered_json to_json(const Priors& priors, bool full) {
  nlohmann::ordered_json out;
  out["model"] = priors.model;
  out["experts"] = priors.experts;
  out["top_k"] = priors.top_k;
  out["tokens"] = priors.tokens;
  auto& layers = out["layers"] = nlohmann::ordered_json::array();
  for (const auto& l : priors.layers) {
    nlohmann::ordered_json j;
    j["layer"] = l.layer_id;
    j["imbalance"] = l.imbalance;
    j["entropy"] = l.entropy;
    const auto [least, most] = std::minmax_element(l.frequency.begin(), l.frequency.end());
    j["min_share_of_mean"] = *least * priors.experts;
    j["max_share_of_mean"] = *most * priors.experts;
    if (!l.coactivation.empty())
      j["coactivation_lift"] = coactivation_lift(l.coactivation, l.counts, priors.top_k);
    if (!l.transitions.empty())
      j["transition_concentration"] = transition_concentration(l.transitions, priors.experts);
    if (l.drift.size() >= 2) {  // one window has nothing to drift from
      double worst = 0, mean = 0;
      for (std::size_t w = 1; w < l.drift.size(); ++w) {
        worst = std::max(worst, l.drift[w].distance);
        mean += l.drift[w].distance / static_cast<double>(l.drift.size() - 1);
      }
      j["drift_mean"] = mean;
      j["drift_max"] = worst;
    }
    if (full) {
      j["counts"] = l.counts;
      j["frequency"] = l.frequency;
      if (!l.coactivation.empty())
        j["coactivation"] = l.coactivation;
      if (!l.transitions.empty())
        j["transitions"] = l.transitions;
      auto& drift = j["drift"] = nlohmann::ordered_json::array();
      for (const auto& w : l.drift)
        drift.push_back({{"first_token", w.first_token},
                         {"tokens", w.tokens},
                         {"imbalance", w.imbalance},
                         {"distance", w.distance}});
    }
    layers.push_back(std::move(j));
  }
  return out;
}

}  // namespace mozart::trace
