#include "mozart/sim/flat_array.hpp"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include <gtest/gtest.h>

namespace mozart::sim {
namespace {

struct Item {
  int32_t a = -1;
  double b = 0.5;
};

// Past a few megabytes the array lives in its own mapping, which grows by moving pages: what it
// held comes through every growth, across the heap-to-mapping step and mapping to mapping.
TEST(FlatArray, KeepsItsValuesAcrossGrowth) {
  FlatArray<uint64_t> a;
  std::vector<uint64_t> expected;
  for (uint64_t i = 0; i < 3'000'000; ++i) {  // 24 MB: several mapped growths
    a.push_back(i * 2654435761u);
    expected.push_back(i * 2654435761u);
  }
  ASSERT_EQ(a.size(), expected.size());
  EXPECT_TRUE(std::equal(a.begin(), a.end(), expected.begin()));
  const FlatArray<uint64_t> copy = a;
  EXPECT_TRUE(std::equal(copy.begin(), copy.end(), expected.begin()));
  FlatArray<uint64_t> moved = std::move(a);
  EXPECT_EQ(moved.size(), expected.size());
  EXPECT_EQ(moved.back(), expected.back());
}

// Appending values read from the array itself, while it grows, appends what they were.
TEST(FlatArray, AppendsFromItselfWhileGrowing) {
  FlatArray<int> a;
  for (int i = 0; i < 5; ++i)
    a.push_back(i);
  for (int round = 0; round < 22; ++round)  // doubles past the mapped size (4M ints)
    a.append(a.data(), a.size());
  ASSERT_EQ(a.size(), std::size_t{5} << 22);
  for (std::size_t i = 0; i < a.size(); i += 4099)
    ASSERT_EQ(a[i], int(i % 5)) << i;
  FlatArray<int> b;
  b.push_back(7);
  for (int i = 0; i < 100; ++i)
    b.push_back(b[0]);  // an element of the array, pushed while the array grows
  EXPECT_EQ(std::accumulate(b.begin(), b.end(), 0), 7 * 101);
}

// New elements take their default member initialisers, not zeros.
TEST(FlatArray, ResizeAndEmplaceInitialiseElements) {
  FlatArray<Item> a;
  a.resize(1'000'000);
  for (const Item& item : a) {
    ASSERT_EQ(item.a, -1);
    ASSERT_EQ(item.b, 0.5);
  }
  Item& last = a.emplace_back();
  EXPECT_EQ(last.a, -1);
  EXPECT_EQ(a.size(), 1'000'001u);
}

}  // namespace
}  // namespace mozart::sim
