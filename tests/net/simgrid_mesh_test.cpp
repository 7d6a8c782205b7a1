// SimGrid's CM02 against mozart on uniform all-to-alls over meshes whose links have latency:
// the wafer-scale mesh's links (900 GB/s, 20 ns, taken here in bytes per ns and ns) carrying
// 1 MB from every node to every other, routes XY. CM02 weights a flow's share by 1 / its
// route's latency, so long routes get less than short ones where they meet; mozart shares
// plainly. The test checks that mozart with CM02's weighting agrees with SimGrid to 1e-6 on
// every flow, and prints how far plain mozart is from SimGrid: the makespan and the flows.
//
// Mesh sides: MOZART_ORACLE_MESHES (comma-separated, default 4). Larger meshes take long with
// SimGrid's full update (docs/network.md gives the figures and the command).
#include <cstdlib>
#include <sstream>

#include "simgrid_oracle.hpp"
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <simgrid/s4u.hpp>

#include "mozart/hw/spec.hpp"
#include "mozart/net/network.hpp"

namespace sg4 = simgrid::s4u;

namespace {

using mozart::oracle::Case;

constexpr double kBandwidth = 900;  // bytes per ns: 900 GB/s
constexpr double kLatency = 20;     // ns
constexpr uint64_t kBytes = 1000000;

std::vector<int> mesh_sides() {
  const char* env = std::getenv("MOZART_ORACLE_MESHES");
  std::istringstream in(env ? env : "4");
  std::vector<int> sides;
  for (std::string side; std::getline(in, side, ',');)
    sides.push_back(std::stoi(side));
  return sides;
}

struct MeshCase {
  Case c;
  int nodes = 0;
  std::vector<std::pair<int, int>> pairs;  // each flow's source and destination
};

MeshCase mesh_all_to_all(int side) {
  const mozart::hw::HwSpec hw = mozart::hw::read_hw(
      mozart::core::ConfigNode::parse(fmt::format(R"(
name: mesh
clock: 1 GHz
chiplet_kinds: {{c: {{peak_flops: {{bf16: 1 TFLOP/s}}, array: {{rows: 1, cols: 1, count: 1}}, sram: {{capacity: 1 MB, bandwidth: 1 GB/s}}}}}}
chiplets: [{{name: n, kind: c, count: {}, holds_weights: false}}]
topology: {{kind: mesh, rows: {}, cols: {}, nodes: n, link: {{bandwidth: {}}}}}
)",
                                                  side * side, side, side, kBandwidth),
                                      "mesh"));
  const mozart::net::Network net(hw);
  MeshCase m;
  m.nodes = side * side;
  m.c.name = fmt::format("{0}x{0} mesh all-to-all", side);
  m.c.capacity = net.capacities();
  m.c.latency.assign(m.c.capacity.size(), kLatency);
  for (int s = 0; s < m.nodes; ++s) {
    for (int d = 0; d < m.nodes; ++d) {
      if (s != d) {
        m.c.flows.push_back({net.route(s, d), kBytes, 0.0});
        m.pairs.emplace_back(s, d);
      }
    }
  }
  return m;
}

// Every case in one simulation (one engine per process), on links and hosts of its own: one
// actor per node sends all its flows at once and records each one's completion.
std::vector<std::vector<double>> simgrid_times(const std::vector<MeshCase>& cases) {
  int argc = 1;
  char name[] = "oracle";
  char* argv[] = {name, nullptr};
  sg4::Engine engine(&argc, argv);
  mozart::oracle::configure_cm02();
  auto* zone = sg4::create_full_zone("mesh");
  std::vector<std::vector<double>> finish(cases.size());
  struct Sender {
    sg4::Host* host;
    std::vector<std::pair<sg4::Host*, uint64_t>> flows;
    std::vector<double*> finish;
  };
  std::vector<Sender> senders;
  for (size_t k = 0; k < cases.size(); ++k) {
    const Case& c = cases[k].c;
    std::vector<sg4::Link*> links;
    for (size_t ch = 0; ch < c.capacity.size(); ++ch) {
      sg4::Link* link = zone->create_link(fmt::format("c{}l{}", k, ch), c.capacity[ch]);
      links.push_back(link->set_latency(c.latency[ch])->seal());
    }
    const size_t first = senders.size();
    for (int n = 0; n < cases[k].nodes; ++n)
      senders.push_back({zone->create_host(fmt::format("c{}n{}", k, n), 1.0)->seal(), {}, {}});
    finish[k].assign(c.flows.size(), -1);
    for (size_t f = 0; f < c.flows.size(); ++f) {
      Sender& from = senders[first + size_t(cases[k].pairs[f].first)];
      sg4::Host* to = senders[first + size_t(cases[k].pairs[f].second)].host;
      std::vector<sg4::LinkInRoute> route;
      for (auto ch : c.flows[f].route)
        route.emplace_back(links[size_t(ch)]);
      zone->add_route(from.host->get_netpoint(), to->get_netpoint(), nullptr, nullptr, route,
                      false);
      from.flows.emplace_back(to, c.flows[f].bytes);
      from.finish.push_back(&finish[k][f]);
    }
  }
  zone->seal();
  for (const Sender& s : senders) {
    sg4::Actor::create("sender", s.host, [&s] {
      std::vector<sg4::CommPtr> comms;
      for (const auto& [to, bytes] : s.flows)
        comms.push_back(sg4::Comm::sendto_async(s.host, to, bytes));
      std::vector<double*> open = s.finish;
      while (!comms.empty()) {
        const auto done = size_t(sg4::Comm::wait_any(comms));
        *open[done] = sg4::Engine::get_clock();
        comms.erase(comms.begin() + long(done));
        open.erase(open.begin() + long(done));
      }
    });
  }
  engine.run();
  return finish;
}

TEST(SimGridMesh, AllToAllWithLinkLatency) {
  std::vector<MeshCase> meshes;
  for (int side : mesh_sides())
    meshes.push_back(mesh_all_to_all(side));
  const std::vector<std::vector<double>> simgrid = simgrid_times(meshes);
  for (size_t k = 0; k < meshes.size(); ++k) {
    const Case& c = meshes[k].c;
    const std::vector<double> weighted = mozart::oracle::mozart_times(c, true);
    const std::vector<double> plain = mozart::oracle::mozart_times(c);
    double weighted_gap = 0, plain_gap = 0, sg_end = 0, plain_end = 0;
    for (size_t f = 0; f < plain.size(); ++f) {
      EXPECT_NEAR(weighted[f], simgrid[k][f], 1e-6 * simgrid[k][f]) << c.name << " flow " << f;
      weighted_gap = std::max(weighted_gap, std::abs(weighted[f] / simgrid[k][f] - 1));
      plain_gap = std::max(plain_gap, std::abs(plain[f] / simgrid[k][f] - 1));
      sg_end = std::max(sg_end, simgrid[k][f]);
      plain_end = std::max(plain_end, plain[f]);
    }
    std::printf(
        "%s, %zu flows: SimGrid %.1f ns, mozart %.1f ns (SimGrid %+.2f%%); CM02's weighting in "
        "mozart up to %.1e apart per flow, plain mozart up to %.1f%%\n",
        c.name.c_str(), plain.size(), sg_end, plain_end, 100 * (sg_end / plain_end - 1),
        weighted_gap, 100 * plain_gap);
  }
}

}  // namespace
