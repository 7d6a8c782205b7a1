// Speed of the simulation core (issue targets: a 16x16 mesh all-to-all of 65,280 flows in
// under 1 s; at least 1M engine events per second).
#include <random>

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

// Weight reads as a training step makes them: 16 engines, each behind its SRAM port
// (1 GB/s), read from 4 memory stacks (each serving 4 engines) between computations. With
// stacks of 64 GB/s the ports bind and reads start and finish without a solve; with stacks of
// 2 GB/s the four readers of a stack share it and every read needs one.
void BM_EngineComputeAndReads(benchmark::State& state) {
  const double stack_bandwidth = double(state.range(0)) * 1e9;
  constexpr int kEngines = 16, kStacks = 4, kSteps = 4000;
  std::vector<std::string> engines;
  for (int e = 0; e < kEngines; ++e)
    engines.push_back(fmt::format("e{}", e));
  std::vector<double> capacities(kStacks, stack_bandwidth);
  capacities.resize(kStacks + kEngines, 1e9);
  mozart::sim::TaskGraph graph(engines);
  std::mt19937 rng(1);
  std::uniform_real_distribution<double> bytes(0.5e6, 2e6), seconds(0.2e-3, 1e-3);
  for (int e = 0; e < kEngines; ++e) {
    mozart::sim::TaskId last = -1;
    for (int s = 0; s < kSteps; ++s) {
      mozart::net::FlowSpec read;
      read.uses = {{e / 4, 1}, {kStacks + e, 1}};
      read.bytes = bytes(rng);
      std::vector<mozart::sim::TaskId> after;
      if (last >= 0)
        after.push_back(last);
      const mozart::sim::TaskId got = graph.add_flow("read", read, after);
      last = graph.add_compute("op", e, seconds(rng), {got});
    }
  }
  mozart::sim::RunResult r;
  for (auto _ : state)
    r = mozart::sim::run(graph, capacities);
  state.counters["events_per_s"] = benchmark::Counter(double(r.events) * double(state.iterations()),
                                                      benchmark::Counter::kIsRate);
  state.counters["solves"] = double(r.network_solves);
  state.counters["flows"] = double(kEngines * kSteps);
}
BENCHMARK(BM_EngineComputeAndReads)->Arg(64)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace
