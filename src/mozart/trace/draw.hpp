// Internal to the trace module: drawing a token's k experts, shared by the generators, and the
// search that fits a generator's reuse parameter.
#pragma once

#include <vector>

#include "mozart/core/random.hpp"
#include "mozart/trace/trace.hpp"

namespace mozart::trace::detail {

// k distinct experts by repeated draws from `table` (whose weights are `weights`): the same law,
// and order, as drawing without replacement; the draw order is the rank. With `gates`, the
// normalised weights of the chosen experts, falling with rank.
void draw_distinct(const core::AliasTable& table, const std::vector<double>& weights, int k,
                   core::Rng& rng, ExpertId* out, float* gates);

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
