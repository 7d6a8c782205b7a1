#include "mozart/hw/compute.hpp"

#include <gtest/gtest.h>

namespace mozart::hw {
namespace {

ChipletKind kind(int rows, int cols, int count, double peak) {
  ChipletKind k;
  k.name = std::string("k");  // assigning a literal trips a false -Wrestrict in g++ 12 -O2
  k.peak_flops_per_s = {{core::DataType::fp16, peak}};
  k.array = {rows, cols, count};
  return k;
}

TEST(Compute, ExactlyFullArraysLoseOnlyFillAndDrain) {
  ComputeArray a{32, 32, 8};
  // 8 output tiles of 32x32: one wave; each tile takes k + 62 cycles.
  EXPECT_DOUBLE_EQ(gemm_utilisation(a, 64, 1024, 128), 1024.0 / (1024 + 62));
}

TEST(Compute, ASingleTokenUsesOneRowOfOneArray) {
  ComputeArray a{32, 32, 8};
  // m = 1: one tile wave (4 tiles across n = 128) on 8 arrays, 1 of 32 rows busy.
  double u = gemm_utilisation(a, 1, 1000, 128);
  EXPECT_DOUBLE_EQ(u, (1.0 * 1000 * 128) / (1 * 8 * (1000 + 62) * 32.0 * 32));
  EXPECT_LT(u, 0.02);
}

TEST(Compute, LargeGemmsApproachPeak) {
  ComputeArray a{32, 32, 8};
  EXPECT_GT(gemm_utilisation(a, 32 * 8 * 64, 1 << 16, 32 * 64), 0.99);
  EXPECT_LE(gemm_utilisation(a, 32 * 8 * 64, 1 << 16, 32 * 64), 1.0);
}

TEST(Compute, TimeIsFlopsOverPeakOverUtilisation) {
  ChipletKind k = kind(32, 32, 8, 16.384e12);
  double u = gemm_utilisation(k.array, 256, 2048, 768);
  EXPECT_DOUBLE_EQ(gemm_seconds(k, core::DataType::fp16, 256, 2048, 768),
                   2.0 * 256 * 2048 * 768 / (16.384e12 * u));
  EXPECT_EQ(gemm_seconds(k, core::DataType::fp16, 0, 2048, 768), 0);
}

TEST(Compute, MoreArraysOrMorePeakNeverSlower) {
  for (double m : {1.0, 7.0, 33.0, 100.5, 4096.0}) {
    for (int count = 1; count < 64; count *= 2) {
      double slow =
          gemm_seconds(kind(32, 32, count, 1e12 * count), core::DataType::fp16, m, 512, 96);
      double fast =
          gemm_seconds(kind(32, 32, count * 2, 2e12 * count), core::DataType::fp16, m, 512, 96);
      EXPECT_LE(fast, slow * (1 + 1e-12)) << "m " << m << " arrays " << count;
    }
  }
}

}  // namespace
}  // namespace mozart::hw
