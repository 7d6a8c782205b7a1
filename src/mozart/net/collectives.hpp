// Collectives as plans of flows with dependencies, for the engine to run.
//
// All-to-all dispatch sends each token's hidden state to the chiplets of its top-k experts;
// combine returns the experts' outputs. Three modes:
//  * copy_per_expert: one copy per (token, expert): standard expert parallelism, k copies;
//  * copy_per_chiplet: one copy per (token, destination chiplet);
//  * in_network: switches multicast dispatch (one copy per subtree) and sum combine (one
//    partial per token on each upstream channel). Each source's traffic through one first-hop
//    channel is a single flow whose branches carry their share of the stream (coefficients),
//    which is exact for a pipelined multicast. Every node where a token's tree branches must be
//    a switch that multicasts (dispatch) or aggregates (combine), else an InputError.
// Messages between one pair of nodes travel as one flow, as an all-to-all implementation sends
// one buffer per peer.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mozart/net/network.hpp"

namespace mozart::net {

struct PlannedFlow {
  std::string label;
  int src = -1;  // node ids; dst is -1 for a multicast or aggregation tree
  int dst = -1;
  FlowSpec spec;
  std::vector<int> after;  // indices of flows in the plan that must finish first
};

struct CollectivePlan {
  std::vector<PlannedFlow> flows;
  double payload_bytes = 0;  // bytes the collective delivers, counted once per copy received
};

// Each token: the node holding it and the nodes of its k experts (a node may repeat when two
// of its experts share a chiplet).
struct TokenRoutes {
  std::vector<int> source;
  std::vector<std::vector<int>> destinations;
};

enum class AllToAllMode { copy_per_expert, copy_per_chiplet, in_network };

// "per-expert", "per-chiplet", "in-network".
std::string_view to_string(AllToAllMode mode);

CollectivePlan dispatch(const Network& net, const TokenRoutes& tokens, double bytes_per_token,
                        AllToAllMode mode);
CollectivePlan combine(const Network& net, const TokenRoutes& tokens, double bytes_per_token,
                       AllToAllMode mode);
// Both, as dispatch() and combine() make them, grouping the tokens once.
struct DispatchCombine {
  CollectivePlan dispatch;
  CollectivePlan combine;
};
DispatchCombine dispatch_and_combine(const Network& net, const TokenRoutes& tokens,
                                     double bytes_per_token, AllToAllMode mode);

// Uniform all-to-all: every node sends `bytes` to every other node.
CollectivePlan all_to_all(const Network& net, const std::vector<int>& nodes, double bytes);
// Weighted per destination: every node sends bytes * weight[j] to nodes[j] (hot spots: experts
// that receive more tokens than others). One weight per node; a weight of 0 sends nothing.
CollectivePlan all_to_all(const Network& net, const std::vector<int>& nodes, double bytes,
                          const std::vector<double>& weight);

// Refuses, with core::InputError naming the spec and the estimate (core::require_memory), a plan
// of `flows` flows, with the simulation's copy of them, that would not fit in memory. `pair(i)`
// is flow i's (source, destination), i < flows; the channel uses per flow (hops, endpoint ports,
// every branch of a split path) are averaged over at most 256 flows spread over the plan, so
// the check stays cheap where the plan would be huge. `what` names the request, e.g. "an
// all-gather of 10000 members". Every collective below calls it before building its plan.
void require_plan_memory(const Network& net, std::uint64_t flows,
                         const std::function<std::pair<int, int>(std::uint64_t)>& pair,
                         const std::string& what);

// Every collective of fewer than two members is trivially empty: a plan of no flows (zero time).

enum class AllReduceAlgorithm { ring, tree, in_network, mesh_2d };

// All-reduce of `bytes` held by each of `nodes` (ring order = list order). mesh_2d needs the
// nodes to fill the spec's mesh or torus; in_network needs aggregating and multicasting
// switches wherever the reduction tree to its root merges or branches.
CollectivePlan all_reduce(const Network& net, const std::vector<int>& nodes, double bytes,
                          AllReduceAlgorithm algorithm);
// Ring algorithms: each node ends with all `bytes` (all-gather) or its 1/n share reduced
// (reduce-scatter); `bytes` is the full buffer.
CollectivePlan all_gather(const Network& net, const std::vector<int>& nodes, double bytes);
CollectivePlan reduce_scatter(const Network& net, const std::vector<int>& nodes, double bytes);
// From nodes[0] to the others: one multicast flow when the switches allow it, else a binomial
// tree of unicasts.
CollectivePlan broadcast(const Network& net, const std::vector<int>& nodes, double bytes);

// The participant nearest to all others (fewest hops to the farthest), ties to the lower id:
// the root of tree algorithms.
int reduction_root(const Network& net, const std::vector<int>& nodes);

}  // namespace mozart::net
