// Balancers: every decision keeps a valid placement (each expert somewhere, no device over its
// slots, no expert twice on a device) and never raises a layer's predicted maximum device load,
// over many seeded loads and layouts; the copies are exactly the new (expert, device) pairs;
// bad options are refused.
#include "mozart/balance/balancer.hpp"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"

namespace mozart::balance {
namespace {

using History = std::vector<std::vector<std::vector<double>>>;

// A ring of devices: hops are the distance round it.
std::vector<std::vector<int>> ring(int n) {
  std::vector<std::vector<int>> h(static_cast<std::size_t>(n),
                                  std::vector<int>(static_cast<std::size_t>(n)));
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b)
      h[std::size_t(a)][std::size_t(b)] = std::min(std::abs(a - b), n - std::abs(a - b));
  return h;
}

placement::LayerPlacement contiguous(int experts, int devices) {
  placement::LayerPlacement p;
  for (int e = 0; e < experts; ++e)
    p.chiplets_of.push_back({e * devices / experts});
  return p;
}

// Skewed loads (log-normal) for `iterations` iterations of `layers` layers.
History skewed(int iterations, int layers, int experts, unsigned seed) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<double> draw(0.0, 1.5);
  History h(static_cast<std::size_t>(iterations));
  for (auto& it : h)
    for (int l = 0; l < layers; ++l) {
      it.emplace_back();
      for (int e = 0; e < experts; ++e)
        it.back().push_back(std::round(10 * draw(rng)));
    }
  return h;
}

double peak(const placement::LayerPlacement& p, const std::vector<double>& load, int devices) {
  const auto d = device_loads(p, load, devices);
  return *std::max_element(d.begin(), d.end());
}

void expect_valid(const placement::LayerPlacement& p, int devices, int slots) {
  std::vector<int> used(std::size_t(devices), 0);
  for (const auto& holders : p.chiplets_of) {
    ASSERT_FALSE(holders.empty());
    auto sorted = holders;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(std::adjacent_find(sorted.begin(), sorted.end()), sorted.end());
    for (int d : holders)
      ++used[std::size_t(d)];
  }
  for (int u : used)
    EXPECT_LE(u, slots);
}

TEST(Balancer, NeverRaisesThePredictedMaximumAndKeepsPlacementsValid) {
  BalancerOptions o;
  o.window = 4;
  o.period = 1;
  o.moves = 3;
  for (const std::string name : {"eplb", "ni"}) {
    const auto balancer = make_balancer(name, o);
    for (unsigned seed = 1; seed <= 40; ++seed) {
      const int devices = 4 + int(seed % 9), experts = devices * (1 + int(seed % 3));
      const int slots = experts / devices + 1 + int(seed % 2);
      const auto hops = ring(devices);
      const History history = skewed(6, 2, experts, seed);
      std::vector<placement::LayerPlacement> layers(2, contiguous(experts, devices));
      // Several rounds, each from the last one's placement.
      for (int round = 1; round <= 3; ++round) {
        const View view{round, layers, history, hops, slots};
        const Decision d = balancer->decide(view);
        if (d.layers.empty())
          continue;
        ASSERT_EQ(d.layers.size(), layers.size());
        for (std::size_t l = 0; l < layers.size(); ++l) {
          const auto load = predicted_load(history, int(l), o.window);
          EXPECT_LE(peak(d.layers[l], load, devices), peak(layers[l], load, devices) + 1e-9)
              << name << " seed " << seed << " layer " << l;
          expect_valid(d.layers[l], devices, slots);
        }
        // The copies are exactly the pairs new to each layer, each from a former holder.
        std::size_t expected = 0;
        for (std::size_t l = 0; l < layers.size(); ++l)
          expected += copies_between(int(l), layers[l], d.layers[l], hops).size();
        if (name == "eplb") {
          EXPECT_EQ(d.copies.size(), expected);
        }
        for (const Copy& c : d.copies) {
          const auto& had = layers[std::size_t(c.layer)].chiplets_of[std::size_t(c.expert)];
          EXPECT_NE(std::find(had.begin(), had.end(), c.from), had.end());
          const auto& has = d.layers[std::size_t(c.layer)].chiplets_of[std::size_t(c.expert)];
          if (name == "eplb") {
            EXPECT_NE(std::find(has.begin(), has.end(), c.to), has.end());
          }
        }
        layers = d.layers;
      }
    }
  }
}

TEST(Balancer, NiCopiesTheHottestExpertToTheNearestDeviceThatStaysBelowTheMaximum) {
  // Four devices on a ring, one expert each and one shadow slot; expert 0 carries 10, the others
  // 1: device 0 is the maximum; its neighbours 1 and 3 are nearest (1 wins the tie by index).
  const History history{{{10, 1, 1, 1}}};
  std::vector<placement::LayerPlacement> layers{contiguous(4, 4)};
  const auto hops = ring(4);
  BalancerOptions o;
  o.window = 1;
  const Decision d = make_balancer("ni", o)->decide({1, layers, history, hops, 2});
  ASSERT_EQ(d.copies.size(), 1u);
  EXPECT_EQ(d.copies[0].expert, 0);
  EXPECT_EQ(d.copies[0].from, 0);
  EXPECT_EQ(d.copies[0].to, 1);
  // Below the threshold nothing moves.
  o.alpha = 10;
  EXPECT_TRUE(make_balancer("ni", o)->decide({1, layers, history, hops, 2}).layers.empty());
  // No shadow slot: nothing can move.
  o.alpha = 0.2;
  EXPECT_TRUE(make_balancer("ni", o)->decide({1, layers, history, hops, 1}).layers.empty());
}

TEST(Balancer, NoneNeverMovesAndEplbWaitsForItsPeriod) {
  const History history{{{10, 1, 1, 1}}, {{10, 1, 1, 1}}};
  std::vector<placement::LayerPlacement> layers{contiguous(4, 4)};
  const auto hops = ring(4);
  BalancerOptions o;
  o.period = 2;
  o.window = 2;
  EXPECT_TRUE(make_balancer("none", o)->decide({2, layers, history, hops, 2}).layers.empty());
  EXPECT_TRUE(make_balancer("eplb", o)->decide({1, layers, history, hops, 2}).layers.empty());
  EXPECT_FALSE(make_balancer("eplb", o)->decide({2, layers, history, hops, 2}).layers.empty());
}

TEST(Balancer, BadOptionsAreRefused) {
  BalancerOptions o;
  EXPECT_NO_THROW(check_options(o, 100, "test"));
  o.alpha = 0;
  EXPECT_THROW(check_options(o, 100, "test"), core::InputError);
  o.alpha = -1;
  EXPECT_THROW(check_options(o, 100, "test"), core::InputError);
  o = {};
  o.window = 101;
  try {
    check_options(o, 100, "test");
    FAIL();
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--window"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_balancer("fancy", o), core::InputError);
}

}  // namespace
}  // namespace mozart::balance
