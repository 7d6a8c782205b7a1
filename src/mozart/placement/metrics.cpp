#include "mozart/placement/metrics.hpp"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::placement {
namespace {

// The chiplet each of a token's experts is sent to, by the rule in the header.
void route_token(std::span<const trace::ExpertId> ids, const LayerPlacement& layer,
                 const std::vector<double>& load, std::vector<int>& out) {
  out.clear();
  for (const auto e : ids) {
    const auto& homes = layer.chiplets_of[e];
    int pick = homes.front();
    if (homes.size() > 1) {
      const auto shared = std::find_first_of(homes.begin(), homes.end(), out.begin(), out.end());
      if (shared != homes.end()) {
        pick = *shared;
      } else {
        for (const int c : homes)
          if (load[static_cast<std::size_t>(c)] < load[static_cast<std::size_t>(pick)])
            pick = c;
      }
    }
    out.push_back(pick);
  }
}

LayerMetrics evaluate_layer(const Placement& p, const LayerPlacement& layer, const trace::Trace& t,
                            int trace_layer) {
  const auto& layout = p.layout;
  LayerMetrics m;
  m.layer_id = layer.layer_id;
  m.chiplet_load.assign(static_cast<std::size_t>(layout.chiplet_count()), 0.0);
  m.group_load.assign(static_cast<std::size_t>(layout.group_count()), 0.0);
  std::vector<std::uint64_t> chiplet_stamp(m.chiplet_load.size(), 0),
      group_stamp(m.group_load.size(), 0);
  std::vector<int> chosen;
  double chiplets = 0, groups = 0, hops = 0;
  for (std::size_t token = 0; token < t.tokens; ++token) {
    route_token(t.choices(trace_layer, token), layer, m.chiplet_load, chosen);
    const std::uint64_t stamp = token + 1;
    for (const int c : chosen) {
      const auto ci = static_cast<std::size_t>(c);
      const auto gi = static_cast<std::size_t>(layout.group[ci]);
      m.chiplet_load[ci] += 1;
      m.group_load[gi] += 1;
      if (chiplet_stamp[ci] != stamp) {
        chiplet_stamp[ci] = stamp;
        chiplets += 1;
        hops += layout.hops[ci];
      }
      if (group_stamp[gi] != stamp) {
        group_stamp[gi] = stamp;
        groups += 1;
      }
    }
  }
  const double n = std::max<double>(1, static_cast<double>(t.tokens));
  m.copies_chiplets = chiplets / n;
  m.copies_groups = groups / n;
  m.hop_copies = hops / n;
  m.chiplet_imbalance = max_over_mean(m.chiplet_load);
  m.group_imbalance = max_over_mean(m.group_load);
  return m;
}

}  // namespace

double max_over_mean(const std::vector<double>& load) {
  if (load.empty())
    return 0;
  const double total = std::accumulate(load.begin(), load.end(), 0.0);
  if (total <= 0)
    return 0;
  return *std::max_element(load.begin(), load.end()) * static_cast<double>(load.size()) / total;
}

Metrics evaluate(const Placement& p, const trace::Trace& t, double expert_bytes) {
  check_matches(p, t.model.empty() ? "the trace" : "the trace of " + t.model, t.num_experts(),
                t.shape.layer_ids);
  Metrics out;
  for (int l = 0; l < t.layers(); ++l) {
    const int id = t.shape.layer_ids[static_cast<std::size_t>(l)];
    const auto it = std::find_if(p.layers.begin(), p.layers.end(),
                                 [&](const LayerPlacement& lp) { return lp.layer_id == id; });
    out.layers.push_back(evaluate_layer(p, *it, t, l));
  }
  const double n = std::max<double>(1, static_cast<double>(out.layers.size()));
  out.step_chiplet_load.assign(static_cast<std::size_t>(p.layout.chiplet_count()), 0.0);
  std::vector<double> step_group_load(static_cast<std::size_t>(p.layout.group_count()), 0.0);
  for (const auto& m : out.layers) {
    for (std::size_t c = 0; c < m.chiplet_load.size(); ++c)
      out.step_chiplet_load[c] += m.chiplet_load[c];
    for (std::size_t g = 0; g < m.group_load.size(); ++g)
      step_group_load[g] += m.group_load[g];
    out.worst_chiplet_imbalance = std::max(out.worst_chiplet_imbalance, m.chiplet_imbalance);
    out.copies_chiplets += m.copies_chiplets / n;
    out.copies_groups += m.copies_groups / n;
    out.chiplet_imbalance += m.chiplet_imbalance / n;
    out.group_imbalance += m.group_imbalance / n;
    out.hop_copies += m.hop_copies / n;
  }
  out.step_chiplet_imbalance = max_over_mean(out.step_chiplet_load);
  out.step_group_imbalance = max_over_mean(step_group_load);
  out.expert_bytes = expert_bytes;
  out.memory_bytes = p.layout.memory_bytes;
  std::vector<double> experts_held(static_cast<std::size_t>(p.layout.chiplet_count()), 0.0);
  for (std::size_t l = 0; l < p.layers.size(); ++l) {
    const auto on = p.experts_on(l);
    for (std::size_t c = 0; c < on.size(); ++c)
      experts_held[c] += static_cast<double>(on[c].size());
  }
  out.max_weight_bytes = expert_bytes * *std::max_element(experts_held.begin(), experts_held.end());
  return out;
}

nlohmann::ordered_json to_json(const Metrics& m, bool per_layer) {
  nlohmann::ordered_json out{{"copies_chiplets", m.copies_chiplets},
                             {"copies_groups", m.copies_groups},
                             {"chiplet_imbalance", m.chiplet_imbalance},
                             {"group_imbalance", m.group_imbalance},
                             {"hop_copies", m.hop_copies},
                             {"worst_layer_chiplet_imbalance", m.worst_chiplet_imbalance},
                             {"step_chiplet_imbalance", m.step_chiplet_imbalance},
                             {"step_group_imbalance", m.step_group_imbalance},
                             {"step_chiplet_load", m.step_chiplet_load},
                             {"expert_bytes", m.expert_bytes},
                             {"max_weight_bytes_per_chiplet", m.max_weight_bytes},
                             {"memory_bytes_per_chiplet", m.memory_bytes}};
  if (per_layer) {
    auto& layers = out["layers"] = nlohmann::ordered_json::array();
    for (const auto& l : m.layers)
      layers.push_back({{"layer", l.layer_id},
                        {"copies_chiplets", l.copies_chiplets},
                        {"copies_groups", l.copies_groups},
                        {"chiplet_imbalance", l.chiplet_imbalance},
                        {"group_imbalance", l.group_imbalance},
                        {"hop_copies", l.hop_copies},
                        {"chiplet_load", l.chiplet_load},
                        {"group_load", l.group_load}});
  }
  return out;
}

}  // namespace mozart::placement
