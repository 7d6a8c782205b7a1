// Internal to the trace module: drawing a token's k experts, shared by the generators.
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

}  // namespace mozart::trace::detail
