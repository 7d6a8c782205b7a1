#include "mozart/trace/draw.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace mozart::trace::detail {

SequentialDraw::SequentialDraw(const std::vector<double>& weights) : order_(weights.size()) {
  std::iota(order_.begin(), order_.end(), ExpertId{0});
  std::stable_sort(order_.begin(), order_.end(),
                   [&](ExpertId a, ExpertId b) { return weights[a] > weights[b]; });
  double total = 0;
  for (const double w : weights)
    total += w;
  // Integer weights summing to kTotal: each rounded (a positive one to at least 1), the
  // rounding's remainder (a few units against at least kTotal / size()) given to the heaviest.
  std::vector<std::uint64_t> q(order_.size(), 0);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < order_.size(); ++i) {
    const double w = weights[order_[i]];
    weight_.push_back(w);
    if (w > 0) {
      q[i] = std::max<std::uint64_t>(
          1, static_cast<std::uint64_t>(std::llround(w / total * static_cast<double>(kTotal))));
      ++positive_;
    }
    sum += q[i];
  }
  q[0] = q[0] + kTotal - sum;
  start_.assign(order_.size() + 1 + kBlock, kTotal);
  start_[0] = 0;
  for (std::size_t i = 0; i < order_.size(); ++i)
    start_[i + 1] = start_[i] + q[i];
  build_alias(q);
  // A slice per expert or more (a power of two): most draws land in a slice that few interval
  // boundaries cross, and find() counts them in one block.
  const int slice_bits = std::min(
      kBits, static_cast<int>(std::bit_width(std::max<std::size_t>(order_.size(), 2) - 1)));
  shift_ = kBits - slice_bits;
  guide_.resize(std::size_t{1} << slice_bits);
  std::size_t i = 0;
  for (std::size_t s = 0; s < guide_.size(); ++s) {
    const std::uint64_t point = static_cast<std::uint64_t>(s) << shift_;
    while (start_[i + 1] <= point)
      ++i;
    guide_[s] = static_cast<ExpertId>(i);
  }
}

// Vose's method on the integer weights scaled by the column count: each column holds kTotal units,
// its own expert's and its alias's; the sums are exact, so no column is left over unfilled.
void SequentialDraw::build_alias(const std::vector<std::uint64_t>& q) {
  const core::uint128 n = q.size(), full = kTotal;
  std::vector<core::uint128> scaled(q.size());
  std::vector<std::uint32_t> small, large;
  for (std::size_t i = 0; i < q.size(); ++i) {
    scaled[i] = q[i] * n;
    (scaled[i] < full ? small : large).push_back(static_cast<std::uint32_t>(i));
  }
  keep_.assign(q.size(), kTotal);
  alias_.resize(q.size());
  std::iota(alias_.begin(), alias_.end(), ExpertId{0});
  while (!small.empty() && !large.empty()) {
    const auto s = small.back(), l = large.back();
    small.pop_back();
    keep_[s] = static_cast<std::uint64_t>(scaled[s]);
    alias_[s] = static_cast<ExpertId>(l);
    scaled[l] -= full - scaled[s];
    if (scaled[l] < full) {
      large.pop_back();
      small.push_back(l);
    }
  }  // the columns left are exactly full: kept whole
}

}  // namespace mozart::trace::detail
