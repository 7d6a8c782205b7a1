// NI-Balancer's decisions: hot experts of the most loaded device copied to nearby shadow slots.
#include <algorithm>

#include "mozart/balance/strategies.hpp"

namespace mozart::balance {
namespace {

struct LayerState {
  placement::LayerPlacement placement;
  const std::vector<double>& load;
  std::vector<int> used;  // slots taken per device

  double share(int e) const {
    return load[std::size_t(e)] / double(placement.chiplets_of[std::size_t(e)].size());
  }
  std::vector<double> loads() const { return device_loads(placement, load, int(used.size())); }
};

bool holds(const placement::LayerPlacement& p, int e, int d) {
  const auto& h = p.chiplets_of[std::size_t(e)];
  return std::find(h.begin(), h.end(), d) != h.end();
}

double max_of(const std::vector<double>& v) {
  return *std::max_element(v.begin(), v.end());
}

// Drops the replica (never a home) whose loss raises no device to the current maximum or above,
// the one with the least load per replica first; false when none may go.
bool free_a_slot(LayerState& s, int keep) {
  const std::vector<double> now = s.loads();
  const double peak = max_of(now);
  int best_e = -1, best_d = -1;
  for (int e = 0; e < int(s.placement.chiplets_of.size()); ++e) {
    const auto& h = s.placement.chiplets_of[std::size_t(e)];
    if (e == keep || h.size() < 2)
      continue;
    const double gain = s.load[std::size_t(e)] / double(h.size() - 1) - s.share(e);
    bool fits = true;
    for (std::size_t i = 0; i + 1 < h.size(); ++i)  // h.back() is the replica that goes
      fits = fits && now[std::size_t(h[i])] + gain < peak;
    if (!fits)
      continue;
    if (best_e < 0 || s.share(e) < s.share(best_e))
      best_e = e, best_d = h.back();
  }
  if (best_e < 0)
    return false;
  auto& h = s.placement.chiplets_of[std::size_t(best_e)];
  h.erase(std::find(h.begin(), h.end(), best_d));
  --s.used[std::size_t(best_d)];
  return true;
}

// Where a copy of e (load per replica `share` once copied) goes: the nearest device to `from`
// with a free slot that the copy does not make the most loaded; when every such device would
// become the maximum, the one that leaves the lowest maximum (ties: the nearest). Only devices
// that leave the maximum below `peak` qualify; -1 when none does.
int target_for(const LayerState& s, int e, int from, const std::vector<double>& after_holders,
               double share, double peak, const std::vector<std::vector<int>>& hops, int slots) {
  int best = -1;
  bool best_below = false;
  double best_max = peak;
  for (int t = 0; t < int(s.used.size()); ++t) {
    if (s.used[std::size_t(t)] >= slots || holds(s.placement, e, t))
      continue;
    const double mine = after_holders[std::size_t(t)] + share;
    double others = 0;
    for (int d = 0; d < int(s.used.size()); ++d)
      if (d != t)
        others = std::max(others, after_holders[std::size_t(d)]);
    const double new_max = std::max(mine, others);
    if (new_max >= peak)
      continue;
    const bool below = mine < others;
    const int h = hops[std::size_t(from)][std::size_t(t)];
    const bool better =
        best < 0 || (below && !best_below) ||
        (below == best_below &&
         (below ? h < hops[std::size_t(from)][std::size_t(best)]
                : new_max < best_max ||
                      (new_max == best_max && h < hops[std::size_t(from)][std::size_t(best)])));
    if (better) {
      best = t;
      best_below = below;
      best_max = new_max;
    }
  }
  return best;
}

// The holder of e before this decision nearest to t (ties: the lower device): where the weights
// are.
int source_for(const placement::LayerPlacement& before, int e, int t,
               const std::vector<std::vector<int>>& hops) {
  int best = -1;
  for (int d : before.chiplets_of[std::size_t(e)])
    if (best < 0 ||
        hops[std::size_t(d)][std::size_t(t)] < hops[std::size_t(best)][std::size_t(t)] ||
        (hops[std::size_t(d)][std::size_t(t)] == hops[std::size_t(best)][std::size_t(t)] &&
         d < best))
      best = d;
  return best;
}

// One copy that lowers the layer's predicted maximum, or false.
bool copy_once(LayerState& s, const placement::LayerPlacement& before, int li,
               const std::vector<std::vector<int>>& hops, int slots, double alpha,
               std::vector<Copy>& copies, bool may_free = true) {
  const std::vector<double> now = s.loads();
  const int devices = int(now.size());
  const auto top = std::max_element(now.begin(), now.end());
  double mean = 0;
  for (double v : now)
    mean += v / devices;
  if (mean <= 0 || *top / mean - 1 <= alpha)
    return false;
  const int hot_device = int(top - now.begin());
  int hot = -1;
  for (int e = 0; e < int(s.placement.chiplets_of.size()); ++e)
    if (holds(s.placement, e, hot_device) && (hot < 0 || s.share(e) > s.share(hot)))
      hot = e;
  if (hot < 0 || int(s.placement.chiplets_of[std::size_t(hot)].size()) >= devices)
    return false;
  const auto& holders = s.placement.chiplets_of[std::size_t(hot)];
  const double share = s.load[std::size_t(hot)] / double(holders.size() + 1);
  std::vector<double> after = now;
  for (int d : holders)
    after[std::size_t(d)] -= s.share(hot) - share;
  const int t = target_for(s, hot, hot_device, after, share, *top, hops, slots);
  if (t < 0 && may_free && free_a_slot(s, hot))
    return copy_once(s, before, li, hops, slots, alpha, copies, false);
  if (t < 0)
    return false;
  copies.push_back({li, hot, source_for(before, hot, t, hops), t});
  s.placement.chiplets_of[std::size_t(hot)].push_back(t);
  ++s.used[std::size_t(t)];
  return true;
}

}  // namespace

Decision NonInvasiveBalancer::decide(const View& view) const {
  if (view.history.empty())
    return {};
  const int devices = int(view.hops.size());
  Decision out;
  bool changed = false;
  for (std::size_t li = 0; li < view.layers.size(); ++li) {
    const std::vector<double> load = predicted_load(view.history, int(li), options_.window);
    LayerState s{view.layers[li], load, std::vector<int>(std::size_t(devices), 0)};
    for (const auto& h : s.placement.chiplets_of)
      for (int d : h)
        ++s.used[std::size_t(d)];
    for (int m = 0; m < options_.moves; ++m)
      if (!copy_once(s, view.layers[li], int(li), view.hops, view.slots, options_.alpha,
                     out.copies))
        break;
    changed = changed || s.placement.chiplets_of != view.layers[li].chiplets_of;
    out.layers.push_back(std::move(s.placement));
  }
  if (!changed)
    return {};
  return out;
}

}  // namespace mozart::balance
