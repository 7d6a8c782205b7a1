// The simple placers, the registry, the per-layer driver and its within-group step.
#include "mozart/placement/placers.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/random.hpp"
#include "mozart/placement/placer_detail.hpp"
#include "mozart/trace/priors.hpp"

namespace mozart::placement {
namespace {

LayerPlacement from_order(int layer_id, const std::vector<int>& order, int chiplets) {
  LayerPlacement out{layer_id, std::vector<std::vector<int>>(order.size())};
  const auto n = static_cast<long long>(order.size());
  for (long long i = 0; i < n; ++i)
    out.chiplets_of[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])] = {
        static_cast<int>(i * chiplets / n)};
  return out;
}

std::vector<int> identity(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

class Contiguous final : public Placer {
 public:
  std::string name() const override { return "contiguous"; }
  bool uses_coactivation() const override { return false; }
  LayerPlacement place(const LayerInput& in, const DeviceLayout& layout, const PlacerOptions&,
                       std::optional<SolverReport>&) const override {
    return from_order(in.layer_id, identity(in.experts), layout.chiplet_count());
  }
};

class RoundRobin final : public Placer {
 public:
  std::string name() const override { return "round-robin"; }
  bool uses_coactivation() const override { return false; }
  LayerPlacement place(const LayerInput& in, const DeviceLayout& layout, const PlacerOptions&,
                       std::optional<SolverReport>&) const override {
    LayerPlacement out{in.layer_id,
                       std::vector<std::vector<int>>(static_cast<std::size_t>(in.experts))};
    for (int e = 0; e < in.experts; ++e)
      out.chiplets_of[static_cast<std::size_t>(e)] = {e % layout.chiplet_count()};
    return out;
  }
};

class Random final : public Placer {
 public:
  std::string name() const override { return "random"; }
  bool uses_coactivation() const override { return false; }
  LayerPlacement place(const LayerInput& in, const DeviceLayout& layout,
                       const PlacerOptions& options, std::optional<SolverReport>&) const override {
    auto order = identity(in.experts);
    core::Rng rng(options.seed ^ (static_cast<std::uint64_t>(in.layer_id) * 0x9E3779B97F4A7C15ull));
    for (std::size_t i = order.size(); i > 1; --i)
      std::swap(order[i - 1], order[rng.below(i)]);
    return from_order(in.layer_id, order, layout.chiplet_count());
  }
};

// EPLB: replicas to the expert with the largest load per replica, then each replica, heaviest
// first, onto the lightest chiplet with a free slot that does not hold the expert yet.
class Balanced final : public Placer {
 public:
  std::string name() const override { return "balanced"; }
  bool uses_coactivation() const override { return false; }
  // Replicas go into the slots the homes leave free: asking for more would place fewer than asked.
  void check(const std::vector<LayerInput>& inputs, const DeviceLayout& layout,
             const PlacerOptions& options) const override {
    if (inputs.empty() || options.replicas == 0)
      return;
    const long long slots = static_cast<long long>(layout.chiplet_count()) * layout.slots;
    const long long spare = slots - inputs.front().experts;
    if (options.replicas > spare)
      throw core::InputError(
          {"--replicas", "", 0}, std::to_string(options.replicas),
          fmt::format("at most the {} free slots ({} chiplets x {} slots - {} experts; raise "
                      "--slots for more)",
                      spare, layout.chiplet_count(), layout.slots, inputs.front().experts));
  }
  LayerPlacement place(const LayerInput& in, const DeviceLayout& layout,
                       const PlacerOptions& options, std::optional<SolverReport>&) const override {
    const int chiplets = layout.chiplet_count();
    const int spare = chiplets * layout.slots - in.experts;
    std::vector<int> copies(static_cast<std::size_t>(in.experts), 1);
    for (int r = 0; r < std::min(options.replicas, spare); ++r) {
      int hot = -1;  // an expert already on every chiplet takes no more copies
      for (int e = 0; e < in.experts; ++e)
        if (copies[static_cast<std::size_t>(e)] < chiplets &&
            (hot < 0 ||
             in.load[static_cast<std::size_t>(e)] / copies[static_cast<std::size_t>(e)] >
                 in.load[static_cast<std::size_t>(hot)] / copies[static_cast<std::size_t>(hot)]))
          hot = e;
      if (hot < 0)
        break;
      ++copies[static_cast<std::size_t>(hot)];
    }
    struct Item {
      double load;
      int expert;
    };
    std::vector<Item> items;
    for (int e = 0; e < in.experts; ++e)
      for (int r = 0; r < copies[static_cast<std::size_t>(e)]; ++r)
        items.push_back(
            {in.load[static_cast<std::size_t>(e)] / copies[static_cast<std::size_t>(e)], e});
    std::stable_sort(items.begin(), items.end(),
                     [](const Item& a, const Item& b) { return a.load > b.load; });
    std::vector<double> load(static_cast<std::size_t>(chiplets), 0.0);
    std::vector<int> used(static_cast<std::size_t>(chiplets), 0);
    LayerPlacement out{in.layer_id,
                       std::vector<std::vector<int>>(static_cast<std::size_t>(in.experts))};
    for (const auto& item : items) {
      auto& homes = out.chiplets_of[static_cast<std::size_t>(item.expert)];
      int best = -1;
      for (int c = 0; c < chiplets; ++c) {
        const auto ci = static_cast<std::size_t>(c);
        if (used[ci] >= layout.slots || std::find(homes.begin(), homes.end(), c) != homes.end())
          continue;
        if (best < 0 || load[ci] < load[static_cast<std::size_t>(best)])
          best = c;
      }
      if (best < 0)  // only a replica can find no chiplet: every free slot is beside a copy
        throw core::InputError(
            {"--replicas", "", 0}, std::to_string(options.replicas),
            fmt::format("replicas that fit layer {}: a copy of expert {} finds every free slot "
                        "beside one of its copies (use fewer, or raise --slots)",
                        in.layer_id, item.expert));
      homes.push_back(best);
      load[static_cast<std::size_t>(best)] += item.load;
      ++used[static_cast<std::size_t>(best)];
    }
    return out;
  }
};

}  // namespace

std::vector<std::string> placer_names() {
  return {"contiguous", "round-robin", "random",       "balanced",
          "occult",     "mozart",      "mozart-paper", "metis"};
}

std::unique_ptr<Placer> make_placer(const std::string& name) {
  if (name == "contiguous")
    return std::make_unique<Contiguous>();
  if (name == "round-robin")
    return std::make_unique<RoundRobin>();
  if (name == "random")
    return std::make_unique<Random>();
  if (name == "balanced")
    return std::make_unique<Balanced>();
  if (name == "occult")
    return detail::make_occult();
  if (name == "mozart")
    return detail::make_mozart();
  if (name == "mozart-paper")
    return detail::make_mozart_paper();
  if (name == "metis")
    return detail::make_metis();
  throw core::InputError({"--placer", "placer", 0}, name,
                         fmt::format("one of {}", fmt::join(placer_names(), ", ")));
}

std::vector<LayerInput> layer_inputs(const trace::Trace& trace, bool coactivation) {
  const auto priors = trace::compute_priors(trace, {0, coactivation});
  std::vector<LayerInput> out;
  for (int l = 0; l < trace.layers(); ++l) {
    const auto& p = priors.layers[static_cast<std::size_t>(l)];
    LayerInput in;
    in.layer_id = p.layer_id;
    in.experts = trace.num_experts();
    in.top_k = trace.top_k();
    in.load.assign(p.counts.begin(), p.counts.end());
    in.coactivation.assign(p.coactivation.begin(), p.coactivation.end());
    in.trace = &trace;
    in.trace_layer = l;
    out.push_back(std::move(in));
  }
  return out;
}

std::vector<LayerInput> layer_inputs(const trace::Trace& trace, const std::string& placer) {
  return layer_inputs(trace, make_placer(placer)->uses_coactivation());
}

// Pairing the heaviest layer load with the least step load is exact for the largest sum: if
// an assignment pairs a lighter-so-far chiplet with a lighter layer load than a heavier one
// does, exchanging the two layer loads does not raise the larger of the two sums; repeating
// that reaches the sorted pairing without raising the maximum. Chiplets exchange contents only
// within a group and among equal hops, so C_T, the group loads and the hop-weighted copies stay.
std::vector<int> assign_within_groups(const DeviceLayout& layout,
                                      const std::vector<double>& step_load,
                                      const std::vector<double>& layer_load) {
  std::map<std::pair<int, double>, std::vector<int>> classes;  // (group, hops) → chiplets
  for (int c = 0; c < layout.chiplet_count(); ++c) {
    const auto ci = static_cast<std::size_t>(c);
    classes[{layout.group[ci], ci < layout.hops.size() ? layout.hops[ci] : 0.0}].push_back(c);
  }
  std::vector<int> to(static_cast<std::size_t>(layout.chiplet_count()));
  for (const auto& [key, chiplets] : classes) {
    auto heaviest_first = chiplets, least_loaded_first = chiplets;
    std::stable_sort(heaviest_first.begin(), heaviest_first.end(), [&](int a, int b) {
      return layer_load[static_cast<std::size_t>(a)] > layer_load[static_cast<std::size_t>(b)];
    });
    std::stable_sort(least_loaded_first.begin(), least_loaded_first.end(), [&](int a, int b) {
      return step_load[static_cast<std::size_t>(a)] < step_load[static_cast<std::size_t>(b)];
    });
    for (std::size_t i = 0; i < chiplets.size(); ++i)
      to[static_cast<std::size_t>(heaviest_first[i])] = least_loaded_first[i];
  }
  return to;
}

namespace {

// Routed slots per chiplet by the priors; a replicated expert's split evenly over its copies.
std::vector<double> chiplet_loads(const LayerInput& in, const LayerPlacement& layer, int chiplets) {
  std::vector<double> load(static_cast<std::size_t>(chiplets), 0.0);
  for (std::size_t e = 0; e < layer.chiplets_of.size(); ++e)
    for (const int c : layer.chiplets_of[e])
      load[static_cast<std::size_t>(c)] +=
          in.load[e] / static_cast<double>(layer.chiplets_of[e].size());
  return load;
}

// The same pairing for whole groups among alike ones (as many chiplets, the same hops in
// order): the layer's heaviest group to the group least loaded so far. Exact for the largest
// group total; it lets the within-group step even the chiplets of groups that the allocation
// leaves uneven the same way in every layer (it puts the heaviest cluster in group 0).
std::vector<int> assign_groups(const DeviceLayout& layout, const std::vector<double>& step_load,
                               const std::vector<double>& layer_load) {
  const int groups = layout.group_count();
  std::vector<double> group_step(static_cast<std::size_t>(groups), 0.0),
      group_layer(static_cast<std::size_t>(groups), 0.0);
  std::map<std::vector<double>, std::vector<int>> alike;  // hops in order → groups
  std::vector<std::vector<int>> members(static_cast<std::size_t>(groups));
  for (int g = 0; g < groups; ++g) {
    const auto gi = static_cast<std::size_t>(g);
    members[gi] = layout.chiplets_in_group(g);
    std::vector<double> hops;
    for (const int c : members[gi]) {
      const auto ci = static_cast<std::size_t>(c);
      group_step[gi] += step_load[ci];
      group_layer[gi] += layer_load[ci];
      hops.push_back(ci < layout.hops.size() ? layout.hops[ci] : 0.0);
    }
    alike[hops].push_back(g);
  }
  std::vector<int> to(static_cast<std::size_t>(layout.chiplet_count()));
  std::iota(to.begin(), to.end(), 0);
  for (const auto& [hops, list] : alike) {
    auto heaviest_first = list, least_loaded_first = list;
    std::stable_sort(heaviest_first.begin(), heaviest_first.end(), [&](int a, int b) {
      return group_layer[static_cast<std::size_t>(a)] > group_layer[static_cast<std::size_t>(b)];
    });
    std::stable_sort(least_loaded_first.begin(), least_loaded_first.end(), [&](int a, int b) {
      return group_step[static_cast<std::size_t>(a)] < group_step[static_cast<std::size_t>(b)];
    });
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto& from = members[static_cast<std::size_t>(heaviest_first[i])];
      const auto& into = members[static_cast<std::size_t>(least_loaded_first[i])];
      for (std::size_t j = 0; j < from.size(); ++j)
        to[static_cast<std::size_t>(from[j])] = into[j];
    }
  }
  return to;
}

// Moves chiplet c's experts (and load) to chiplet to[c].
void move_contents(const std::vector<int>& to, LayerPlacement& layer, std::vector<double>& load) {
  for (auto& chiplets : layer.chiplets_of)
    for (auto& c : chiplets)
      c = to[static_cast<std::size_t>(c)];
  std::vector<double> moved(load.size(), 0.0);
  for (std::size_t c = 0; c < load.size(); ++c)
    moved[static_cast<std::size_t>(to[c])] = load[c];
  load = std::move(moved);
}

}  // namespace

Placement place(const trace::Trace& trace, const DeviceLayout& layout,
                const std::string& placer_name, const PlacerOptions& options) {
  return place(trace, layer_inputs(trace, placer_name), layout, placer_name, options);
}

Placement place(const trace::Trace& trace, const std::vector<LayerInput>& inputs,
                const DeviceLayout& layout, const std::string& placer_name,
                const PlacerOptions& options) {
  if (static_cast<long long>(layout.chiplet_count()) * layout.slots < trace.num_experts())
    throw core::InputError(
        {layout.hardware, "slots", 0},
        fmt::format("{} chiplets × {} slots", layout.chiplet_count(), layout.slots),
        fmt::format("room for the {} experts of a layer", trace.num_experts()));
  const auto placer = make_placer(placer_name);
  Placement out;
  out.model = trace.model;
  out.experts = trace.num_experts();
  out.placer = placer_name + (options.refine ? "+refine" : "");
  out.layout = layout;
  std::vector<double> step_load(static_cast<std::size_t>(layout.chiplet_count()), 0.0);
  if (placer->uses_coactivation())
    for (const LayerInput& in : inputs)
      if (in.coactivation.size() != std::size_t(in.experts) * std::size_t(in.experts))
        throw std::invalid_argument("placer " + placer_name +
                                    " reads co-activation: its inputs were made without it");
  placer->check(inputs, layout, options);
  for (const auto& input : inputs) {
    std::optional<SolverReport> report;
    auto layer = placer->place(input, layout, options, report);
    if (options.refine)
      layer = refine(input, layout, std::move(layer), options);
    auto load = chiplet_loads(input, layer, layout.chiplet_count());
    if (placer->free_chiplet_labels()) {
      move_contents(assign_groups(layout, step_load, load), layer, load);
      move_contents(assign_within_groups(layout, step_load, load), layer, load);
    }
    for (std::size_t c = 0; c < load.size(); ++c)
      step_load[c] += load[c];
    out.layers.push_back(std::move(layer));
    out.solver.push_back(report);
  }
  validate(out, "placer " + placer_name);
  return out;
}

}  // namespace mozart::placement
