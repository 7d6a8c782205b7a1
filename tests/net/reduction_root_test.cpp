// The root of tree and in-network all-reduce: the member with the fewest route hops to its
// farthest member, ties to the lowest id. The search prunes; these tests hold it to the
// exhaustive search over every pair's route on meshes, tori, trees, fat trees and presets.
#include <algorithm>
#include <random>

#include "test_specs.hpp"
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "mozart/hw/zoo.hpp"
#include "mozart/net/collectives.hpp"

namespace mozart::net {
namespace {

using test_specs::fat_tree;
using test_specs::spec;

hw::HwSpec grid(const char* kind, int rows, int cols) {
  return spec(
      fmt::format("chiplets: [{{name: n, kind: c, count: {}, holds_weights: false}}]\n"
                  "topology: {{kind: {}, rows: {}, cols: {}, nodes: n, link: {{bandwidth: 1}}}}\n",
                  rows * cols, kind, rows, cols));
}

hw::HwSpec tapered_tree() {  // parallel links toward the roots
  return spec(
      "chiplets: [{name: n, kind: c, count: 64, holds_weights: false}]\n"
      "topology: {kind: tree, fanouts: [4, 4, 4], parallel: [4, 2, 1], leaves: n,\n"
      "           link: {bandwidth: 1}}\n");
}

hw::HwSpec star(int n) {  // every pair two hops apart: all members tie
  return spec(
      fmt::format("chiplets: [{{name: n, kind: c, count: {}, holds_weights: false}}]\n"
                  "topology: {{kind: star, nodes: n, link: {{bandwidth: 1}}}}\n",
                  n));
}

// The definition, over every ordered pair's route.
int exhaustive_root(const Network& net, const std::vector<int>& nodes) {
  int best = -1;
  std::size_t best_reach = 0;
  for (int candidate : nodes) {
    std::size_t reach = 0;
    for (int other : nodes)
      reach = std::max(reach, net.route(candidate, other).size());
    if (best < 0 || reach < best_reach || (reach == best_reach && candidate < best)) {
      best = candidate;
      best_reach = reach;
    }
  }
  return best;
}

std::vector<int> chiplets(const hw::HwSpec& hw) {
  std::vector<int> out(hw.chiplets.size());
  for (std::size_t c = 0; c < out.size(); ++c)
    out[c] = int(c);
  return out;
}

std::vector<int> all_nodes(const hw::HwSpec& hw) {
  std::vector<int> out(static_cast<std::size_t>(hw.node_count()));
  for (std::size_t n = 0; n < out.size(); ++n)
    out[n] = int(n);
  return out;
}

std::vector<hw::HwSpec> specs() {
  std::vector<hw::HwSpec> out = {grid("mesh", 5, 5),
                                 grid("mesh", 6, 6),
                                 grid("mesh", 4, 7),
                                 grid("mesh", 1, 9),
                                 grid("torus", 5, 6),
                                 grid("torus", 1, 8),
                                 grid("torus", 4, 4),
                                 fat_tree(4, 3),
                                 fat_tree(2, 4),
                                 tapered_tree(),
                                 star(7)};
  for (const std::string& name : hw::preset_names())
    out.push_back(*hw::find_preset(name));
  return out;
}

std::vector<NetworkOptions> routings() {
  std::vector<NetworkOptions> out(3);
  out[1].mesh_routing = MeshRouting::yx;
  out[2].mesh_routing = MeshRouting::adaptive;
  return out;
}

TEST(ReductionRoot, HopsAreTheLengthOfTheRoute) {
  for (const hw::HwSpec& hw : specs()) {
    for (const NetworkOptions& options : routings()) {
      Network net(hw, options);
      for (int a = 0; a < hw.node_count(); ++a)
        for (int b = 0; b < hw.node_count(); ++b)
          ASSERT_EQ(net.hops(a, b), net.route(a, b).size()) << hw.name << " " << a << "->" << b;
    }
  }
}

TEST(ReductionRoot, EqualsTheExhaustiveSearchOnEveryChipletAndNode) {
  for (const hw::HwSpec& hw : specs()) {
    for (const NetworkOptions& options : routings()) {
      Network net(hw, options);
      for (const std::vector<int>& nodes : {chiplets(hw), all_nodes(hw)})
        EXPECT_EQ(reduction_root(net, nodes), exhaustive_root(net, nodes)) << hw.name;
    }
  }
}

TEST(ReductionRoot, EqualsTheExhaustiveSearchOnRandomMembers) {
  std::mt19937 rng(13);
  for (const hw::HwSpec& hw : specs()) {
    Network net(hw);
    const std::vector<int> everything = all_nodes(hw);
    for (int trial = 0; trial < 20; ++trial) {
      // Some members, in a random order, one maybe listed twice.
      std::vector<int> nodes = everything;
      std::shuffle(nodes.begin(), nodes.end(), rng);
      const auto size = std::uniform_int_distribution<std::size_t>(1, nodes.size())(rng);
      nodes.resize(size);
      if (trial % 3 == 0)
        nodes.push_back(nodes.front());
      ASSERT_EQ(reduction_root(net, nodes), exhaustive_root(net, nodes))
          << hw.name << " " << fmt::format("{}", fmt::join(nodes, ","));
    }
  }
}

TEST(ReductionRoot, TiesGoToTheLowestId) {
  Network ring(grid("torus", 1, 8));                 // every chiplet 4 hops from its farthest
  EXPECT_EQ(reduction_root(ring, {5, 3, 7, 1}), 1);  // each 4 hops from one other
  EXPECT_EQ(reduction_root(ring, chiplets(ring.hw())), 0);
  Network hub(star(6));
  EXPECT_EQ(reduction_root(hub, {4, 2, 5}), 2);
  Network mesh(grid("mesh", 4, 4));  // four centres, one hop off the middle: the lowest wins
  EXPECT_EQ(reduction_root(mesh, chiplets(mesh.hw())), 5);
  EXPECT_EQ(reduction_root(mesh, {}), -1);
  EXPECT_EQ(reduction_root(mesh, {9}), 9);
}

}  // namespace
}  // namespace mozart::net
