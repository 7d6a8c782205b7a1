// Speed of the foundation: loading presets and costing a whole training step.
#include <benchmark/benchmark.h>

#include "mozart/hw/zoo.hpp"
#include "mozart/model/cost.hpp"
#include "mozart/model/zoo.hpp"

namespace {

void BM_LoadModelPreset(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(mozart::model::find_preset("deepseek-v3"));
}
BENCHMARK(BM_LoadModelPreset);

void BM_LoadHwPreset(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(mozart::hw::find_preset("wsc-mesh-8x8"));
}
BENCHMARK(BM_LoadHwPreset);

// Every op of every layer, forward, both backward halves and the optimizer.
void BM_TrainingStepCost(benchmark::State& state) {
  mozart::model::MoeModel m = *mozart::model::find_preset("deepseek-v3");
  for (auto _ : state) {
    benchmark::DoNotOptimize(mozart::model::training_step_cost(m, {8, 256, true}, 4));
  }
}
BENCHMARK(BM_TrainingStepCost)->Unit(benchmark::kMillisecond);

}  // namespace
