// Speed of the serving simulation: one DeepSeek-V3 decode iteration on MoEntwine's four-wafer
// system (256 dies, batch 256 x 4K context; target under 1 s), and 100 iterations (target under
// 30 s), each under ER-Mapping with TP = 4, on one thread and on one per hardware thread (jobs
// 0; wall time: one iteration runs its phases on them, many run several iterations at once);
// the routing and placement are made outside the timed loop; and the MoEntwine study, quick
// and full.
#include <benchmark/benchmark.h>

#include "mozart/core/heap.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/mapping/mapping.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/study/moentwine.hpp"
#include "mozart/study/serving.hpp"
#include "mozart/study/setup.hpp"
#include "mozart/workload/inference.hpp"

namespace {

// Freed memory kept for reuse, as the `mozart` command keeps it (mozart/core/heap.hpp).
[[maybe_unused]] const bool kKeepsFreedMemory = mozart::core::keep_freed_memory();

using namespace mozart;

void BM_DecodeIterations(benchmark::State& state, const char* model_name, const char* hw_name,
                         const char* mapping_name) {
  const model::MoeModel m = model::load_model(model_name);
  const hw::HwSpec hw = hw::load_hw(hw_name);
  const net::Network net(hw);
  const mapping::Mapping map = mapping::make_mapping(net, mapping_name, 4, "bench");
  workload::ServeConfig c;
  c.batch = 256;
  c.context = 4096;
  c.iterations = int(state.range(0));
  const trace::Trace t = study::serving_trace(m, c, map.group_count(), 1);
  const trace::Trace priors = study::generated_trace(m, 4096, 256, 2);
  const placement::Placement p = study::place_experts(m, hw, priors, "contiguous", 1);
  const workload::ServeInputs in{m, net, map, p, t};
  workload::ServeRunOptions options;
  options.jobs = unsigned(state.range(1));
  workload::ServeResult r;
  for (auto _ : state) {
    r = workload::simulate_serving(in, c, options);
    // Through a const value: the non-const DoNotOptimize may hand a double back altered (its
    // asm claims to write it), which made this counter print garbage.
    const double latency = r.mean_latency_s;
    benchmark::DoNotOptimize(latency);
  }
  state.counters["simulated_iteration_us"] = 1e6 * r.mean_latency_s;
  const workload::IterationResult& first = r.iterations.front();
  state.counters["tasks_per_iteration"] = double(first.tasks);
  state.counters["solves"] = double(first.network_solves);
  state.counters["resolved"] = double(first.flows_resolved);
  state.counters["moved"] = double(first.flows_moved);
}

BENCHMARK_CAPTURE(BM_DecodeIterations, deepseek_v3_256_dies_er, "deepseek-v3", "wsc-mesh-4x8x8",
                  "er")
    ->ArgNames({"iterations", "jobs"})
    ->Args({1, 1})
    ->Args({1, 0})
    ->Args({100, 1})
    ->Args({100, 0})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

// `mozart reproduce moentwine` as the command runs it (targets: under 2 minutes on one core),
// and its `--quick` form (under 20 s).
void BM_ReproduceMoentwine(benchmark::State& state) {
  const study::MoentwineOptions full;
  const study::MoentwineOptions options = state.range(0) ? study::quick_moentwine(full) : full;
  for (auto _ : state)
    benchmark::DoNotOptimize(study::run_moentwine_study(options).rows.size());
}
BENCHMARK(BM_ReproduceMoentwine)
    ->ArgName("quick")
    ->Arg(1)
    ->Arg(0)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

}  // namespace
