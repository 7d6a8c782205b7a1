// A seeded random number generator whose streams are the same on every platform and standard
// library (std::*_distribution is implementation-defined, so mozart draws its own variates).
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <vector>

namespace mozart::core {

__extension__ using uint128 = unsigned __int128;

// xoshiro256** seeded through SplitMix64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    for (auto& word : state_)
      word = splitmix(seed);
  }

  std::uint64_t next() {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in (0, 1): safe to take the logarithm of.
  double open_uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  // Uniform integer in [0, n), n > 0, by Lemire's multiply-shift (bias below 2^-32 for n < 2^32).
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<uint128>(next()) * n) >> 64);
  }
  // Standard normal by the Box-Muller transform.
  double normal() {
    const double radius = std::sqrt(-2.0 * std::log(open_uniform()));
    return radius * std::cos(6.283185307179586 * uniform());
  }
  // Standard Gumbel: adding it to log-weights and keeping the k largest draws k items without
  // replacement in proportion to their weights.
  double gumbel() { return -std::log(-std::log(open_uniform())); }

  // An independent stream for a sub-task, so adding draws in one place does not shift another.
  Rng fork(std::uint64_t salt) { return Rng(next() ^ (salt * 0x9E3779B97F4A7C15ull)); }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  std::uint64_t state_[4];
};

// Draws index i with probability weights[i] / sum in O(1) (Vose's alias method). Weights must be
// finite and non-negative with a positive sum.
class AliasTable {
 public:
  AliasTable() = default;
  explicit AliasTable(std::span<const double> weights) {
    const std::size_t n = weights.size();
    entries_.assign(n, Entry{});
    double total = 0;
    for (const double w : weights)
      total += w;
    std::vector<double> scaled(n);
    std::vector<std::uint32_t> small, large;
    for (std::size_t i = 0; i < n; ++i) {
      scaled[i] = weights[i] * static_cast<double>(n) / total;
      (scaled[i] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(i));
    }
    while (!small.empty() && !large.empty()) {
      const auto s = small.back(), l = large.back();
      small.pop_back();
      entries_[s] = {scaled[s], l};
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    for (const auto i : large)
      entries_[i].probability = 1.0;
    for (const auto i : small)  // rounding leftovers
      entries_[i].probability = 1.0;
  }

  std::size_t size() const { return entries_.size(); }
  std::uint32_t draw(Rng& rng) const {
    const auto i = static_cast<std::uint32_t>(rng.below(entries_.size()));
    const Entry& e = entries_[i];
    return rng.uniform() < e.probability ? i : e.alias;
  }

 private:
  // A column's probability and alias side by side: a draw reads one cache line, not two (a
  // trace's draws jump between many tables, so each read is likely a miss).
  struct Entry {
    double probability = 0;
    std::uint32_t alias = 0;
  };
  std::vector<Entry> entries_;
};

}  // namespace mozart::core
