// What the SimGrid oracle tests share: a case (channels, routes, flows), SimGrid's CM02 set up
// as the oracle runs it, and mozart's completion times for a case, plain or with CM02's
// 1 / latency weighting.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <simgrid/s4u.hpp>

#include "mozart/net/fluid.hpp"

namespace mozart::oracle {

using net::ChannelId;

struct Case {
  std::string name;
  std::vector<double> capacity;
  std::vector<double> latency;  // per channel; empty: none
  struct Flow {
    std::vector<ChannelId> route;
    uint64_t bytes;
    double start;
  };
  std::vector<Flow> flows;
};

// CM02 without cross-traffic, weight-S 0 and TCP window bound, precision 1e-9, and the full
// update: the default lazy update re-solves only the constraints it marks as modified, and
// when two flows end their latency at the same instant and the second one's first link was
// already marked by the first, the second one's other links are not marked: flows there keep
// stale rates and a link carries more than its bandwidth. Call before the platform is built.
inline void configure_cm02() {
  namespace sg4 = simgrid::s4u;
  sg4::Engine::set_config("network/model:CM02");
  sg4::Engine::set_config("network/optim:Full");
  sg4::Engine::set_config("network/crosstraffic:0");
  sg4::Engine::set_config("network/weight-S:0");
  sg4::Engine::set_config("network/TCP-gamma:0");
  sg4::Engine::set_config("maxmin/precision:1e-9");
  sg4::Engine::set_config("surf/precision:1e-9");
}

inline double route_latency(const Case& c, const Case::Flow& f) {
  double total = 0;
  for (ChannelId ch : f.route)
    total += c.latency.empty() ? 0 : c.latency[size_t(ch)];
  return total;
}

// `rtt_weighted`: each flow weighted by 1 / its route's latency, as CM02 shares (weight 1 / L
// stands for 1 / L flows of bytes x L each).
inline std::vector<double> mozart_times(const Case& c, bool rtt_weighted = false) {
  net::FluidNetwork network(c.capacity);
  std::vector<net::TimedFlow> flows;
  for (const Case::Flow& f : c.flows) {
    net::TimedFlow timed;
    for (ChannelId ch : f.route)
      timed.spec.uses.push_back({ch, 1});
    timed.spec.latency_s = route_latency(c, f);
    const double weight = rtt_weighted ? 1 / timed.spec.latency_s : 1;
    timed.spec.weight = weight;
    timed.spec.bytes = double(f.bytes) / weight;
    timed.start_s = f.start;
    flows.push_back(std::move(timed));
  }
  return net::run_flows(network, flows);
}

}  // namespace mozart::oracle
