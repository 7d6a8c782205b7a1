// Speed of the simulation core (issue targets: a 16x16 mesh all-to-all of 65,280 flows in
// under 1 s; at least 1M engine events per second).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "mozart/hw/spec.hpp"
#include "mozart/net/collectives.hpp"
#include "mozart/sim/engine.hpp"

namespace {

mozart::hw::HwSpec mesh(int side) {
  std::string yaml = fmt::format(R"(
name: mesh
clock: 1 GHz
chiplet_kinds: {{c: {{peak_flops: {{bf16: 1 TFLOP/s}}, array: {{rows: 1, cols: 1, count: 1}}, sram: {{capacity: 1 MB, bandwidth: 1 GB/s}}}}}}
chiplets: [{{name: n, kind: c, count: {}, holds_weights: false}}]
topology: {{kind: mesh, rows: {}, cols: {}, nodes: n, link: {{bandwidth: 900 GB/s, latency: 20 ns}}}}
)",
                                 side * side, side, side);
  return mozart::hw::read_hw(mozart::core::ConfigNode::parse(yaml, "bench"));
}

std::vector<int> all_nodes(int side) {
  std::vector<int> nodes(size_t(side * side));
  for (int i = 0; i < side * side; ++i)
    nodes[size_t(i)] = i;
  return nodes;
}

// Uniform all-to-all among all endpoints of a side x side mesh: plan, build and simulate.
void BM_MeshAllToAll(benchmark::State& state) {
  const int side = int(state.range(0));
  mozart::net::Network net(mesh(side));
  const std::vector<int> nodes = all_nodes(side);
  double makespan = 0;
  uint64_t solves = 0, resolved = 0;
  for (auto _ : state) {
    mozart::sim::TaskGraph graph;
    graph.add_collective(mozart::net::all_to_all(net, nodes, 1 << 20));
    mozart::sim::RunResult r = mozart::sim::run(graph, net.capacities());
    makespan = r.makespan_s;
    solves = r.network_solves;
    resolved = r.network_flows_resolved;
  }
  state.counters["flows"] = double(side * side) * (side * side - 1);
  state.counters["solves"] = double(solves);
  state.counters["resolved_per_solve"] = double(resolved) / double(solves);
  state.counters["sim_ms"] = makespan * 1e3;
}
BENCHMARK(BM_MeshAllToAll)->Arg(8)->Arg(16)->Unit(benchmark::kMillisecond);

// The same all-to-all, its plan and task graph built once: the simulation alone.
void BM_MeshAllToAllRun(benchmark::State& state) {
  const int side = int(state.range(0));
  mozart::net::Network net(mesh(side));
  mozart::sim::TaskGraph graph;
  graph.add_collective(mozart::net::all_to_all(net, all_nodes(side), 1 << 20));
  for (auto _ : state)
    benchmark::DoNotOptimize(mozart::sim::run(graph, net.capacities()).makespan_s);
}
BENCHMARK(BM_MeshAllToAllRun)->Arg(16)->Unit(benchmark::kMillisecond);

// Many independent chains of compute tasks over 64 resources: engine overhead per event.
void BM_EngineEvents(benchmark::State& state) {
  const int tasks = int(state.range(0));
  std::vector<std::string> resources;
  for (int r = 0; r < 64; ++r)
    resources.push_back(fmt::format("r{}", r));
  mozart::sim::TaskGraph graph(resources);
  for (int t = 0; t < tasks; ++t) {
    std::vector<mozart::sim::TaskId> deps;
    if (t >= 64)
      deps.push_back(t - 64);
    if (t >= 200 && t % 3 == 0)
      deps.push_back(t - 200);
    graph.add_compute("op", t % 64, 1e-6 * (1 + t % 7), deps);
  }
  uint64_t events = 0;
  for (auto _ : state)
    events += mozart::sim::run(graph, {}).events;
  state.counters["events_per_s"] = benchmark::Counter(double(events), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EngineEvents)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace
