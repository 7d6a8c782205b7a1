// The network of a hardware spec: directed channels (one per link direction) and routes.
//
// Routing is deterministic. On a mesh or torus, chiplets with coordinates use dimension-order
// routing (XY or YX; torus: the shorter way round, ties going up), or a minimal adaptive choice
// between the two orders by current channel load. Every other pair (trees, stars, clusters,
// nodes off the grid) takes the path that costs least time per byte (sum of 1 / bandwidth),
// ties broken by fewer hops, then by lower node ids — so a cluster keeps traffic inside a node
// on NVLink rather than InfiniBand.
#pragma once

#include <span>
#include <unordered_map>
#include <vector>

#include "mozart/hw/spec.hpp"
#include "mozart/net/fluid.hpp"

namespace mozart::net {

enum class MeshRouting { xy, yx, adaptive };

struct NetworkOptions {
  // Fraction of link bandwidth a real network delivers under load; 1 = ideal max-min.
  // Packet-level simulators put a uniform all-to-all on an 8x8 mesh at 1.3-1.8x the ideal
  // time (efficiency 0.55-0.77) depending on router buffers: calibrate per topology.
  double efficiency = 1.0;
  // Packetisation: every payload_bytes of data carry header_bytes more on the wire.
  double packet_payload_bytes = 0;  // 0: no packetisation
  double packet_header_bytes = 0;
  MeshRouting mesh_routing = MeshRouting::xy;
};

struct Channel {
  int from = 0;  // node ids of the spec
  int to = 0;
  int link = 0;  // index into HwSpec::links
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
  // Capacities as the fluid model sees them: bandwidth times efficiency.
  std::vector<double> capacities() const;
  // Bytes on the wire per byte of payload.
  double wire_factor() const;
  ChannelId channel_between(int from, int to) const;  // -1 when not adjacent

  // The channels from src to dst (empty when src == dst). `load` (bytes per channel) informs
  // the adaptive mesh routing and is ignored otherwise.
  Route route(int src, int dst, std::span<const double> load = {}) const;
  // Link latencies plus the hop latency of every switch passed through.
  double latency(const Route& route) const;
  // Unicast flow along a route, with the wire factor as the channel coefficient.
  FlowSpec unicast(const Route& route, double bytes) const;

 private:
  Route dimension_order(int src, int dst, bool x_first) const;
  Route shortest(int src, int dst) const;
  const std::vector<int>& parents_from(int src) const;  // shortest-path tree, cached

  hw::HwSpec hw_;
  NetworkOptions options_;
  std::vector<Channel> channels_;
  std::vector<std::vector<std::pair<int, ChannelId>>> out_;  // node -> (neighbour, channel)
  std::vector<std::vector<int>> grid_;                       // [y][x] -> chiplet, on meshes
  bool torus_ = false;
  mutable std::unordered_map<int, std::vector<int>> parents_;  // src -> predecessor channel
};

}  // namespace mozart::net
