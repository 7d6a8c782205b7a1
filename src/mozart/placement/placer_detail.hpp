// Internal to the placement module: the placers that live in their own files.
#pragma once

#include <memory>

#include "mozart/placement/placers.hpp"

namespace mozart::placement::detail {

// What mozart aims at, and metis tolerates, when no --chiplet-balance is given.
inline constexpr double kDefaultChipletBalance = 2.0;

std::unique_ptr<Placer> make_occult();
std::unique_ptr<Placer> make_mozart();
std::unique_ptr<Placer> make_mozart_paper();
std::unique_ptr<Placer> make_metis();

// Cluster sizes as even as possible: `items` split into `clusters` runs.
std::vector<int> even_sizes(int items, int clusters);

// The affinity of expert e to a set of experts: the sum of their co-activation counts.
double affinity(const LayerInput& in, int e, const std::vector<int>& members);

}  // namespace mozart::placement::detail
