// Speed of the training simulation: one step of each of the Mozart study's models under C (on
// the UCIe NoP-Tree and on the model's mozart-paper-* preset, as the study runs it), the step's
// task graph built alone, and the study's main table (3 models x 4 policies, full depth), whose
// target is under 30 s.
#include <benchmark/benchmark.h>

#include "mozart/hw/zoo.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/net/network.hpp"
#include "mozart/study/mozart_study.hpp"
#include "mozart/study/setup.hpp"

namespace {

using namespace mozart;

// A step's inputs as the study makes them: 32 sequences of 256 tokens, priors from another
// seed, placement by Mozart's placer.
struct StepSetup {
  model::MoeModel m;
  hw::HwSpec hw;
  trace::Trace step, priors;
  placement::Placement placement;
  net::Network network;
  workload::Policy policy = workload::parse_policy("C");
  workload::StepConfig config;

  StepSetup(const char* model_name, const std::string& hw_name)
      : m(model::load_model(model_name)),
        hw(hw::load_hw(hw_name)),
        step(study::generated_trace(m, 32 * 256, 256, 1)),
        priors(study::generated_trace(m, 32 * 256, 256, 2)),
        placement(study::place_experts(m, hw, priors, "mozart")),
        network(hw) {
    // The paper's stacks cannot hold Qwen3-30B-A3B's weights; the study simulates it anyway.
    config.weights_may_overflow = true;
  }

  workload::StepInputs inputs() const {
    workload::StepInputs in{m, network, placement, step};
    in.priors = &priors;
    return in;
  }
};

void BM_TrainingStep(benchmark::State& state, const char* model_name, std::string hw_name) {
  const StepSetup s(model_name, hw_name.empty() ? study::paper_hardware(model_name) : hw_name);
  std::size_t tasks = 0;
  for (auto _ : state) {
    const auto r = workload::simulate_training_step(s.inputs(), s.policy, s.config);
    tasks = r.tasks;
    benchmark::DoNotOptimize(r.step_s);
  }
  state.counters["tasks"] = double(tasks);
  state.counters["tasks_per_s"] =
      benchmark::Counter(double(tasks) * double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_TrainingStep, olmoe_ucie, "olmoe-1b-7b", "mozart-nop-tree-ucie")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainingStep, olmoe_paper, "olmoe-1b-7b", "")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainingStep, qwen3_paper, "qwen3-30b-a3b", "")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainingStep, deepseek_moe_paper, "deepseek-moe-16b", "")
    ->Unit(benchmark::kMillisecond);

// Building the step's task graph (the StepBuilder and the collective plans), without running it.
void BM_BuildStep(benchmark::State& state, const char* model_name) {
  const StepSetup s(model_name, study::paper_hardware(model_name));
  for (auto _ : state) {
    const auto plan = workload::build_training_step(s.inputs(), s.policy, s.config);
    benchmark::DoNotOptimize(plan.graph.tasks().size());
  }
}
BENCHMARK_CAPTURE(BM_BuildStep, olmoe_paper, "olmoe-1b-7b")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BuildStep, qwen3_paper, "qwen3-30b-a3b")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BuildStep, deepseek_moe_paper, "deepseek-moe-16b")
    ->Unit(benchmark::kMillisecond);

void BM_ReproduceMainTable(benchmark::State& state) {
  study::StudyOptions options;
  options.ablations = false;
  for (auto _ : state)
    benchmark::DoNotOptimize(study::run_mozart_study(options).rows.size());
}
BENCHMARK(BM_ReproduceMainTable)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace
