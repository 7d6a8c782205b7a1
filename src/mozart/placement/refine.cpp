// Refinement: swaps of experts between chiplets that lower
//   J = C_T + λ · (chiplet max/mean load − 1)
// with C_T measured exactly on a sample of the trace's tokens, under two bounds that come first:
// the excess of the group max/mean load over --group-balance plus that of the chiplet max/mean
// load over --chiplet-balance (when one is given). A swap that lowers the excess is taken; one that
// raises it never is; among those that keep it, one that lowers J. So a placement over a bound is
// repaired first, and one within both never leaves them.
#include <algorithm>
#include <numeric>

#include "mozart/placement/metrics.hpp"
#include "mozart/placement/placers.hpp"

namespace mozart::placement {
namespace {

class Refiner {
 public:
  Refiner(const LayerInput& in, const DeviceLayout& layout, const LayerPlacement& start,
          const PlacerOptions& options)
      : in_(in), layout_(layout), options_(options) {
    const auto chiplets = static_cast<std::size_t>(layout.chiplet_count());
    home_.resize(static_cast<std::size_t>(in.experts));
    for (int e = 0; e < in.experts; ++e)
      home_[static_cast<std::size_t>(e)] = start.chiplets_of[static_cast<std::size_t>(e)].front();
    tokens_ = std::min(options.refine_tokens, in.trace->tokens);
    count_.assign(tokens_ * chiplets, 0);
    distinct_.assign(tokens_, 0);
    tokens_of_.resize(static_cast<std::size_t>(in.experts));
    for (std::size_t t = 0; t < tokens_; ++t)
      for (const auto e : in.trace->choices(in.trace_layer, t)) {
        tokens_of_[e].push_back(static_cast<std::uint32_t>(t));
        add(t, home_[e], +1);
      }
    copies_ = std::accumulate(distinct_.begin(), distinct_.end(), 0.0);
    chiplet_load_.assign(chiplets, 0.0);
    group_load_.assign(static_cast<std::size_t>(layout.group_count()), 0.0);
    for (int e = 0; e < in.experts; ++e)
      move_load(e, home_[static_cast<std::size_t>(e)], +1);
    std::vector<bool> holds(chiplets, false);
    for (const int c : home_)
      holds[static_cast<std::size_t>(c)] = true;
    occupied_ = static_cast<double>(std::count(holds.begin(), holds.end(), true));
  }

  LayerPlacement run() {
    for (int pass = 0; pass < options_.refine_passes; ++pass) {
      bool improved = false;
      for (int a = 0; a < in_.experts; ++a)
        for (int b = a + 1; b < in_.experts; ++b)
          if (home_[static_cast<std::size_t>(a)] != home_[static_cast<std::size_t>(b)])
            improved |= try_swap(a, b);
      if (!improved)
        break;
    }
    LayerPlacement out{in_.layer_id, {}};
    for (const int c : home_)
      out.chiplets_of.push_back({c});
    return out;
  }

 private:
  double objective(double copies) const {
    return copies / static_cast<double>(std::max<std::size_t>(1, tokens_)) +
           options_.lambda * (max_over_mean(chiplet_load_) - 1.0);
  }

  // The chiplet max/mean is over the chiplets that hold experts (all of them when the experts
  // are at least as many), as --chiplet-balance is defined; a swap keeps which those are.
  double excess() const {
    const double total = std::accumulate(chiplet_load_.begin(), chiplet_load_.end(), 0.0);
    const double chiplet_ratio =
        total > 0
            ? *std::max_element(chiplet_load_.begin(), chiplet_load_.end()) * occupied_ / total
            : 0.0;
    return std::max(0.0, max_over_mean(group_load_) - options_.group_balance) +
           (options_.chiplet_balance > 0 ? std::max(0.0, chiplet_ratio - options_.chiplet_balance)
                                         : 0.0);
  }

  void add(std::size_t token, int chiplet, int delta) {
    auto& n = count_[token * static_cast<std::size_t>(layout_.chiplet_count()) +
                     static_cast<std::size_t>(chiplet)];
    if (delta > 0 && n++ == 0)
      ++distinct_[token];
    if (delta < 0 && --n == 0)
      --distinct_[token];
  }

  void move_load(int e, int chiplet, int sign) {
    const double load = sign * in_.load[static_cast<std::size_t>(e)];
    chiplet_load_[static_cast<std::size_t>(chiplet)] += load;
    group_load_[static_cast<std::size_t>(layout_.group[static_cast<std::size_t>(chiplet)])] += load;
  }

  // Moves a to b's chiplet and b to a's, on every token of either; returns the change in copies.
  double exchange(int a, int b) {
    const int ca = home_[static_cast<std::size_t>(a)], cb = home_[static_cast<std::size_t>(b)];
    double before = 0, after = 0;
    const auto shift = [&](int e, int from, int to) {
      for (const auto t : tokens_of_[static_cast<std::size_t>(e)]) {
        before += distinct_[t];
        add(t, to, +1);
        add(t, from, -1);
        after += distinct_[t];
      }
    };
    shift(a, ca, cb);
    shift(b, cb, ca);
    home_[static_cast<std::size_t>(a)] = cb;
    home_[static_cast<std::size_t>(b)] = ca;
    move_load(a, ca, -1), move_load(a, cb, +1), move_load(b, cb, -1), move_load(b, ca, +1);
    return after - before;
  }

  bool try_swap(int a, int b) {
    constexpr double kTolerance = 1e-12;
    const double before = objective(copies_), excess_before = excess();
    const double delta = exchange(a, b);
    const double after = objective(copies_ + delta), excess_after = excess();
    if (excess_after < excess_before - kTolerance ||
        (excess_after <= excess_before && after < before - kTolerance)) {
      copies_ += delta;
      return true;
    }
    exchange(a, b);  // undo
    return false;
  }

  const LayerInput& in_;
  const DeviceLayout& layout_;
  const PlacerOptions& options_;
  std::vector<int> home_;
  std::size_t tokens_ = 0;
  std::vector<std::uint16_t> count_;  // tokens × chiplets: the token's experts on the chiplet
  std::vector<int> distinct_;         // per token: chiplets it is sent to
  std::vector<std::vector<std::uint32_t>> tokens_of_;
  double copies_ = 0;
  double occupied_ = 0;  // chiplets that hold experts
  std::vector<double> chiplet_load_, group_load_;
};

}  // namespace

LayerPlacement refine(const LayerInput& input, const DeviceLayout& layout, LayerPlacement placement,
                      const PlacerOptions& options) {
  const bool replicated = std::any_of(placement.chiplets_of.begin(), placement.chiplets_of.end(),
                                      [](const auto& homes) { return homes.size() != 1; });
  if (replicated || input.trace == nullptr || input.trace->tokens == 0)
    return placement;
  return Refiner(input, layout, placement, options).run();
}

}  // namespace mozart::placement
