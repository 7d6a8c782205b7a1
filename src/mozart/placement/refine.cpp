// Refinement: swaps of experts between chiplets that lower
//   J = C_T + λ · (chiplet max/mean load − 1)
// with C_T measured exactly on a sample of the trace's tokens, under two bounds that come first:
// the excess of the group max/mean load over --group-balance plus that of the chiplet max/mean
// load over --chiplet-balance (when one is given). A swap that lowers the excess is taken; one that
// raises it never is; among those that keep it, one that lowers J. So a placement over a bound is
// repaired first, and one within both never leaves them.
#include <algorithm>
#include <iterator>
#include <numeric>

#include "mozart/placement/metrics.hpp"
#include "mozart/placement/placers.hpp"

namespace mozart::placement {
namespace {

// Loads are token counts, whole numbers held exactly in doubles: sums are the same in any order,
// so a candidate swap is scored without being made, and the scores of the current placement are
// kept instead of recomputed.
class Refiner {
 public:
  Refiner(const LayerInput& in, const DeviceLayout& layout, const LayerPlacement& start,
          const PlacerOptions& options)
      : in_(in), layout_(layout), options_(options), chiplets_(layout.chiplet_count()) {
    home_.resize(static_cast<std::size_t>(in.experts));
    for (int e = 0; e < in.experts; ++e)
      home_[static_cast<std::size_t>(e)] = start.chiplets_of[static_cast<std::size_t>(e)].front();
    tokens_ = std::min(options.refine_tokens, in.trace->tokens);
    count_.assign(tokens_ * static_cast<std::size_t>(chiplets_), 0);
    distinct_.assign(tokens_, 0);
    tokens_of_.resize(static_cast<std::size_t>(in.experts));
    for (std::size_t t = 0; t < tokens_; ++t)
      for (const auto e : in.trace->choices(in.trace_layer, t)) {
        tokens_of_[e].push_back(static_cast<std::uint32_t>(t));
        add(t, home_[e], +1);
      }
    copies_ = std::accumulate(distinct_.begin(), distinct_.end(), 0.0);
    chiplet_load_.assign(static_cast<std::size_t>(chiplets_), 0.0);
    group_load_.assign(static_cast<std::size_t>(layout.group_count()), 0.0);
    for (int e = 0; e < in.experts; ++e)
      move_load(e, home_[static_cast<std::size_t>(e)], +1);
    std::vector<bool> holds(static_cast<std::size_t>(chiplets_), false);
    for (const int c : home_)
      holds[static_cast<std::size_t>(c)] = true;
    occupied_ = static_cast<double>(std::count(holds.begin(), holds.end(), true));
    chiplet_total_ = std::accumulate(chiplet_load_.begin(), chiplet_load_.end(), 0.0);
    group_total_ = std::accumulate(group_load_.begin(), group_load_.end(), 0.0);
    index_shared_tokens();
    count_token_states();
    score_current();
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
  struct Score {
    double objective = 0;
    double excess = 0;
  };

  // max/mean from a maximum and the (swap-invariant) total, as max_over_mean computes it.
  static double ratio(double max, double count, double total) {
    return total > 0 ? max * count / total : 0.0;
  }

  // J and the excess over the bounds, from the copies and the largest chiplet and group loads.
  // The chiplet max/mean is over the chiplets that hold experts (all of them when the experts
  // are at least as many), as --chiplet-balance is defined; a swap keeps which those are.
  Score score(double copies, double max_chiplet, double max_group) const {
    const double chiplet_ratio = ratio(max_chiplet, occupied_, chiplet_total_);
    const double group_ratio =
        ratio(max_group, static_cast<double>(group_load_.size()), group_total_);
    const double balance =
        ratio(max_chiplet, static_cast<double>(chiplet_load_.size()), chiplet_total_);
    Score s;
    s.objective = copies / static_cast<double>(std::max<std::size_t>(1, tokens_)) +
                  options_.lambda * (balance - 1.0);
    s.excess =
        std::max(0.0, group_ratio - options_.group_balance) +
        (options_.chiplet_balance > 0 ? std::max(0.0, chiplet_ratio - options_.chiplet_balance)
                                      : 0.0);
    return s;
  }

  void score_current() {
    current_ = score(copies_, *std::max_element(chiplet_load_.begin(), chiplet_load_.end()),
                     *std::max_element(group_load_.begin(), group_load_.end()));
  }

  // The largest entry of `load` with `x` and `y` changed by `dx` and `dy`.
  static double max_with(const std::vector<double>& load, std::size_t x, double dx, std::size_t y,
                         double dy) {
    double max = std::max(load[x] + dx, load[y] + dy);
    for (std::size_t i = 0; i < load.size(); ++i)
      if (i != x && i != y)
        max = std::max(max, load[i]);
    return max;
  }

  std::uint16_t& at(std::size_t token, int chiplet) {
    return count_[token * static_cast<std::size_t>(chiplets_) + static_cast<std::size_t>(chiplet)];
  }

  void add(std::size_t token, int chiplet, int delta) {
    auto& n = at(token, chiplet);
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

  // For each expert a, the tokens it shares with each later expert b: entries (b, token) of row
  // a, ordered by b then token (memory grows with the tokens' pairs, not with experts squared).
  // Two stable counting sorts of the pairs, found in token order: by b, then by a.
  void index_shared_tokens() {
    const auto experts = static_cast<std::size_t>(in_.experts);
    std::vector<std::pair<std::uint32_t, Shared>> pairs;  // (a, {b, token})
    for (std::size_t t = 0; t < tokens_; ++t) {
      const auto chosen = in_.trace->choices(in_.trace_layer, t);
      for (const auto a : chosen)
        for (const auto b : chosen)
          if (a < b)
            pairs.push_back({a, {b, static_cast<std::uint32_t>(t)}});
    }
    const auto counting_sort = [&](auto key, auto& from, auto& to) {
      std::vector<std::size_t> start(experts + 1, 0);
      for (const auto& p : from)
        ++start[key(p) + 1];
      std::partial_sum(start.begin(), start.end(), start.begin());
      to.resize(from.size());
      for (const auto& p : from)
        to[start[key(p)]++] = p;
    };
    std::vector<std::pair<std::uint32_t, Shared>> by_b;
    counting_sort([](const auto& p) { return std::size_t{p.second.expert}; }, pairs, by_b);
    counting_sort([](const auto& p) { return std::size_t{p.first}; }, by_b, pairs);
    shared_start_.assign(experts + 1, 0);
    shared_.clear();
    shared_.reserve(pairs.size());
    for (const auto& [a, entry] : pairs) {
      ++shared_start_[a + 1];
      shared_.push_back(entry);
    }
    std::partial_sum(shared_start_.begin(), shared_start_.end(), shared_start_.begin());
  }

  // absent_[e·C + c]: tokens of e with none of their experts on chiplet c (moving e there adds
  // a copy); alone_[e]: tokens of e with no other of their experts on e's chiplet (moving e away
  // removes one).
  // A token counts as absent at every chiplet but the few its experts are on.
  void count_token_states() {
    const auto C = static_cast<std::size_t>(chiplets_);
    absent_.assign(static_cast<std::size_t>(in_.experts) * C, 0);
    alone_.assign(static_cast<std::size_t>(in_.experts), 0);
    for (std::size_t e = 0; e < tokens_of_.size(); ++e)
      std::fill_n(absent_.begin() + static_cast<std::ptrdiff_t>(e * C), C,
                  static_cast<int>(tokens_of_[e].size()));
    std::vector<int> present;
    for (std::size_t t = 0; t < tokens_; ++t) {
      const auto chosen = in_.trace->choices(in_.trace_layer, t);
      present.clear();
      for (const auto e : chosen) {
        const int c = home_[e];
        if (at(t, c) == 1)
          ++alone_[e];
        if (std::find(present.begin(), present.end(), c) == present.end())
          present.push_back(c);
      }
      for (const int c : present)
        for (const auto e : chosen)
          --absent_[e * C + static_cast<std::size_t>(c)];
    }
  }

  // Adds (sign +1) or removes (-1) token t's part in absent_ and alone_ at chiplet c.
  void count_states(std::size_t t, int c, int sign) {
    const std::uint16_t n = at(t, c);
    for (const auto e : in_.trace->choices(in_.trace_layer, t)) {
      if (n == 0)
        absent_[e * static_cast<std::size_t>(chiplets_) + static_cast<std::size_t>(c)] += sign;
      if (n == 1 && home_[e] == c)
        alone_[e] += sign;
    }
  }

  // The change in copies if a and b swapped chiplets: each token of one of them only gains a
  // copy when the new chiplet had none of its experts and loses one when the old had only that
  // one; a token of both keeps its chiplets, so the terms counted for it are taken back.
  long long copies_delta(int a, int b) {
    const int ca = home_[static_cast<std::size_t>(a)], cb = home_[static_cast<std::size_t>(b)];
    const auto C = static_cast<std::size_t>(chiplets_);
    long long delta = static_cast<long long>(
                          absent_[static_cast<std::size_t>(a) * C + static_cast<std::size_t>(cb)]) -
                      alone_[static_cast<std::size_t>(a)] +
                      absent_[static_cast<std::size_t>(b) * C + static_cast<std::size_t>(ca)] -
                      alone_[static_cast<std::size_t>(b)];
    const auto row =
        shared_.begin() + static_cast<std::ptrdiff_t>(shared_start_[static_cast<std::size_t>(a)]);
    const auto row_end = shared_.begin() + static_cast<std::ptrdiff_t>(
                                               shared_start_[static_cast<std::size_t>(a) + 1]);
    const Shared first{static_cast<std::uint32_t>(b), 0};
    for (auto it = std::lower_bound(row, row_end, first);
         it != row_end && it->expert == first.expert; ++it)
      delta += (at(it->token, ca) == 1) + (at(it->token, cb) == 1);
    return delta;
  }

  // Makes the swap: counts, token states (at the two chiplets, the only ones that change) and
  // loads.
  void exchange(int a, int b) {
    const int ca = home_[static_cast<std::size_t>(a)], cb = home_[static_cast<std::size_t>(b)];
    std::vector<std::uint32_t> touched;
    std::set_union(tokens_of_[static_cast<std::size_t>(a)].begin(),
                   tokens_of_[static_cast<std::size_t>(a)].end(),
                   tokens_of_[static_cast<std::size_t>(b)].begin(),
                   tokens_of_[static_cast<std::size_t>(b)].end(), std::back_inserter(touched));
    // alone_ of a and b counts every token of theirs at their home, which is about to change.
    for (const auto t : touched) {
      count_states(t, ca, -1);
      count_states(t, cb, -1);
    }
    for (const auto t : tokens_of_[static_cast<std::size_t>(a)]) {
      add(t, cb, +1);
      add(t, ca, -1);
    }
    for (const auto t : tokens_of_[static_cast<std::size_t>(b)]) {
      add(t, ca, +1);
      add(t, cb, -1);
    }
    home_[static_cast<std::size_t>(a)] = cb;
    home_[static_cast<std::size_t>(b)] = ca;
    for (const auto t : touched) {
      count_states(t, ca, +1);
      count_states(t, cb, +1);
    }
    move_load(a, ca, -1), move_load(a, cb, +1), move_load(b, cb, -1), move_load(b, ca, +1);
  }

  bool try_swap(int a, int b) {
    constexpr double kTolerance = 1e-12;
    const auto ca = static_cast<std::size_t>(home_[static_cast<std::size_t>(a)]);
    const auto cb = static_cast<std::size_t>(home_[static_cast<std::size_t>(b)]);
    const double moved = in_.load[static_cast<std::size_t>(b)] -
                         in_.load[static_cast<std::size_t>(a)];  // onto ca, off cb
    const double max_chiplet = max_with(chiplet_load_, ca, moved, cb, -moved);
    const auto ga = static_cast<std::size_t>(layout_.group[ca]);
    const auto gb = static_cast<std::size_t>(layout_.group[cb]);
    const double max_group = ga == gb ? *std::max_element(group_load_.begin(), group_load_.end())
                                      : max_with(group_load_, ga, moved, gb, -moved);
    const Score before = current_;
    // The excess does not depend on the copies: a swap that raises it is refused unscored.
    const double excess_after = score(0, max_chiplet, max_group).excess;
    if (excess_after > before.excess)
      return false;
    const long long delta = copies_delta(a, b);
    const Score after = score(copies_ + static_cast<double>(delta), max_chiplet, max_group);
    if (after.excess < before.excess - kTolerance ||
        (after.excess <= before.excess && after.objective < before.objective - kTolerance)) {
      exchange(a, b);
      copies_ += static_cast<double>(delta);
      current_ = after;
      return true;
    }
    return false;
  }

  const LayerInput& in_;
  const DeviceLayout& layout_;
  const PlacerOptions& options_;
  int chiplets_ = 0;
  std::vector<int> home_;
  std::size_t tokens_ = 0;
  std::vector<std::uint16_t> count_;  // tokens × chiplets: the token's experts on the chiplet
  std::vector<int> distinct_;         // per token: chiplets it is sent to
  std::vector<std::vector<std::uint32_t>> tokens_of_;  // ascending
  struct Shared {
    std::uint32_t expert;  // the later expert of the pair
    std::uint32_t token;
    bool operator<(const Shared& o) const {
      return expert != o.expert ? expert < o.expert : token < o.token;
    }
  };
  std::vector<std::size_t> shared_start_;  // per expert: its row in shared_
  std::vector<Shared> shared_;
  std::vector<int> absent_, alone_;
  double copies_ = 0;
  double occupied_ = 0;  // chiplets that hold experts
  double chiplet_total_ = 0, group_total_ = 0;
  std::vector<double> chiplet_load_, group_load_;
  Score current_;
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
