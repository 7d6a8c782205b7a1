// Speed of the network's fidelity features: the 16x16 mesh all-to-all with endpoint ports on
// (target: under 1 s, as without), and fat-tree all-to-alls with multipath routing.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "mozart/core/heap.hpp"
#include "mozart/hw/spec.hpp"
#include "mozart/net/collectives.hpp"
#include "mozart/sim/engine.hpp"

namespace {

// Freed memory kept for reuse, as the `mozart` command keeps it (mozart/core/heap.hpp).
[[maybe_unused]] const bool kKeepsFreedMemory = mozart::core::keep_freed_memory();

constexpr const char* kKinds =
    "chiplet_kinds: {c: {peak_flops: {bf16: 1 TFLOP/s}, array: {rows: 1, cols: 1, count: 1}, "
    "sram: {capacity: 1 MB, bandwidth: 1 GB/s}}}\n";
constexpr const char* kLink =
    "link: {bandwidth: 900 GB/s, latency: 20 ns}, endpoint: {bandwidth: 900 GB/s}";

mozart::hw::HwSpec read(const std::string& body) {
  return mozart::hw::read_hw(mozart::core::ConfigNode::parse(
      std::string("name: bench\nclock: 1 GHz\n") + kKinds + body, "bench"));
}

mozart::hw::HwSpec mesh_with_ports(int side) {
  return read(
      fmt::format("chiplets: [{{name: n, kind: c, count: {}, holds_weights: false}}]\n"
                  "topology: {{kind: mesh, rows: {}, cols: {}, nodes: n, {}}}\n",
                  side * side, side, side, kLink));
}

mozart::hw::HwSpec fat_tree(int k, int n) {
  int terminals = 1;
  for (int i = 0; i < n; ++i)
    terminals *= k;
  return read(
      fmt::format("chiplets: [{{name: n, kind: c, count: {}, holds_weights: false}}]\n"
                  "topology: {{kind: fat_tree, k: {}, n: {}, nodes: n, {}}}\n",
                  terminals, k, n, kLink));
}

void all_to_all(benchmark::State& state, const mozart::hw::HwSpec& hw,
                mozart::net::NetworkOptions options) {
  const mozart::net::Network net(hw, options);
  std::vector<int> nodes(hw.chiplets.size());
  for (size_t i = 0; i < nodes.size(); ++i)
    nodes[i] = int(i);
  double makespan = 0;
  uint64_t solves = 0, resolved = 0, moved = 0;
  for (auto _ : state) {
    mozart::sim::TaskGraph graph;
    graph.add_collective(mozart::net::all_to_all(net, nodes, 1 << 20));
    const mozart::sim::RunResult r = mozart::sim::run(graph, net.capacities());
    makespan = r.makespan_s;
    solves = r.network_solves;
    resolved = r.network_flows_resolved;
    moved = r.network_flows_moved;
  }
  state.counters["flows"] = double(nodes.size() * (nodes.size() - 1));
  state.counters["solves"] = double(solves);
  state.counters["resolved"] = double(resolved);
  state.counters["moved"] = double(moved);
  state.counters["sim_us"] = makespan * 1e6;
}

// Plan, build and simulate, endpoint ports on every node.
void BM_MeshAllToAllPorts(benchmark::State& state) {
  all_to_all(state, mesh_with_ports(int(state.range(0))), {});
}
BENCHMARK(BM_MeshAllToAllPorts)->Arg(8)->Arg(16)->Unit(benchmark::kMillisecond);

// A k-ary 2-tree (k^2 endpoints), fractional ECMP (0) or per-flow hashing (1).
void BM_FatTreeAllToAll(benchmark::State& state) {
  mozart::net::NetworkOptions options;
  options.multipath =
      state.range(1) == 0 ? mozart::net::Multipath::split : mozart::net::Multipath::hash;
  all_to_all(state, fat_tree(int(state.range(0)), 2), options);
}
BENCHMARK(BM_FatTreeAllToAll)
    ->Args({8, 0})
    ->Args({8, 1})
    ->Args({16, 0})
    ->Args({16, 1})
    ->Unit(benchmark::kMillisecond);

}  // namespace
