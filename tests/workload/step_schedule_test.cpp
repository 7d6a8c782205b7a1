// The training step's schedule: gradient read-after-write, the all-to-all as a synchronous
// phase, streaming's priors, the optimizer's schedule, gradient precision, and the losses
// measured by re-simulation against the phased lower bound.
#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include "step_case.hpp"
#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/hw/cost.hpp"
#include "mozart/sim/engine.hpp"

namespace mozart::workload {
namespace {

StepPlan plan_of(const Case& s, const Policy& policy, const trace::Trace* priors) {
  const net::Network network(s.hw);
  StepInputs inputs{s.model, network, s.placement, s.trace};
  inputs.priors = priors;
  return build_training_step(inputs, policy, s.config);
}

// Whether `before` is among the transitive dependencies of `task`.
bool precedes(const sim::TaskGraph& graph, sim::TaskId before, sim::TaskId task) {
  std::vector<bool> seen(graph.tasks().size(), false);
  std::vector<sim::TaskId> todo{task};
  while (!todo.empty()) {
    const sim::TaskId t = todo.back();
    todo.pop_back();
    for (const sim::TaskId d : graph.tasks()[std::size_t(t)].deps) {
      if (d == before)
        return true;
      if (!seen[std::size_t(d)]) {
        seen[std::size_t(d)] = true;
        todo.push_back(d);
      }
    }
  }
  return false;
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Memory loads of backward (not the optimizer's) that carry gradient bytes.
std::vector<sim::TaskId> gradient_loads(const StepPlan& plan) {
  std::vector<sim::TaskId> out;
  for (std::size_t t = 0; t < plan.info.size(); ++t) {
    const std::string_view name = plan.graph.tasks()[t].name;
    if (plan.info[t].bytes[std::size_t(Traffic::gradients)] > 0 &&
        name.find(" load") != std::string::npos && name.rfind("adam", 0) != 0)
      out.push_back(sim::TaskId(t));
  }
  return out;
}

TEST(GradientAccumulation, EveryReadFollowsThePreviousMicroBatchsWrite) {
  for (const char* name : {"baseline", "A", "C"}) {
    const Policy policy = parse_policy(name);
    const Case s = make_setup("olmoe-1b-7b", 2, policy, hw::load_hw("mozart-nop-tree-ucie"), 3);
    const StepPlan plan = plan_of(s, policy, &s.priors);
    ASSERT_FALSE(plan.gradient_reads.empty()) << name;
    std::set<sim::TaskId> reads;
    for (const auto& r : plan.gradient_reads) {
      reads.insert(r.read);
      ASSERT_FALSE(r.previous_writes.empty()) << name;
      for (const sim::TaskId w : r.previous_writes)
        EXPECT_TRUE(precedes(plan.graph, w, r.read))
            << name << ": " << plan.graph.tasks()[std::size_t(r.read)].name << " does not follow "
            << plan.graph.tasks()[std::size_t(w)].name;
    }
    // No load reads a gradient that no earlier micro-batch wrote.
    for (const sim::TaskId t : gradient_loads(plan))
      EXPECT_TRUE(reads.count(t)) << name << ": " << plan.graph.tasks()[std::size_t(t)].name;
  }
}

TEST(GradientAccumulation, OneMicroBatchReadsNoGradient) {
  const Policy policy = parse_policy("C");
  const Case s = make_setup("olmoe-1b-7b", 2, policy, hw::load_hw("mozart-nop-tree-ucie"), 1, 4);
  const StepPlan plan = plan_of(s, policy, &s.priors);
  EXPECT_TRUE(plan.gradient_reads.empty());
  EXPECT_TRUE(gradient_loads(plan).empty());
}

TEST(GradientAccumulation, PrecisionScalesGradientBytesAndMemoryNeed) {
  const Policy policy = parse_policy("A");
  hw::HwSpec hw = hw::load_hw("mozart-nop-tree-ucie");
  for (auto& kind : hw.kinds)  // room for every saved activation: nothing spills
    kind.sram.bytes *= 8;
  Case s = make_setup("olmoe-1b-7b", 2, policy, hw, 2, 1, 32);
  s.config.gradient_type = core::DataType::bf16;
  const StepPlan bf16 = plan_of(s, policy, &s.priors);
  const StepResult r16 = simulate(s, policy);
  s.config.gradient_type = core::DataType::fp32;
  const StepPlan fp32 = plan_of(s, policy, &s.priors);
  const StepResult r32 = simulate(s, policy);
  const auto grads = std::size_t(Traffic::gradients);
  EXPECT_NEAR(r32.memory_bytes[grads], 2 * r16.memory_bytes[grads], 1e-9 * r32.memory_bytes[grads]);
  ASSERT_EQ(fp32.spilled_bytes, 0);
  ASSERT_EQ(bf16.spilled_bytes, 0);
  for (std::size_t m = 0; m < fp32.memory_needed.size(); ++m)  // 2 more bytes per bf16 weight
    EXPECT_NEAR(fp32.memory_needed[m] - bf16.memory_needed[m], fp32.memory_weights[m],
                1e-9 * fp32.memory_needed[m]);
}

// Per (micro-batch, layer): the network flows each forward expert compute waits for directly.
std::map<std::string, std::vector<std::set<sim::TaskId>>> expert_arrivals(const StepPlan& plan) {
  std::map<std::string, std::vector<std::set<sim::TaskId>>> out;
  for (std::size_t t = 0; t < plan.info.size(); ++t) {
    const sim::Task& task = plan.graph.tasks()[t];
    const auto at = task.name.find(" expert");
    if (plan.info[t].activity != Activity::compute || at == std::string::npos ||
        task.name.find(" fwd") == std::string::npos)
      continue;
    // Network tasks it waits for, directly or through barriers (a phase's end stands for it).
    std::set<sim::TaskId> flows;
    std::vector<sim::TaskId> todo(task.deps.begin(), task.deps.end());
    std::set<sim::TaskId> seen;
    while (!todo.empty()) {
      const sim::TaskId d = todo.back();
      todo.pop_back();
      if (!seen.insert(d).second)
        continue;
      const Activity activity = plan.info[std::size_t(d)].activity;
      if (activity == Activity::network)
        flows.insert(d);
      else if (activity == Activity::barrier)
        todo.insert(todo.end(), plan.graph.tasks()[std::size_t(d)].deps.begin(),
                    plan.graph.tasks()[std::size_t(d)].deps.end());
    }
    out[std::string(task.name.substr(0, at))].push_back(flows);
  }
  return out;
}

TEST(AllToAll, IsASynchronousPhaseUnlessOverlapA2a) {
  for (const char* name : {"A", "B"}) {
    const Policy policy = parse_policy(name);
    const Case s = make_setup("olmoe-1b-7b", 2, policy);
    const StepPlan plan = plan_of(s, policy, &s.priors);
    const auto arrivals = expert_arrivals(plan);
    ASSERT_FALSE(arrivals.empty());
    for (const auto& [layer, sets] : arrivals)
      for (const auto& flows : sets) {
        EXPECT_FALSE(flows.empty()) << name << " " << layer;
        EXPECT_EQ(flows, sets.front()) << name << " " << layer << ": every expert waits for all";
      }
  }
  const Policy beyond = parse_policy("overlap+overlap-a2a");
  const Case s = make_setup("olmoe-1b-7b", 2, beyond);
  const auto arrivals = expert_arrivals(plan_of(s, beyond, &s.priors));
  bool per_receiver = false;
  for (const auto& [layer, sets] : arrivals)
    for (const auto& flows : sets)
      per_receiver = per_receiver || flows != sets.front();
  EXPECT_TRUE(per_receiver);
}

// The step's routing with every expert id shifted by one from token `from` on: other routing,
// the same shape.
trace::Trace rerouted(trace::Trace t, std::size_t from, int experts) {
  for (int l = 0; l < t.layers(); ++l)
    for (std::size_t tok = from; tok < t.tokens; ++tok) {
      const std::size_t at = t.offset(l, tok);
      for (int j = 0; j < t.top_k(); ++j)
        t.experts[at + std::size_t(j)] =
            trace::ExpertId((t.experts[at + std::size_t(j)] + 1) % experts);
    }
  return t;
}

// Intervals of a run's tasks of one activity, with the run's timings.
std::vector<std::pair<double, double>> spans(const StepPlan& plan, const sim::RunResult& run,
                                             Activity activity, const char* name_part = "") {
  std::vector<std::pair<double, double>> out;
  for (std::size_t t = 0; t < plan.info.size(); ++t)
    if (plan.info[t].activity == activity &&
        plan.graph.tasks()[t].name.find(name_part) != std::string::npos &&
        run.tasks[t].finish_s > run.tasks[t].start_s)
      out.emplace_back(run.tasks[t].start_s, run.tasks[t].finish_s);
  return out;
}

// How long some compute runs while some dispatch or combine flow does.
double compute_during_exchanges(const Case& s, const Policy& policy) {
  const StepPlan plan = plan_of(s, policy, &s.priors);
  const sim::RunResult run = sim::run(plan.graph, plan.platform.capacities);
  const auto computes = spans(plan, run, Activity::compute);
  double overlap = 0;
  for (const char* kind : {"dispatch", "combine"})
    for (const auto& [a, b] : spans(plan, run, Activity::network, kind))
      for (const auto& [c, d] : computes)
        overlap += std::max(0.0, std::min(b, d) - std::max(a, c));
  return overlap;
}

TEST(AllToAll, NoChipletComputesDuringADispatchOrCombineUnlessThePolicyAllows) {
  for (const char* name : {"baseline", "A", "B", "C"}) {
    const Policy policy = parse_policy(name);
    const Case s = make_setup("olmoe-1b-7b", 2, policy, hw::load_hw("mozart-paper-olmoe"), 3);
    EXPECT_EQ(compute_during_exchanges(s, policy), 0.0) << name;
  }
  // The relaxations beyond the paper do let other micro-batches compute meanwhile.
  for (const char* name :
       {"overlap+compute-during-a2a+in-network", "overlap+overlap-a2a+in-network"}) {
    const Policy policy = parse_policy(name);
    const Case s = make_setup("olmoe-1b-7b", 2, policy, hw::load_hw("mozart-paper-olmoe"), 3);
    EXPECT_GT(compute_during_exchanges(s, policy), 0.0) << name;
  }
}

TEST(Energy, LeakageIsStaticPowerTimesTheStepSoAFasterStepLeaksLess) {
  const hw::HwSpec hw = hw::load_hw("mozart-paper-olmoe");
  ASSERT_GT(hw::static_power_w(hw), 0);
  std::map<std::string, StepResult> r;
  for (const char* name : {"baseline", "C"}) {
    const Policy policy = parse_policy(name);
    r[name] = simulate(make_setup("olmoe-1b-7b", 2, policy, hw, 2), policy);
    EXPECT_NEAR(r[name].energy.static_j, hw::static_power_w(hw) * r[name].step_s, 1e-9) << name;
  }
  ASSERT_LT(r["C"].step_s, r["baseline"].step_s);
  EXPECT_LT(r["C"].energy.static_j, r["baseline"].energy.static_j);
  // Without a technology there is no leakage to count.
  const Policy c = parse_policy("C");
  EXPECT_EQ(simulate(make_setup("olmoe-1b-7b", 2, c), c).energy.static_j, 0.0);
}

TEST(Inputs, AChipletKindWithoutTheModelsDataTypeIsNamed) {
  const Policy policy = parse_policy("A");
  Case s = make_setup("olmoe-1b-7b", 1, policy);
  for (hw::ChipletKind& kind : s.hw.kinds)
    kind.peak_flops_per_s = {{core::DataType::fp32, 1e12}};
  try {
    simulate(s, policy);
    FAIL() << "no error";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(".peak_flops"), std::string::npos) << e.what();
  }
}

TEST(Sweep, ScaledCapacitiesOnOnePlanEqualTheScaledHardware) {
  const Policy policy = parse_policy("C");
  const Case s = make_setup("olmoe-1b-7b", 2, policy, hw::load_hw("mozart-paper-olmoe"), 2);
  const StepPlan plan = plan_of(s, policy, &s.priors);
  for (const auto& [links, memory] : {std::pair{0.25, 1.0}, {4.0, 1.0}, {1.0, 0.5}}) {
    Case scaled = s;
    scaled.hw = study::with_memory_scale(study::with_link_scale(s.hw, links), memory);
    // The measurement reads energies and leakage (more wires, more PHY) off the scaled spec.
    const net::Network network(scaled.hw);
    StepInputs inputs{s.model, network, s.placement, s.trace};
    inputs.priors = &s.priors;
    std::vector<double> capacities = plan.platform.capacities;
    for (std::size_t ch = 0; ch < capacities.size(); ++ch)
      capacities[ch] *= ch < std::size_t(plan.platform.first_memory) ? links
                        : ch < std::size_t(plan.platform.first_sram) ? memory
                                                                     : 1.0;
    const StepResult reused = measure_training_step(inputs, policy, s.config, plan, capacities);
    const StepResult rebuilt = simulate(scaled, policy);
    EXPECT_DOUBLE_EQ(reused.step_s, rebuilt.step_s) << links << " " << memory;
    EXPECT_DOUBLE_EQ(reused.lower_bound.bound_s, rebuilt.lower_bound.bound_s);
    EXPECT_DOUBLE_EQ(reused.energy.total_j(), rebuilt.energy.total_j());
  }
}

TEST(Sweep, AnotherMemoryKindOnOnePlanEqualsThatHardware) {
  // The study's SSD ablation runs the HBM plan on the SSD spec: the stacks' capacity and kind
  // decide nothing the builder does (weights may overflow), only what the measurement reports.
  const Policy policy = parse_policy("C");
  Case s = make_setup("olmoe-1b-7b", 2, policy, hw::load_hw("mozart-paper-olmoe"), 2);
  s.config.weights_may_overflow = true;
  const StepPlan plan = plan_of(s, policy, &s.priors);
  Case ssd = s;
  ssd.hw = study::with_memory(s.hw, hw::MemoryKind::ssd, 15.8e9, 4e12, 15e-12);
  const net::Network network(ssd.hw);
  StepInputs inputs{s.model, network, s.placement, s.trace};
  inputs.priors = &s.priors;
  const StepResult reused =
      measure_training_step(inputs, policy, s.config, plan, sim::make_platform(network).capacities);
  const StepResult rebuilt = simulate(ssd, policy);
  EXPECT_EQ(reused.step_s, rebuilt.step_s);
  EXPECT_EQ(reused.lower_bound.bound_s, rebuilt.lower_bound.bound_s);
  EXPECT_EQ(reused.energy.total_j(), rebuilt.energy.total_j());
  EXPECT_EQ(reused.memory_fits, rebuilt.memory_fits);
  EXPECT_TRUE(reused.memory_fits);
  EXPECT_EQ(reused.stacks.front().kind, "ssd");
}

TEST(Streaming, PrefetchesByThePriorsNotTheStepsOwnRouting) {
  const Policy policy = parse_policy("C");
  // Micro-batches of 4 tokens: only experts the priors make likely are prefetched.
  Case s = make_setup("olmoe-1b-7b", 2, policy, hw::load_hw("mozart-nop-tree-ucie"), 2, 1, 4);
  const StepPlan with_priors = plan_of(s, policy, &s.priors);
  std::size_t prefetched = 0;
  for (const auto& layer : with_priors.prefetch)
    prefetched += std::size_t(std::count(layer.begin(), layer.end(), true));
  ASSERT_GT(prefetched, 0u);
  ASSERT_LT(prefetched, with_priors.prefetch.size() * std::size_t(s.model.routed_experts));
  Case other = s;
  other.trace = rerouted(s.trace, 0, s.model.routed_experts);
  EXPECT_EQ(plan_of(other, policy, &s.priors).prefetch, with_priors.prefetch);
  // Without a priors trace: the trace's tokens before the step (the previous step).
  const std::size_t step_tokens = 8;
  s.trace = study::generated_trace(s.model, 4096 + step_tokens, 64, 1);
  s.config.first_token = 4096;
  other.trace = rerouted(s.trace, s.config.first_token, s.model.routed_experts);
  other.config.first_token = s.config.first_token;
  const StepPlan previous = plan_of(s, policy, nullptr);
  EXPECT_EQ(plan_of(other, policy, nullptr).prefetch, previous.prefetch);
  EXPECT_NE(previous.priors.find("previous step"), std::string::npos) << previous.priors;
  // With neither: uniform, the same for every expert.
  s.config.first_token = 0;
  const StepPlan uniform = plan_of(s, policy, nullptr);
  EXPECT_NE(uniform.priors.find("uniform"), std::string::npos);
  for (const auto& layer : uniform.prefetch)
    EXPECT_EQ(std::count(layer.begin(), layer.end(), layer.front()), std::ptrdiff_t(layer.size()));
}

// Tasks by name prefix: the optimizer's tasks are named "adam ...".
bool is_adam(const sim::Task& t) {
  return t.name.rfind("adam", 0) == 0;
}

TEST(Optimizer, EndOfStepWaitsForBackwardPerLayerDoesNot) {
  const Policy policy = parse_policy("C");
  for (const auto schedule : {OptimizerSchedule::end_of_step, OptimizerSchedule::per_layer}) {
    Case s = make_setup("olmoe-1b-7b", 3, policy);
    s.config.optimizer_schedule = schedule;
    const StepPlan plan = plan_of(s, policy, &s.priors);
    const sim::RunResult run = sim::run(plan.graph, plan.platform.capacities);
    double backward_end = 0, first_adam = 1e30;
    for (std::size_t t = 0; t < plan.info.size(); ++t) {
      const sim::Task& task = plan.graph.tasks()[t];
      if (is_adam(task))
        first_adam = std::min(first_adam, run.tasks[t].start_s);
      else if (task.kind != sim::TaskKind::delay && plan.info[t].activity != Activity::network)
        backward_end = std::max(backward_end, run.tasks[t].finish_s);
      EXPECT_EQ(plan.info[t].optimizer_phase,
                schedule == OptimizerSchedule::end_of_step && (is_adam(task)))
          << task.name;
    }
    ASSERT_LT(first_adam, 1e30);
    if (schedule == OptimizerSchedule::end_of_step)
      EXPECT_GE(first_adam, backward_end);
    else
      EXPECT_LT(first_adam, backward_end);
    // A layer's update reads its gradients only once every micro-batch has written them.
    for (std::size_t t = 0; t < plan.info.size(); ++t) {
      const sim::Task& adam = plan.graph.tasks()[t];
      if (!is_adam(adam) || !ends_with(adam.name, "load"))
        continue;
      const std::string layer(adam.name.substr(5, adam.name.find(' ', 5) - 5));  // "L<n>"
      const std::string kind =
          adam.name.find("experts") != std::string::npos ? "expert" : "attention";
      for (std::size_t w = 0; w < plan.info.size(); ++w) {
        const std::string_view name = plan.graph.tasks()[w].name;
        const bool writes_it = plan.info[w].chiplet == plan.info[t].chiplet &&
                               name.rfind("mb", 0) == 0 && ends_with(name, "write") &&
                               name.find(" " + layer + " ") != std::string::npos &&
                               name.find(kind) != std::string::npos;
        if (writes_it) {
          EXPECT_GE(run.tasks[t].start_s, run.tasks[w].finish_s) << adam.name << " / " << name;
        }
      }
    }
  }
}

TEST(Losses, ReSimulationLosesNothingNegativeAndNoStepBeatsItsBound) {
  StepOptions options;
  options.resimulate = true;
  for (const char* name : {"baseline", "A", "C"}) {
    for (const auto schedule : {OptimizerSchedule::end_of_step, OptimizerSchedule::per_layer}) {
      const Policy policy = parse_policy(name);
      Case s = make_setup("olmoe-1b-7b", 2, policy);
      s.config.optimizer_schedule = schedule;
      const StepResult r = simulate(s, policy, options);
      const LowerBound& lb = r.lower_bound;
      EXPECT_GE(r.step_s, lb.bound_s * (1 - 1e-9)) << name;
      EXPECT_DOUBLE_EQ(lb.bound_s, lb.before_optimizer_s + lb.optimizer_s);
      EXPECT_GE(lb.bound_s, std::max({lb.compute_s, lb.memory_s, lb.network_s}) * (1 - 1e-12));
      EXPECT_EQ(lb.optimizer_s > 0, schedule == OptimizerSchedule::end_of_step) << name;
      ASSERT_TRUE(r.lost.measured);
      for (const auto& [what, i] :
           {std::pair{"communication", &r.lost.communication}, std::pair{"memory", &r.lost.memory},
            std::pair{"compute", &r.lost.compute}}) {
        EXPECT_GE(i->lost_s, -1e-9 * r.step_s) << name << " " << what;
        EXPECT_NEAR(i->lost_s, r.step_s - i->step_s, 1e-12);
        EXPECT_GE(i->step_s, i->bound.bound_s * (1 - 1e-9))
            << name << " " << to_string(schedule) << " " << what;
      }
      EXPECT_GT(r.lost.memory.lost_s, 0) << name;
      EXPECT_GT(r.lost.compute.lost_s, 0) << name;
    }
  }
  const Policy policy = parse_policy("A");
  EXPECT_FALSE(simulate(make_setup("olmoe-1b-7b", 2, policy), policy).lost.measured);
}

}  // namespace
}  // namespace mozart::workload
