// Internal to the trace module: drawing a token's k experts, shared by the generators, and the
// search that fits a generator's reuse parameter.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

#include "mozart/core/random.hpp"
#include "mozart/trace/trace.hpp"

namespace mozart::trace::detail {

// k distinct experts by repeated draws from `table` (whose weights are `weights`): the same law,
// and order, as drawing without replacement; the draw order is the rank. With `gates`, the
// normalised weights of the chosen experts, falling with rank.
void draw_distinct(const core::AliasTable& table, const std::vector<double>& weights, int k,
                   core::Rng& rng, ExpertId* out, float* gates);

// k distinct experts drawn in turn, each with probability proportional to its weight among the
// experts not yet drawn (sequential sampling without replacement: draw_distinct's law), in time
// linear in the experts already drawn whatever the weights' concentration: `trace gen --like`'s
// sampler.
//
// Exactness. The weights are quantised once to integers q_i summing to 2^56 (each rounded, a
// positive one to at least 1, the rounding's few units given to the heaviest), and expert i is
// the interval [start_i, start_i + q_i) of [0, 2^56). Each draw is exact for the q_i; with R
// units left undrawn, q_i / R is w_i's share of the undrawn weight to within 2 size() / R.
// - While the drawn experts hold at most half the weight (R ≥ 2^55): Vose's alias table of all
//   experts, in integers (column c uniform, kept with probability a_c / 2^56, else its alias),
//   drawn again until the expert is an undrawn one. An undrawn expert comes with probability
//   q_i / 2^56 per try, so the first one comes with probability q_i / R.
// - Then, while R ≥ 2^48: a uniform integer u in [0, R) (Lemire's multiply-shift with its
//   rejection step: exactly uniform) is moved past each drawn interval that starts at or below
//   it, in ascending order. This maps [0, R) one to one, in order, onto the union of the undrawn
//   intervals, so the interval holding the result x is expert i's with probability q_i / R. It
//   is found through a guide table (the first expert of each of 2^g ≥ size() equal slices of
//   [0, 2^56)) and a count of the interval ends at or below x, eight at a time.
// - Below 2^48 units (the drawn experts hold all but 2^-8 of the weight, where the quantised
//   shares of the light experts left would lose precision): the weights themselves, in double
//   precision, by a scan of the undrawn experts.
// Which way a draw takes depends only on the experts already drawn, so the law is the same
// whichever is taken; all but the last are integer arithmetic, the same on every platform.
class SequentialDraw {
 public:
  static constexpr int kBits = 56;
  static constexpr std::uint64_t kTotal = std::uint64_t{1} << kBits;
  // Below this many units left undrawn, the rest are drawn from the weights themselves.
  static constexpr std::uint64_t kFine = std::uint64_t{1} << 48;

  // Weights finite and non-negative with a positive sum (the caller checks).
  explicit SequentialDraw(const std::vector<double>& weights);

  std::size_t size() const { return order_.size(); }
  // Words of the scratch bitset draw() takes.
  std::size_t words() const { return (order_.size() + 63) / 64; }

  // k ≤ size() experts in draw order (the rank) at `out`; fewer than k with weight: those,
  // then the lowest ids without weight. With `gates`, the drawn experts' weights normalised
  // over the k, falling with rank. `picked`: words() zero words, left zero.
  void draw(int k, core::Rng& rng, ExpertId* out, float* gates, std::uint64_t* picked) const {
    if (words() == 1) {  // the common case, its set in a register
      OneWord set;
      draw(k, rng, out, gates, set);
    } else {
      Words set{picked, words()};
      draw(k, rng, out, gates, set);
      std::fill(picked, picked + words(), 0);
    }
  }

 private:
  // The drawn experts' positions as a bitset, visited in ascending order.
  struct OneWord {
    std::uint64_t bits = 0;
    bool has(std::size_t i) const { return (bits >> i & 1) != 0; }
    void add(std::size_t i) { bits |= std::uint64_t{1} << i; }
    template <class F>
    void each(const F& f) const {
      for (std::uint64_t m = bits; m != 0; m &= m - 1)
        f(static_cast<std::size_t>(std::countr_zero(m)));
    }
  };
  struct Words {
    std::uint64_t* bits;
    std::size_t words;
    bool has(std::size_t i) const { return (bits[i / 64] >> (i % 64) & 1) != 0; }
    void add(std::size_t i) { bits[i / 64] |= std::uint64_t{1} << (i % 64); }
    template <class F>
    void each(const F& f) const {
      for (std::size_t w = 0; w < words; ++w)
        for (std::uint64_t m = bits[w]; m != 0; m &= m - 1)
          f(w * 64 + static_cast<std::size_t>(std::countr_zero(m)));
    }
  };

  // The three ways of the class comment, by the units left undrawn.
  template <class Set>
  void draw(int k, core::Rng& rng, ExpertId* out, float* gates, Set& set) const {
    std::uint64_t remaining = kTotal;
    std::size_t next_zero = positive_;  // the next expert without weight, once those with are out
    for (int j = 0; j < k; ++j) {
      std::size_t i = next_zero;
      if (remaining >= kTotal / 2) {
        do
          i = alias_draw(rng);
        while (set.has(i));
      } else if (remaining >= kFine) {
        std::uint64_t x = below(rng, remaining);
        set.each([&](std::size_t p) {
          // x += q_p when the interval starts at or below x, without a branch
          x += (start_[p + 1] - start_[p]) & (std::uint64_t{0} - (x >= start_[p]));
        });
        i = find(x);
      } else if (remaining > 0) {
        i = by_weight(rng, set);
      } else {
        ++next_zero;
      }
      remaining -= start_[i + 1] - start_[i];
      set.add(i);
      out[j] = order_[i];
    }
    if (gates == nullptr)
      return;
    // The drawn experts' weights normalised, heaviest first: the order of their positions.
    double total = 0;
    set.each([&](std::size_t p) { total += weight_[p]; });
    set.each([&](std::size_t p) {
      *gates++ = static_cast<float>(total > 0 ? weight_[p] / total : 1.0 / k);
    });
  }

  // An expert with probability q_i / 2^48 (Vose's alias method in integers: column c is kept
  // with probability a_c / 2^48, else its alias taken; exact).
  std::size_t alias_draw(core::Rng& rng) const {
    const std::size_t c = below(rng, keep_.size());
    const std::size_t other = alias_[c];
    // c or its alias by a mask, not a branch: the coin is unpredictable by design
    const std::size_t keep = std::size_t{0} - ((rng.next() >> (64 - kBits)) < keep_[c]);
    return other ^ ((c ^ other) & keep);
  }

  // The next expert in proportion to the undrawn experts' weights themselves, by a scan of them
  // in double precision (the last undrawn one with weight where rounding leaves u a hair over).
  template <class Set>
  std::size_t by_weight(core::Rng& rng, const Set& set) const {
    double total = 0;
    for (std::size_t p = 0; p < positive_; ++p)
      total += set.has(p) ? 0.0 : weight_[p];
    double u = rng.uniform() * total;
    std::size_t last = 0;
    for (std::size_t p = 0; p < positive_; ++p)
      if (!set.has(p)) {
        last = p;
        if ((u -= weight_[p]) < 0)
          break;
      }
    return last;
  }

  void build_alias(const std::vector<std::uint64_t>& q);
  // Uniform in [0, n), 0 < n ≤ 2^64 − 1, exactly (Lemire 2019, with the rejection step; it is
  // entered with probability n / 2^64 ≤ 2^-16 here).
  static std::uint64_t below(core::Rng& rng, std::uint64_t n) {
    core::uint128 m = static_cast<core::uint128>(rng.next()) * n;
    if (static_cast<std::uint64_t>(m) < n) {
      const std::uint64_t floor = (std::uint64_t{0} - n) % n;
      while (static_cast<std::uint64_t>(m) < floor)
        m = static_cast<core::uint128>(rng.next()) * n;
    }
    return static_cast<std::uint64_t>(m >> 64);
  }

  // The expert whose interval holds x: from the first expert of x's slice, the interval ends at
  // or below x counted eight at a time (independent comparisons, no branch per expert).
  std::size_t find(std::uint64_t x) const {
    std::size_t i = guide_[x >> shift_];
    for (;;) {
      const std::uint64_t* end = start_.data() + i + 1;
      std::size_t below = 0;
      for (std::size_t t = 0; t < kBlock; ++t)
        below += static_cast<std::size_t>(end[t] <= x);
      i += below;
      if (below < kBlock)
        return i;
    }
  }

  std::vector<ExpertId> order_;  // the experts, heaviest first (ties by id)
  std::vector<double> weight_;   // their weights, in that order
  static constexpr std::size_t kBlock = 8;
  std::vector<std::uint64_t> start_;  // their intervals' starts; kTotal from start_[size()] on,
                                      // kBlock past it, for find()'s last block
  std::vector<std::uint64_t> keep_;   // per column c: a_c, the units of its own expert
  std::vector<ExpertId> alias_;       // per column: the expert of its other units
  std::vector<ExpertId> guide_;       // per slice, the expert holding the slice's first point
  int shift_ = 0;                     // a point's slice: point >> shift_
  std::size_t positive_ = 0;          // experts with weight
};

// The value in [0, 1] at which `reuse_at(x, step)`, rising with x, meets `target`, by `steps`
// halvings; `at_bound` is 0 or 1 when the search never left that end (the target lies beyond
// what the parameter reaches), -1 otherwise.
struct UnitFit {
  double value = 0.5;
  int at_bound = -1;
};
template <class ReuseAt>
UnitFit fit_unit_interval(const ReuseAt& reuse_at, double target, int steps) {
  double low = 0, high = 1;
  for (int step = 0; step < steps; ++step) {
    const double mid = 0.5 * (low + high);
    (reuse_at(mid, step) > target ? high : low) = mid;
  }
  UnitFit fit;
  fit.value = 0.5 * (low + high);
  if (steps > 0 && (low == 0 || high == 1))
    fit.at_bound = low == 0 ? 0 : 1;
  return fit;
}

}  // namespace mozart::trace::detail
