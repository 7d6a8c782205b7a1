// Speed of placement (issue targets: each Mozart-paper model onto 16 chiplets in under 0.5 s;
// DeepSeek-V3, 256 experts × 58 MoE layers, onto 64 and onto 256 devices in under 5 s in all;
// the same with --refine onto wsc-mesh-8x8 in under 5 s).
#include <benchmark/benchmark.h>

#include "mozart/hw/zoo.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/placement/placers.hpp"
#include "mozart/trace/generator.hpp"

namespace {

using namespace mozart;

trace::Trace model_trace(const std::string& name, std::size_t tokens) {
  const auto m = *model::find_preset(name);
  return trace::generate({m.moe_layers(), m.routed_experts, m.top_k}, tokens, {}, 1, name);
}

// Places every layer with `mozart` per iteration; reports the worst optimality gap.
void run_placement(benchmark::State& state, const trace::Trace& t,
                   const placement::DeviceLayout& layout) {
  double gap = 0;
  for (auto _ : state) {
    const auto p = placement::place(t, layout, "mozart", {});
    for (const auto& r : p.solver)
      gap = std::max(gap, r ? r->gap : 0.0);
  }
  state.counters["layers"] = t.layers();
  state.counters["worst_gap"] = gap;
}

void place_model(benchmark::State& state, const std::string& name) {
  const auto t = model_trace(name, 8192);
  run_placement(state, t,
                placement::layout_from_hw(hw::load_hw("mozart-nop-tree-ucie"), t.num_experts()));
}

void BM_MozartOnNopTree_OLMoE(benchmark::State& s) {
  place_model(s, "olmoe-1b-7b");
}
void BM_MozartOnNopTree_Qwen3(benchmark::State& s) {
  place_model(s, "qwen3-30b-a3b");
}
void BM_MozartOnNopTree_DeepSeekMoE(benchmark::State& s) {
  place_model(s, "deepseek-moe-16b");
}
BENCHMARK(BM_MozartOnNopTree_OLMoE)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MozartOnNopTree_Qwen3)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MozartOnNopTree_DeepSeekMoE)->Unit(benchmark::kMillisecond)->UseRealTime();

// DeepSeek-V3 onto `devices` in groups of 4, the experts spread evenly.
void BM_DeepSeekV3(benchmark::State& state) {
  const int devices = static_cast<int>(state.range(0));
  const auto t = model_trace("deepseek-v3", 4096);
  run_placement(
      state, t,
      placement::uniform_layout(devices, 4, (t.num_experts() + devices - 1) / devices, "devices"));
}
BENCHMARK(BM_DeepSeekV3)
    ->Arg(64)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

// `mozart place --placer mozart --refine` of DeepSeek-V3 (58 MoE layers, 256 experts, 8192
// tokens of which refinement samples 4096) onto the 64 dies of wsc-mesh-8x8 (issue target: under
// 5 s in all; it took 18.5 s before the swaps were scored without being made).
void BM_RefineDeepSeekV3OnMesh(benchmark::State& state) {
  const auto t = model_trace("deepseek-v3", 8192);
  const auto layout = placement::layout_from_hw(hw::load_hw("wsc-mesh-8x8"), t.num_experts());
  placement::PlacerOptions options;
  options.refine = true;
  for (auto _ : state)
    benchmark::DoNotOptimize(placement::place(t, layout, "mozart", options));
  state.counters["layers"] = t.layers();
}
BENCHMARK(BM_RefineDeepSeekV3OnMesh)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace
