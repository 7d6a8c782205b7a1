#include "mozart/core/units.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace mozart::core {
namespace {

TEST(Units, ParsesQuantitiesInTheirDimension) {
  EXPECT_DOUBLE_EQ(*parse_quantity("256 GB/s", Dimension::bytes_per_s), 256e9);
  EXPECT_DOUBLE_EQ(*parse_quantity("8 GiB", Dimension::bytes), 8.0 * (1ULL << 30));
  EXPECT_DOUBLE_EQ(*parse_quantity("20 ns", Dimension::seconds), 20e-9);
  EXPECT_DOUBLE_EQ(*parse_quantity("2.25 PFLOP/s", Dimension::flops_per_s), 2.25e15);
  EXPECT_DOUBLE_EQ(*parse_quantity("1 GHz", Dimension::hertz), 1e9);
  EXPECT_DOUBLE_EQ(*parse_quantity("0.5 pJ", Dimension::joules), 0.5e-12);
  EXPECT_DOUBLE_EQ(*parse_quantity("1e9", Dimension::bytes), 1e9);  // bare: base unit
}

TEST(Units, RejectsWrongDimensionAndGarbage) {
  EXPECT_FALSE(parse_quantity("256 GB", Dimension::bytes_per_s));
  EXPECT_FALSE(parse_quantity("fast", Dimension::bytes_per_s));
  EXPECT_FALSE(parse_quantity("12 parsecs", Dimension::seconds));
  EXPECT_FALSE(parse_quantity("", Dimension::bytes));
  EXPECT_FALSE(parse_quantity("nan", Dimension::bytes));
  EXPECT_FALSE(parse_quantity("inf GB", Dimension::bytes));
}

TEST(Units, RejectsValuesThatOverflowOrLeaveTheSaneRange) {
  // Finite as a number, infinite once scaled: the overflow the network met later.
  EXPECT_FALSE(parse_quantity("1e308 TB/s", Dimension::bytes_per_s));
  EXPECT_FALSE(parse_quantity("1e300 TB", Dimension::bytes));
  EXPECT_FALSE(parse_quantity("-1e300 TB", Dimension::bytes));
  EXPECT_FALSE(parse_quantity("1e400", Dimension::seconds));
  // Each dimension's limit is accepted, and just above it is not.
  for (Dimension d : {Dimension::bytes, Dimension::bytes_per_s, Dimension::flops_per_s,
                      Dimension::seconds, Dimension::hertz, Dimension::joules, Dimension::count}) {
    const double max = max_quantity(d);
    ASSERT_TRUE(parse_quantity(fmt::format("{:.17g}", max), d)) << max;
    EXPECT_EQ(*parse_quantity(fmt::format("{:.17g}", max), d), max);
    EXPECT_FALSE(parse_quantity(fmt::format("{:.17g}", max * 1.000001), d)) << max;
    EXPECT_NE(range_of(d).find("at most"), std::string::npos);
  }
  EXPECT_TRUE(parse_quantity("1048576 TiB", Dimension::bytes));  // 2^60 B exactly
  EXPECT_FALSE(parse_quantity("1048577 TiB", Dimension::bytes));
}

TEST(Units, FormatReadsBackToTheSameValue) {
  for (auto [value, dim] : {std::pair{256e9, Dimension::bytes_per_s},
                            {24.0 * (1ULL << 30), Dimension::bytes},
                            {180e9, Dimension::bytes},
                            {16.384e12, Dimension::flops_per_s},
                            {20e-9, Dimension::seconds},
                            {0.4e-12, Dimension::joules},
                            {1.98e9, Dimension::hertz}}) {
    std::string text = format_quantity(value, dim);
    ASSERT_TRUE(parse_quantity(text, dim)) << text;
    EXPECT_NEAR(*parse_quantity(text, dim), value, value * 1e-12) << text;
  }
  EXPECT_EQ(format_quantity(24.0 * (1ULL << 30), Dimension::bytes), "24 GiB");
  EXPECT_EQ(format_quantity(16.384e12, Dimension::flops_per_s), "16.384 TFLOP/s");
}

TEST(Units, BytesInOneSystem) {
  const double gib = double(1ULL << 30);
  EXPECT_EQ(byte_units_of(24 * gib), ByteUnits::binary);
  EXPECT_EQ(byte_units_of(80e9), ByteUnits::decimal);
  EXPECT_EQ(byte_units_of(3.62388e9), ByteUnits::decimal);  // whole in neither
  EXPECT_EQ(byte_units_of(2e9), ByteUnits::decimal);        // whole in both: decimal
  EXPECT_EQ(format_bytes(3.375 * gib, ByteUnits::binary), "3.375 GiB");
  EXPECT_EQ(format_bytes(3.375 * gib, ByteUnits::decimal), "3.62388 GB");
  EXPECT_EQ(format_bytes(9 * 1048576.0, ByteUnits::binary), "9 MiB");
  EXPECT_EQ(format_bytes(9 * 1048576.0, ByteUnits::decimal), "9.43718 MB");
  EXPECT_EQ(format_bytes(1000, ByteUnits::binary), "1000 B");
  EXPECT_EQ(format_bytes(1000, ByteUnits::decimal), "1 KB");
  EXPECT_EQ(format_bytes(0, ByteUnits::binary), "0 B");
  // The capacity reads as format_quantity writes it, in its own system.
  for (const double capacity : {24 * gib, 80e9, 2.265e6, 64 * 1048576.0})
    EXPECT_EQ(format_bytes(capacity, byte_units_of(capacity)),
              format_quantity(capacity, Dimension::bytes));
}

TEST(Units, DataTypes) {
  EXPECT_EQ(bytes_per_element(DataType::bf16), 2);
  EXPECT_EQ(bytes_per_element(DataType::fp32), 4);
  EXPECT_EQ(bytes_per_element(DataType::fp8), 1);
  EXPECT_EQ(*parse_data_type("bfloat16"), DataType::bf16);
  EXPECT_FALSE(parse_data_type("int4"));
}

}  // namespace
}  // namespace mozart::core
