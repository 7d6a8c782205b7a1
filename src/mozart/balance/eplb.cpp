// Invasive, EPLB-style rebalancing: every layer packed anew from the window's loads.
#include <algorithm>
#include <optional>

#include "mozart/balance/strategies.hpp"
#include "mozart/core/error.hpp"
#include "mozart/placement/placers.hpp"

namespace mozart::balance {
namespace {

// The balanced placer's packs are anonymous: give each to the device that already holds most of
// its experts (greedily, the largest overlaps first), so that only what must move is copied.
placement::LayerPlacement keep_in_place(const placement::LayerPlacement& before,
                                        const placement::LayerPlacement& packed, int devices) {
  const std::size_t n = std::size_t(devices);
  std::vector<std::vector<int>> overlap(n, std::vector<int>(n, 0));  // [pack][device]
  for (std::size_t e = 0; e < packed.chiplets_of.size(); ++e)
    for (int p : packed.chiplets_of[e])
      for (int d : before.chiplets_of[e])
        ++overlap[std::size_t(p)][std::size_t(d)];
  struct Pair {
    int count, pack, device;
  };
  std::vector<Pair> pairs;
  for (std::size_t p = 0; p < n; ++p)
    for (std::size_t d = 0; d < n; ++d)
      if (overlap[p][d] > 0)
        pairs.push_back({overlap[p][d], int(p), int(d)});
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const Pair& a, const Pair& b) { return a.count > b.count; });
  std::vector<int> device_of(n, -1), taken(n, 0);
  for (const Pair& pr : pairs)
    if (device_of[std::size_t(pr.pack)] < 0 && !taken[std::size_t(pr.device)]) {
      device_of[std::size_t(pr.pack)] = pr.device;
      taken[std::size_t(pr.device)] = 1;
    }
  std::size_t next = 0;
  for (std::size_t p = 0; p < n; ++p) {
    if (device_of[p] >= 0)
      continue;
    while (taken[next])
      ++next;
    device_of[p] = int(next);
    taken[next] = 1;
  }
  placement::LayerPlacement out = packed;
  for (auto& holders : out.chiplets_of)
    for (int& c : holders)
      c = device_of[std::size_t(c)];
  return out;
}

// Balanced packing with every free slot given a replica; the packing can corner itself (the last
// free slot beside a copy of the expert it is left with), and then one replica fewer is tried.
placement::LayerPlacement pack(const placement::Placer& placer, const placement::LayerInput& input,
                               const placement::DeviceLayout& layout, int slots) {
  placement::PlacerOptions options;
  std::optional<placement::SolverReport> report;
  for (options.replicas = slots - input.experts;; --options.replicas) {
    try {
      return placer.place(input, layout, options, report);
    } catch (const core::InputError&) {
      if (options.replicas == 0)
        throw;
    }
  }
}

}  // namespace

Decision InvasiveBalancer::decide(const View& view) const {
  if (view.iteration == 0 || view.iteration % options_.period != 0 || view.history.empty())
    return {};
  const int devices = int(view.hops.size());
  const placement::DeviceLayout layout =
      placement::uniform_layout(devices, 1, view.slots, "serving devices");
  const auto placer = placement::make_placer("balanced");
  Decision out;
  for (std::size_t li = 0; li < view.layers.size(); ++li) {
    const placement::LayerPlacement& before = view.layers[li];
    placement::LayerInput input;
    input.layer_id = before.layer_id;
    input.experts = int(before.chiplets_of.size());
    input.load = predicted_load(view.history, int(li), options_.window);
    const placement::LayerPlacement packed = pack(*placer, input, layout, devices * view.slots);
    placement::LayerPlacement after = keep_in_place(before, packed, devices);
    const std::vector<double> load = input.load;
    // Packing from the window's loads can lose to the layout it replaces on those same loads:
    // keep the old one then (a rebalancing never raises the predicted maximum).
    const auto peak = [&](const placement::LayerPlacement& p) {
      const auto loads = device_loads(p, load, devices);
      return *std::max_element(loads.begin(), loads.end());
    };
    if (peak(after) > peak(before))
      after = before;
    const auto copies = copies_between(int(li), before, after, view.hops);
    out.copies.insert(out.copies.end(), copies.begin(), copies.end());
    out.layers.push_back(std::move(after));
  }
  return out;
}

}  // namespace mozart::balance
