// Speed of the training simulation: one step of each of the Mozart study's models under C, and
// the study's main table (3 models x 4 policies, full depth), whose target is under 30 s.
#include <benchmark/benchmark.h>

#include "mozart/hw/zoo.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/net/network.hpp"
#include "mozart/study/mozart_study.hpp"
#include "mozart/study/setup.hpp"

namespace {

using namespace mozart;

void BM_TrainingStep(benchmark::State& state, const char* model_name) {
  const auto m = model::load_model(model_name);
  const auto hw = hw::load_hw("mozart-nop-tree-ucie");
  const auto step = study::generated_trace(m, 32 * 256, 256, 1);
  const auto priors = study::generated_trace(m, 32 * 256, 256, 2);
  const auto placement = study::place_experts(m, hw, priors, "mozart");
  const net::Network network(hw);
  const auto policy = workload::parse_policy("C");
  workload::StepConfig config;
  std::size_t tasks = 0;
  for (auto _ : state) {
    const auto r = workload::simulate_training_step({m, network, placement, step}, policy, config);
    tasks = r.tasks;
    benchmark::DoNotOptimize(r.step_s);
  }
  state.counters["tasks"] = double(tasks);
  state.counters["tasks_per_s"] =
      benchmark::Counter(double(tasks) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_TrainingStep, olmoe, "olmoe-1b-7b")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainingStep, qwen3, "qwen3-30b-a3b")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainingStep, deepseek_moe, "deepseek-moe-16b")->Unit(benchmark::kMillisecond);

void BM_ReproduceMainTable(benchmark::State& state) {
  study::StudyOptions options;
  options.ablations = false;
  for (auto _ : state)
    benchmark::DoNotOptimize(study::run_mozart_study(options).rows.size());
}
BENCHMARK(BM_ReproduceMainTable)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace
