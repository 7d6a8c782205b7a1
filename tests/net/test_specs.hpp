// Hardware specs the network tests build from a topology: one chiplet kind `c` (1 TFLOP/s,
// 1 MB of SRAM) and whatever chiplets, topology and links the body gives.
#pragma once

#include <string>

#include <fmt/format.h>

#include "mozart/core/config.hpp"
#include "mozart/hw/spec.hpp"

namespace mozart::net::test_specs {

inline hw::HwSpec spec(const std::string& body) {
  return hw::read_hw(core::ConfigNode::parse(
      "name: test\nclock: 1 GHz\n"
      "chiplet_kinds: {c: {peak_flops: {bf16: 1 TFLOP/s}, array: {rows: 1, cols: 1, count: 1}, "
      "sram: {capacity: 1 MB, bandwidth: 1 GB/s}}}\n" +
          body,
      "test"));
}

// A k-ary n-tree (k^n terminals), links of 1 B/s.
inline hw::HwSpec fat_tree(int k, int n) {
  int terminals = 1;
  for (int i = 0; i < n; ++i)
    terminals *= k;
  return spec(
      fmt::format("chiplets: [{{name: n, kind: c, count: {}, holds_weights: false}}]\n"
                  "topology: {{kind: fat_tree, k: {}, n: {}, nodes: n, link: {{bandwidth: 1}}}}\n",
                  terminals, k, n));
}

}  // namespace mozart::net::test_specs
