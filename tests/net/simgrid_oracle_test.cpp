// SimGrid as an oracle for the fluid network: identical channels, routes and flows go to
// SimGrid's max-min solver (CM02 without cross-traffic, weight-S 0) and to mozart's; completion
// times must agree. On links without latency CM02's sharing is plain max-min, mozart's model.
// On links with latency CM02 weights each flow's share by 1 / (its route's latency): mozart's
// plain max-min then differs, and a mozart flow given that weight (weight 1 / L stands for
// 1 / L flows of bytes x L each) agrees again, to 1e-6 on every flow. SimGrid runs with its
// full update (see simgrid_oracle.hpp: its lazy update put random9 with latency 0.3% and 0.8%
// early on two flows, a link carrying 3.56 on a bandwidth of 3 for a quarter second).
// SimGrid allows one engine per process, so every case runs in one simulation on disjoint
// links and hosts. Sizes and bandwidths stay near 1 for SimGrid's numeric precision.
#include "simgrid_oracle.hpp"

#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <simgrid/s4u.hpp>

#include "mozart/hw/spec.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/net/collectives.hpp"
#include "mozart/net/fluid.hpp"

namespace sg4 = simgrid::s4u;

namespace {

using mozart::net::ChannelId;
using mozart::oracle::Case;
using mozart::oracle::mozart_times;

std::vector<Case> random_cases(int count) {
  std::mt19937 rng(2024);
  std::vector<Case> cases;
  for (int k = 0; k < count; ++k) {
    Case c;
    c.name = fmt::format("random{}", k);
    const int channels = 2 + k % 7, flows = 2 + k % 11;
    std::uniform_int_distribution<int> cap(1, 8), size(1, 40), pick(0, channels - 1),
        length(1, std::min(4, channels)), start(0, 6);
    for (int i = 0; i < channels; ++i)
      c.capacity.push_back(cap(rng) / 2.0);
    for (int f = 0; f < flows; ++f) {
      std::vector<ChannelId> route;
      const int n = length(rng);
      while (int(route.size()) < n) {
        ChannelId ch = pick(rng);
        if (std::find(route.begin(), route.end(), ch) == route.end())
          route.push_back(ch);
      }
      c.flows.push_back({route, uint64_t(size(rng)), f % 3 == 0 ? double(start(rng)) : 0.0});
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

Case from_network(const std::string& name, const mozart::net::Network& net,
                  const std::vector<std::pair<int, int>>& pairs, uint64_t bytes) {
  Case c;
  c.name = name;
  c.capacity = net.capacities();
  for (auto [s, d] : pairs)
    c.flows.push_back({net.route(s, d), bytes, 0.0});
  return c;
}

Case mesh_all_to_all() {
  static const mozart::hw::HwSpec hw = mozart::hw::read_hw(mozart::core::ConfigNode::parse(R"(
name: mesh
clock: 1 GHz
chiplet_kinds: {c: {peak_flops: {bf16: 1 TFLOP/s}, array: {rows: 1, cols: 1, count: 1}, sram: {capacity: 1 MB, bandwidth: 1 GB/s}}}
chiplets: [{name: n, kind: c, count: 16, holds_weights: false}]
topology: {kind: mesh, rows: 4, cols: 4, nodes: n, link: {bandwidth: 1}}
)",
                                                                                           "mesh"));
  mozart::net::Network net(hw);
  std::vector<std::pair<int, int>> pairs;
  for (int s = 0; s < 16; ++s) {
    for (int d = 0; d < 16; ++d) {
      if (s != d)
        pairs.emplace_back(s, d);
    }
  }
  return from_network("mesh all-to-all", net, pairs, 5);
}

Case tree_with_hot_link() {
  // The NoP-tree with one switch uplink slowed down: every flow through it queues there.
  static mozart::hw::HwSpec hw = *mozart::hw::find_preset("mozart-nop-tree-ucie");
  for (mozart::hw::Link& l : hw.links)
    l.spec.bytes_per_s = 2;
  hw.links[1].spec.bytes_per_s = 0.5;  // attn - sw1_1
  mozart::net::Network net(hw);
  const int attn = *hw.find_node("attn");
  std::vector<std::pair<int, int>> pairs;
  for (int e = 1; e <= 16; ++e) {
    pairs.emplace_back(attn, e);
    pairs.emplace_back(e, (e % 16) + 1);
  }
  return from_network("tree with a hot link", net, pairs, 3);
}

// Random cases whose channels have latencies of 1 to 3 (in the units of the sizes and
// bandwidths near 1), so that routes differ in latency as a mesh's short and long routes do.
std::vector<Case> latency_cases(int count) {
  std::vector<Case> cases = random_cases(count);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> latency(1, 3);
  for (Case& c : cases) {
    c.name += " with latency";
    for (size_t i = 0; i < c.capacity.size(); ++i)
      c.latency.push_back(latency(rng) / 4.0);
  }
  return cases;
}

TEST(SimGridOracle, SameCompletionTimesAsSimGrid) {
  std::vector<Case> cases = random_cases(30);
  cases.push_back(mesh_all_to_all());
  cases.push_back(tree_with_hot_link());
  const size_t first_with_latency = cases.size();
  for (Case& c : latency_cases(30))
    cases.push_back(std::move(c));

  int argc = 1;
  char name[] = "oracle";
  char* argv[] = {name, nullptr};
  sg4::Engine engine(&argc, argv);
  mozart::oracle::configure_cm02();
  auto* zone = sg4::create_full_zone("oracle");
  std::vector<std::vector<double>> simgrid(cases.size());
  struct Pending {
    sg4::Host* src;
    sg4::Host* dst;
    uint64_t bytes;
    double start;
    double* finish;
  };
  std::vector<Pending> pending;
  for (size_t k = 0; k < cases.size(); ++k) {
    const Case& c = cases[k];
    std::vector<sg4::Link*> links;
    for (size_t ch = 0; ch < c.capacity.size(); ++ch) {
      sg4::Link* link = zone->create_link(fmt::format("c{}l{}", k, ch), c.capacity[ch]);
      if (!c.latency.empty())
        link->set_latency(c.latency[ch]);
      links.push_back(link->seal());
    }
    simgrid[k].assign(c.flows.size(), -1);
    for (size_t f = 0; f < c.flows.size(); ++f) {
      sg4::Host* src = zone->create_host(fmt::format("c{}f{}s", k, f), 1.0)->seal();
      sg4::Host* dst = zone->create_host(fmt::format("c{}f{}d", k, f), 1.0)->seal();
      std::vector<sg4::LinkInRoute> route;
      for (ChannelId ch : c.flows[f].route)
        route.emplace_back(links[ch]);
      zone->add_route(src->get_netpoint(), dst->get_netpoint(), nullptr, nullptr, route, false);
      pending.push_back({src, dst, c.flows[f].bytes, c.flows[f].start, &simgrid[k][f]});
    }
  }
  zone->seal();
  for (const Pending& p : pending) {
    sg4::Actor::create("sender", p.src, [p] {
      if (p.start > 0)
        sg4::this_actor::sleep_for(p.start);
      sg4::Comm::sendto(p.src, p.dst, p.bytes);
      *p.finish = sg4::Engine::get_clock();
    });
  }
  engine.run();

  // Every flow agrees to 1e-6, with latency (CM02's 1 / latency weighting reproduced in
  // mozart) or without; plain max-min, mozart's model, is further off where links have latency.
  double plain_gap = 0, weighted_gap = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    const bool with_latency = k >= first_with_latency;
    std::vector<double> ours = mozart_times(cases[k], with_latency);
    std::vector<double> plain = mozart_times(cases[k]);
    for (size_t f = 0; f < ours.size(); ++f) {
      EXPECT_NEAR(ours[f], simgrid[k][f], 1e-6 * std::max(1.0, simgrid[k][f]))
          << cases[k].name << " flow " << f;
      if (!with_latency)
        continue;
      weighted_gap = std::max(weighted_gap, std::abs(ours[f] / simgrid[k][f] - 1));
      plain_gap = std::max(plain_gap, std::abs(plain[f] / simgrid[k][f] - 1));
    }
  }
  EXPECT_GT(plain_gap, 0.01);
  std::printf(
      "with latency: CM02's weighting in mozart up to %.1e apart; plain max-min up to "
      "%.1f%% apart\n",
      weighted_gap, 100 * plain_gap);
}

}  // namespace
