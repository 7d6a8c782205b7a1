// Speed of the training simulation: one step of each of the Mozart study's models under C (on
// the UCIe NoP-Tree and on the model's mozart-paper-* preset, as the study runs it), the step's
// task graph built alone, a DeepSeek-V3 step on MoEntwine's 64-die wafer (target: under 10 s and
// 2 GB; `peak_rss_MB` is the process's peak so far, so run it alone with --benchmark_filter), and
// the study's main table (3 models x 4 policies, full depth) and the whole study, whose target
// is under 30 s.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include "mozart/core/heap.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/net/network.hpp"
#include "mozart/study/mozart_study.hpp"
#include "mozart/study/setup.hpp"

namespace {

// Freed memory kept for reuse, as the `mozart` command keeps it (mozart/core/heap.hpp).
[[maybe_unused]] const bool kKeepsFreedMemory = mozart::core::keep_freed_memory();

using namespace mozart;

// A step's inputs as the study makes them: 32 sequences of 256 tokens, priors from another
// seed, placement by Mozart's placer.
struct StepSetup {
  model::MoeModel m;
  hw::HwSpec hw;
  trace::Trace step, priors;
  workload::Policy policy;
  placement::Placement placement;
  net::Network network;
  workload::StepConfig config;

  StepSetup(const char* model_name, const std::string& hw_name, const char* policy_text = "C")
      : m(model::load_model(model_name)),
        hw(hw::load_hw(hw_name)),
        step(study::generated_trace(m, 32 * 256, 256, 1)),
        priors(study::generated_trace(m, 32 * 256, 256, 2)),
        policy(workload::parse_policy(policy_text)),
        placement(study::place_experts(m, hw, priors, policy.placer)),
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

// The process's peak resident memory so far, in MB.
double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024;
}

// DeepSeek-V3 (58 MoE layers of 256 experts) on MoEntwine's 8x8 wafer: a mesh has no switches to
// multicast, so one copy per chiplet, with overlap, streaming and Mozart's placer.
constexpr const char* kWaferPolicy = "overlap+per-chiplet+streaming+placer=mozart";

// hw_name empty: the model's mozart-paper-* preset.
void BM_TrainingStep(benchmark::State& state, const char* model_name, std::string hw_name,
                     const char* policy) {
  const StepSetup s(model_name, hw_name.empty() ? study::paper_hardware(model_name) : hw_name,
                    policy);
  std::size_t tasks = 0;
  for (auto _ : state) {
    const auto r = workload::simulate_training_step(s.inputs(), s.policy, s.config);
    tasks = r.tasks;
    benchmark::DoNotOptimize(r.step_s);
  }
  state.counters["tasks"] = double(tasks);
  state.counters["tasks_per_s"] =
      benchmark::Counter(double(tasks) * double(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["peak_rss_MB"] = peak_rss_mb();
}
BENCHMARK_CAPTURE(BM_TrainingStep, olmoe_ucie, "olmoe-1b-7b", "mozart-nop-tree-ucie", "C")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainingStep, olmoe_paper, "olmoe-1b-7b", "", "C")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainingStep, qwen3_paper, "qwen3-30b-a3b", "", "C")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainingStep, deepseek_moe_paper, "deepseek-moe-16b", "", "C")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainingStep, deepseek_v3_wafer, "deepseek-v3", "wsc-mesh-8x8", kWaferPolicy)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

// Building the step's task graph (the StepBuilder and the collective plans), without running it;
// its dependency edges per task.
void BM_BuildStep(benchmark::State& state, const char* model_name, std::string hw_name,
                  const char* policy) {
  const StepSetup s(model_name, hw_name.empty() ? study::paper_hardware(model_name) : hw_name,
                    policy);
  std::size_t tasks = 0, edges = 0;
  for (auto _ : state) {
    const auto plan = workload::build_training_step(s.inputs(), s.policy, s.config);
    tasks = plan.graph.tasks().size();
    edges = 0;
    for (const sim::Task& t : plan.graph.tasks())
      edges += t.deps.size();
  }
  state.counters["tasks"] = double(tasks);
  state.counters["edges_per_task"] = double(edges) / double(tasks);
  state.counters["peak_rss_MB"] = peak_rss_mb();
}
BENCHMARK_CAPTURE(BM_BuildStep, olmoe_paper, "olmoe-1b-7b", "", "C")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BuildStep, qwen3_paper, "qwen3-30b-a3b", "", "C")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BuildStep, deepseek_moe_paper, "deepseek-moe-16b", "", "C")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BuildStep, deepseek_v3_wafer, "deepseek-v3", "wsc-mesh-8x8", kWaferPolicy)
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

void BM_ReproduceMainTable(benchmark::State& state) {
  study::StudyOptions options;
  options.ablations = false;
  for (auto _ : state)
    benchmark::DoNotOptimize(study::run_mozart_study(options).rows.size());
}
BENCHMARK(BM_ReproduceMainTable)->Unit(benchmark::kSecond)->Iterations(1);

// The whole study as `mozart reproduce mozart` runs it: main table, sweeps and ablations.
void BM_ReproduceStudy(benchmark::State& state) {
  for (auto _ : state)
    benchmark::DoNotOptimize(study::run_mozart_study(study::StudyOptions{}).rows.size());
  state.counters["peak_rss_MB"] = peak_rss_mb();
}
BENCHMARK(BM_ReproduceStudy)->Unit(benchmark::kSecond)->Iterations(1);

}  // namespace
