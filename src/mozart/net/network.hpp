// The network of a hardware spec: directed channels (one per link direction, and a chiplet's
// injection and ejection ports when the spec gives them) and routes.
//
// Routing is deterministic. On a mesh or torus, chiplets with coordinates use dimension-order
// routing (XY or YX; torus: the shorter way round, ties going up), or a minimal adaptive choice
// between the two orders by current channel load. Every other pair (trees, stars, clusters,
// nodes off the grid) takes the path that costs least time per byte (sum of 1 / bandwidth),
// ties broken by fewer hops, then by lower node ids — so a cluster keeps traffic inside a node
// on NVLink rather than InfiniBand. `route()` gives that one path; `flow()` spreads a pair's
// traffic over every path of that least cost (ECMP, see Multipath), and over parallel links
// between two nodes in proportion to their bandwidth.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "mozart/hw/spec.hpp"
#include "mozart/net/fluid.hpp"

namespace mozart::net {

enum class MeshRouting { xy, yx, adaptive };

// How flow() spreads a pair's traffic over equal-cost paths:
//  * split: fractional, equally over the next hops of least cost at every node (per-hop ECMP),
//    one flow whose channels carry their share: the fluid limit of per-packet spraying or
//    random up-ports, and deterministic;
//  * hash: the whole flow on one of those paths, picked at each hop by a hash of (source,
//    destination, node): per-flow ECMP hashing, fewer channel uses, but collisions;
//  * single: route()'s one path.
enum class Multipath { split, hash, single };

struct NetworkOptions {
  // Fraction of link bandwidth a real network delivers under load; 1 = ideal max-min.
  // Packet-level simulators put a uniform all-to-all on an 8x8 mesh at 1.3-1.8x the ideal
  // time (efficiency 0.55-0.77) depending on router buffers: calibrate per topology.
  double efficiency = 1.0;
  // Packetisation: every payload_bytes of data carry header_bytes more on the wire.
  double packet_payload_bytes = 0;  // 0: no packetisation
  double packet_header_bytes = 0;
  MeshRouting mesh_routing = MeshRouting::xy;
  Multipath multipath = Multipath::split;
};

// Whether a setting can change any route of `hw`: mesh routing applies to chiplets on a mesh or
// torus grid, multipath to the pairs routed by least cost (any node off such a grid: trees, fat
// trees, stars, clusters, switches). The commands refuse a setting given where it cannot apply.
bool mesh_routing_applies(const hw::HwSpec& hw);
bool multipath_applies(const hw::HwSpec& hw);

enum class ChannelKind { link, injection, ejection };

struct Channel {
  int from = 0;  // node ids of the spec; both the chiplet for its injection and ejection ports
  int to = 0;
  int link = 0;  // index into HwSpec::links; -1 for an endpoint port
  ChannelKind kind = ChannelKind::link;
  double bytes_per_s = 0;
  double latency_s = 0;
  double energy_per_bit_j = 0;
};

using Route = std::vector<ChannelId>;

class Network {
 public:
  explicit Network(const hw::HwSpec& hw, NetworkOptions options = {});

  const hw::HwSpec& hw() const { return hw_; }
  const NetworkOptions& options() const { return options_; }
  const std::vector<Channel>& channels() const { return channels_; }
  // "a->b" for a link, "a.inject" and "a.eject" for a chiplet's ports.
  std::string channel_name(ChannelId c) const;
  // Capacities as the fluid model sees them: bandwidth times the efficiency of the channel's
  // class (hw::Efficiency; a channel out of a switch takes the link's and the switch's), times
  // NetworkOptions::efficiency.
  std::vector<double> capacities() const;
  // Bytes on the wire per byte of payload.
  double wire_factor() const;
  ChannelId channel_between(int from, int to) const;  // -1 when not adjacent

  // The channels from src to dst (empty when src == dst). `load` (bytes per channel) informs
  // the adaptive mesh routing and is ignored otherwise.
  Route route(int src, int dst, std::span<const double> load = {}) const;
  // route(src, dst).size() without building the route (whatever the load, on a mesh or torus
  // both dimension orders take as many hops).
  std::size_t hops(int src, int dst) const;
  // Link latencies plus the hop latency of every switch passed through.
  double latency(const Route& route) const;
  // Unicast flow along a route, with the wire factor as the channel coefficient, through the
  // sender's injection and the receiver's ejection port when they have them.
  FlowSpec unicast(const Route& route, double bytes) const;
  // A flow of `bytes` from src to dst over the paths NetworkOptions::multipath takes (see
  // Multipath), with endpoint ports as unicast(). Its latency is that of the latest path it
  // takes: a split flow's paths carry fixed shares of one stream, all paced at the flow's rate,
  // so its last bytes arrive over its slowest path (docs/network.md).
  FlowSpec flow(int src, int dst, double bytes, std::span<const double> load = {}) const;
  // Adds the endpoint ports of a flow given by its link channels: every node it leaves and
  // never enters injects what leaves it, every node it enters and never leaves ejects what
  // enters it (multicast and aggregation trees).
  void add_endpoints(FlowSpec& spec) const;
  bool has_endpoints() const { return has_endpoints_; }
  // A chiplet's injection and ejection port channels; -1 where it has none.
  ChannelId injection_port(int node) const { return injection_[static_cast<size_t>(node)]; }
  ChannelId ejection_port(int node) const { return ejection_[static_cast<size_t>(node)]; }

 private:
  Route dimension_order(int src, int dst, bool x_first) const;
  // Whether src to dst takes a dimension-order route; throws when either is no node.
  bool on_grid(int src, int dst) const;
  Route shortest(int src, int dst) const;
  // Calls visit with each channel of shortest(src, dst), from dst back to src.
  template <typename F>
  void walk_shortest(int src, int dst, F&& visit) const;
  const std::vector<int>& parents_from(int src) const;  // shortest-path tree, cached
  // Per node, its neighbours one step closer to `dst` on its paths of least cost (time per
  // byte over parallel links joined, then hops). Cached.
  struct NextHops {
    std::vector<uint32_t> first;  // node -> its range of `next`, n + 1 entries
    std::vector<int> next;
  };
  const NextHops& next_hops(int dst) const;
  // Adds `share` of a stream crossing from `node` to neighbour `next`, split over the parallel
  // links between them in proportion to bandwidth.
  void add_hop(FlowSpec& spec, int node, int next, double share) const;
  // Returns the flow's latency: its latest path's (see flow()).
  double add_split(FlowSpec& spec, int src, int dst) const;
  // The latest of the parallel links from node to next; a switch's hop latency (0 otherwise).
  double bundle_latency(int node, int next) const;
  double transit_latency(int node) const;
  void add_hashed(FlowSpec& spec, int src, int dst) const;

  hw::HwSpec hw_;
  NetworkOptions options_;
  std::vector<Channel> channels_;
  std::vector<std::vector<std::pair<int, ChannelId>>> out_;  // node -> (neighbour, channel)
  std::vector<ChannelId> injection_;                         // node -> its injection port, -1: none
  std::vector<ChannelId> ejection_;
  bool has_endpoints_ = false;
  bool has_parallel_ = false;           // some pair of nodes has several links
  std::vector<std::vector<int>> grid_;  // [y][x] -> chiplet, on meshes
  bool torus_ = false;
  mutable std::unordered_map<int, std::vector<int>> parents_;  // src -> predecessor channel
  // dst -> per node, the neighbours one step closer on its least-cost paths to dst
  mutable std::unordered_map<int, NextHops> next_hops_;
};

}  // namespace mozart::net
