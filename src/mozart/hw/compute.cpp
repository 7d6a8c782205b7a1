#include "mozart/hw/compute.hpp"

#include <cmath>

namespace mozart::hw {

double gemm_utilisation(const ComputeArray& array, double m, int64_t k, int64_t n) {
  if (m <= 0 || k <= 0 || n <= 0)
    return 1;
  const double rows = std::ceil(m);
  const double tiles = std::ceil(rows / array.rows) * std::ceil(double(n) / array.cols);
  const double waves = std::ceil(tiles / array.count);
  const double cycles_per_tile = double(k) + array.rows + array.cols - 2;
  const double spent = waves * array.count * cycles_per_tile * array.rows * array.cols;
  return m * double(k) * double(n) / spent;
}

double gemm_seconds(const ChipletKind& kind, core::DataType type, double m, int64_t k, int64_t n) {
  if (m <= 0 || k <= 0 || n <= 0)
    return 0;
  const double flops = 2 * m * double(k) * double(n);
  return flops / (kind.peak(type) * gemm_utilisation(kind.array, m, k, n));
}

}  // namespace mozart::hw
