#include <algorithm>
#include <cmath>

#include "step_case.hpp"
#include <gtest/gtest.h>

#include "mozart/core/config.hpp"
#include "mozart/core/error.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/model/params.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/net/network.hpp"
#include "mozart/sim/engine.hpp"
#include "mozart/study/setup.hpp"
#include "mozart/workload/step_result.hpp"

namespace mozart::workload {
namespace {

const std::vector<std::string> kPolicies = {"baseline", "A", "B", "C"};

TEST(Policies, NamedPoliciesComposeTheirOptions) {
  const Policy c = parse_policy("C");
  EXPECT_TRUE(c.overlap && c.streaming);
  // The paper's all-to-all is a synchronous phase in every named policy.
  for (const char* name : {"baseline", "A", "B", "C"})
    EXPECT_FALSE(parse_policy(name).overlap_a2a) << name;
  EXPECT_TRUE(parse_policy("A").overlap);
  const Policy beyond = parse_policy("overlap+overlap-a2a+in-network");
  EXPECT_TRUE(beyond.overlap && beyond.overlap_a2a);
  EXPECT_TRUE(parse_policy(describe(beyond)).overlap_a2a);
  EXPECT_FALSE(parse_policy("overlap").overlap_a2a);
  EXPECT_EQ(c.all_to_all, net::AllToAllMode::in_network);
  EXPECT_EQ(c.placer, "mozart");
  const Policy mix = parse_policy("overlap+per-chiplet+placer=balanced");
  EXPECT_TRUE(mix.overlap);
  EXPECT_FALSE(mix.streaming);
  EXPECT_EQ(mix.all_to_all, net::AllToAllMode::copy_per_chiplet);
  EXPECT_EQ(mix.placer, "balanced");
  EXPECT_EQ(parse_policy(describe(mix)).placer, "balanced");
  EXPECT_THROW(parse_policy("overlap+teleport"), core::InputError);
  EXPECT_THROW(parse_policy(""), core::InputError);
}

TEST(TrainingStep, TokensAndBytesAreConserved) {
  for (const std::string& name : kPolicies) {
    const Policy policy = parse_policy(name);
    const Case s = make_setup("olmoe-1b-7b", 2, policy);
    const net::Network network(s.hw);
    const StepPlan plan =
        build_training_step({s.model, network, s.placement, s.trace}, policy, s.config);
    // Every token chooses top-k experts at every MoE layer of every micro-batch.
    EXPECT_DOUBLE_EQ(plan.routed_slots, plan.tokens * s.model.top_k * s.model.moe_layer_count());
    const sim::RunResult run = sim::run(plan.graph, plan.platform.capacities);
    // The memory stacks carry exactly the bytes the step's transfers asked for.
    double asked = 0, carried = 0;
    for (const TaskInfo& info : plan.info)
      for (const double b : info.bytes)
        asked += b;
    for (std::size_t m = 0; m < s.hw.memories.size(); ++m)
      carried += run.channels[static_cast<std::size_t>(plan.platform.memory_channel(int(m)))].bytes;
    EXPECT_NEAR(carried, asked, 1e-6 * asked) << name;
    // Expert gradients: one write per (micro-batch, layer, expert with tokens), a read before
    // each write but an expert's first, and one read by Adam per expert with a gradient.
    double accesses = 0;
    for (int l = 0; l < s.trace.layers(); ++l) {
      std::vector<int> used(static_cast<std::size_t>(s.model.routed_experts), 0);
      for (int mb = 0; mb < s.config.micro_batches; ++mb) {
        std::vector<bool> in_mb(used.size(), false);
        const std::size_t first = std::size_t(mb) * std::size_t(s.config.micro_batch.tokens());
        for (std::size_t t = first; t < first + std::size_t(s.config.micro_batch.tokens()); ++t)
          for (const auto e : s.trace.choices(l, t))
            in_mb[e] = true;
        for (std::size_t e = 0; e < used.size(); ++e)
          used[e] += in_mb[e] ? 1 : 0;
      }
      for (const int n : used)
        accesses += n == 0 ? 0 : 2.0 * n;  // n writes, n - 1 reads, Adam's read
    }
    const double expert_gradient = double(model::routed_expert_params(s.model)) * 4;  // fp32
    const StepResult r = simulate(s, policy);
    const double attention_grads =
        r.memory_bytes[std::size_t(Traffic::gradients)] - expert_gradient * accesses;
    EXPECT_GT(attention_grads, 0) << name;  // the rest: attention and LM-head gradients
  }
}

// The paper's hardware: every expert group's HBM behind its switch.
TEST(TrainingStep, OnThePaperPresetsWeightsCrossTheSwitchLinksAndBytesAreConserved) {
  for (const auto& [model, preset] : {std::pair{"qwen3-30b-a3b", "mozart-paper-qwen3"},
                                      {"olmoe-1b-7b", "mozart-paper-olmoe"},
                                      {"deepseek-moe-16b", "mozart-paper-deepseek"}}) {
    for (const std::string& name : kPolicies) {
      const Policy policy = parse_policy(name);
      const Case s = make_setup(model, 2, policy, hw::load_hw(preset));
      const net::Network network(s.hw);
      StepInputs inputs{s.model, network, s.placement, s.trace};
      inputs.priors = &s.priors;
      const StepPlan plan = build_training_step(inputs, policy, s.config);
      EXPECT_DOUBLE_EQ(plan.routed_slots, plan.tokens * s.model.top_k * s.model.moe_layer_count());
      const sim::RunResult run = sim::run(plan.graph, plan.platform.capacities);
      double asked = 0, carried = 0;
      std::vector<double> loaded(s.hw.chiplets.size(), 0);  // bytes read into each chiplet
      for (std::size_t t = 0; t < plan.info.size(); ++t) {
        const TaskInfo& info = plan.info[t];
        asked += total_bytes(info.bytes);
        if (info.activity == Activity::memory &&
            plan.graph.tasks()[t].name.find(" load") != std::string::npos)
          loaded[std::size_t(info.chiplet)] += total_bytes(info.bytes);
      }
      for (std::size_t m = 0; m < s.hw.memories.size(); ++m)
        carried += run.channels[std::size_t(plan.platform.memory_channel(int(m)))].bytes;
      EXPECT_NEAR(carried, asked, 1e-6 * asked) << preset << " " << name;
      // Each expert chiplet's loads cross its switch's link to it, beside the tokens. A chiplet
      // whose experts this short trace never routes to loads nothing; each stack loads some.
      for (const hw::MemoryStack& m : s.hw.memories) {
        if (!m.networked())
          continue;
        double stack_loaded = 0;
        for (const int c : m.chiplets)
          stack_loaded += loaded[std::size_t(c)];
        EXPECT_GT(stack_loaded, 0) << preset << " " << name;
        for (const int c : m.chiplets) {
          const auto link = network.channel_between(m.node, c);
          ASSERT_GE(link, 0);
          EXPECT_GE(run.channels[std::size_t(link)].bytes, loaded[std::size_t(c)] * (1 - 1e-9))
              << preset << " " << name << " " << s.hw.chiplets[std::size_t(c)].name;
        }
      }
      const StepResult r = simulate(s, policy);
      EXPECT_GE(r.step_s, r.lower_bound.bound_s * (1 - 1e-9)) << preset << " " << name;
    }
  }
}

TEST(TrainingStep, NoStepBeatsItsLowerBoundOrOverfillsSram) {
  for (const char* model : {"olmoe-1b-7b", "deepseek-moe-16b"}) {
    for (const std::string& name : kPolicies) {
      const Policy policy = parse_policy(name);
      const StepResult r = simulate(make_setup(model, 3, policy), policy);
      EXPECT_GE(r.step_s, r.lower_bound.bound_s * (1 - 1e-9)) << model << " " << name;
      EXPECT_GT(r.lower_bound.bound_s, 0);
      for (const ChipletUse& c : r.chiplets)
        EXPECT_LE(c.sram_peak, c.sram_capacity * (1 + 1e-9)) << model << " " << name << c.name;
      EXPECT_GE(r.breakdown.overlap_ratio, 0);
      EXPECT_LE(r.breakdown.overlap_ratio, 1);
      EXPECT_LE(r.breakdown.memory_without_compute_s, r.breakdown.memory_s + 1e-12);
      EXPECT_LE(r.s_mfu, 1);
      EXPECT_LE(r.s_mbu, 1);
    }
  }
}

TEST(TrainingStep, BaselineNeverOverlapsMemoryWithComputeOnAChiplet) {
  const Policy policy = parse_policy("baseline");
  const Case s = make_setup("olmoe-1b-7b", 2, policy);
  const net::Network network(s.hw);
  const StepPlan plan =
      build_training_step({s.model, network, s.placement, s.trace}, policy, s.config);
  const sim::RunResult run = sim::run(plan.graph, plan.platform.capacities);
  std::vector<std::vector<std::pair<double, double>>> compute(s.hw.chiplets.size()),
      memory(s.hw.chiplets.size());
  for (std::size_t t = 0; t < plan.info.size(); ++t) {
    const TaskInfo& info = plan.info[t];
    if (info.chiplet < 0)
      continue;
    auto& list = info.activity == Activity::compute ? compute : memory;
    if (run.tasks[t].finish_s > run.tasks[t].start_s)
      list[static_cast<std::size_t>(info.chiplet)].emplace_back(run.tasks[t].start_s,
                                                                run.tasks[t].finish_s);
  }
  for (std::size_t c = 0; c < compute.size(); ++c)
    for (const auto& [a, b] : compute[c])
      for (const auto& [x, y] : memory[c])
        ASSERT_LE(std::min(b, y) - std::max(a, x), 1e-12) << s.hw.chiplets[c].name;
}

TEST(TrainingStep, MoreBandwidthOrComputeNeverSlowsAStep) {
  for (const std::string& name : kPolicies) {
    const Policy policy = parse_policy(name);
    const Case base = make_setup("olmoe-1b-7b", 2, policy);
    const double t0 = simulate(base, policy).step_s;
    hw::HwSpec faster_memory = base.hw;
    for (auto& m : faster_memory.memories)
      m.bytes_per_s *= 2;
    hw::HwSpec faster_links = study::with_link_scale(base.hw, 2);
    hw::HwSpec faster_compute = base.hw;
    for (auto& k : faster_compute.kinds)
      for (auto& [type, peak] : k.peak_flops_per_s)
        peak *= 2;
    for (const hw::HwSpec& hw : {faster_memory, faster_links, faster_compute}) {
      Case s = base;
      s.hw = hw;
      EXPECT_LE(simulate(s, policy).step_s, t0 * (1 + 1e-9)) << name;
    }
  }
}

// Not "C is never slower than the baseline": with priors that are not the step's routing,
// streaming may prefetch experts no token of a micro-batch chooses (docs/training.md).
TEST(TrainingStep, EveryZooModelRunsWithinItsBound) {
  for (const std::string& name : model::preset_names()) {
    const model::MoeModel full = model::load_model(name);
    const int layers = std::min(full.layers, full.first_moe_layer() + 2);
    for (const char* policy_name : {"baseline", "C"}) {
      const Policy policy = parse_policy(policy_name);
      const Case s =
          make_setup(name, layers, policy, hw::load_hw("mozart-nop-tree-ucie"), 2, 1, 64);
      const StepResult r = simulate(s, policy);
      EXPECT_GE(r.step_s, r.lower_bound.bound_s * (1 - 1e-9)) << name << " " << policy_name;
      EXPECT_LE(r.copies_per_token, s.model.top_k) << name << " " << policy_name;
    }
  }
}

// One chiplet that runs attention and experts alike, with SRAM large enough that nothing
// spills: without overlap every task waits for the one before, so the step is the sum of what
// each task takes alone (its compute, or its bytes over its tightest channel).
TEST(TrainingStep, WithoutOverlapAChainTakesTheSumOfItsTasks) {
  const std::string yaml = R"(
name: single
clock: 1 GHz
chiplet_kinds:
  k:
    peak_flops: {bf16: 10 TFLOP/s}
    array: {rows: 32, cols: 32, count: 4}
    sram: {capacity: 4 GiB, bandwidth: 1 TB/s}
chiplets:
  - {name: die, kind: k}
memories:
  - {name: m0, kind: hbm, capacity: 64 GiB, bandwidth: 100 GB/s, attach: [die]}
  - {name: m1, kind: hbm, capacity: 64 GiB, bandwidth: 50 GB/s, attach: [die]}
topology:
  kind: explicit
  link: {bandwidth: 20 GB/s, latency: 1 us}
  links: []
)";
  hw::HwSpec hw = hw::read_hw(core::ConfigNode::parse(yaml, "single"));
  const Policy policy = parse_policy("baseline");
  Case s = make_setup("olmoe-1b-7b", 2, policy, hw, 1, 2, 32);
  s.config.optimizer = false;
  const net::Network network(s.hw);
  const StepPlan plan =
      build_training_step({s.model, network, s.placement, s.trace}, policy, s.config);
  EXPECT_EQ(plan.spilled_bytes, 0);
  ASSERT_GT(plan.graph.tasks().size(), 50u);
  double alone = 0, computing = 0, moving = 0;
  for (const sim::Task& t : plan.graph.tasks()) {
    if (t.kind != sim::TaskKind::flow) {
      alone += t.duration_s;
      computing += t.kind == sim::TaskKind::compute ? t.duration_s : 0;
      continue;
    }
    double slowest = 0;  // seconds per byte on its tightest channel
    for (const net::ChannelUse& u : t.flow.uses)
      slowest = std::max(slowest, u.coefficient / plan.platform.capacities[std::size_t(u.channel)]);
    alone += t.flow.latency_s + t.flow.bytes * slowest;
    moving += t.flow.bytes * slowest;
  }
  const sim::RunResult run = sim::run(plan.graph, plan.platform.capacities);
  EXPECT_NEAR(run.makespan_s, alone, 1e-9 * alone);
  // In a chain, what the step loses to a resource is all the time it spends on it.
  StepOptions options;
  options.resimulate = true;
  const StepResult r =
      simulate_training_step({s.model, network, s.placement, s.trace}, policy, s.config, options);
  EXPECT_NEAR(r.lost.compute.lost_s, computing, 1e-9 * alone);
  EXPECT_NEAR(r.lost.memory.lost_s, moving, 1e-5 * alone);  // memory a million times faster
  EXPECT_NEAR(r.lost.communication.lost_s, 0, 1e-12);
}

TEST(TrainingStep, SameInputsGiveTheSameSummary) {
  const Policy policy = parse_policy("C");
  const Case s = make_setup("olmoe-1b-7b", 2, policy);
  EXPECT_EQ(to_json(simulate(s, policy)).dump(), to_json(simulate(s, policy)).dump());
}

// Steps that share an ExchangePlans give what each gives alone: a plan goes only to a step of
// the same routing and mode (A takes baseline's, the second baseline and B take their first
// runs'), and a step that takes other tokens (another micro-batch shape or first token) makes
// its own.
TEST(TrainingStep, SharedExchangePlansChangeNothing) {
  const Case s = make_setup("olmoe-1b-7b", 2, parse_policy("baseline"));
  const net::Network network(s.hw);
  StepConfig first = s.config;  // one sequence per micro-batch, from the first or the second
  first.micro_batch.sequences = 1;
  StepConfig second = first;
  second.first_token = std::size_t(first.micro_batch.seq_len);
  ExchangePlans plans;
  for (const StepConfig& config : {s.config, first, second})
    for (const char* name : {"baseline", "A", "B", "baseline", "B"}) {
      const Policy policy = parse_policy(name);
      StepInputs inputs{s.model, network, s.placement, s.trace};
      inputs.priors = &s.priors;
      const std::string alone = to_json(simulate_training_step(inputs, policy, config)).dump();
      inputs.exchange_plans = &plans;
      EXPECT_EQ(to_json(simulate_training_step(inputs, policy, config)).dump(), alone) << name;
    }
}

TEST(TrainingStep, CopiesPerTokenFollowTheAllToAll) {
  const Case s = make_setup("olmoe-1b-7b", 2, parse_policy("baseline"));
  EXPECT_DOUBLE_EQ(simulate(s, parse_policy("baseline")).copies_per_token, s.model.top_k);
  const double distinct = simulate(s, parse_policy("B")).copies_per_token;
  EXPECT_LT(distinct, s.model.top_k);
  EXPECT_GE(distinct, 1);
}

TEST(TrainingStepErrors, RefusesWhatItCannotSimulate) {
  const Policy policy = parse_policy("A");
  const Case s = make_setup("olmoe-1b-7b", 2, policy);
  const net::Network network(s.hw);
  // A placement of another model.
  Case other = make_setup("deepseek-moe-16b", 2, policy);
  EXPECT_THROW(build_training_step({s.model, network, other.placement, s.trace}, policy, s.config),
               core::InputError);
  // A batch longer than the trace.
  StepConfig long_batch = s.config;
  long_batch.micro_batches = 64;
  EXPECT_THROW(build_training_step({s.model, network, s.placement, s.trace}, policy, long_batch),
               core::InputError);
  // Multicast where the hardware has no switches.
  const Case mesh = make_setup("olmoe-1b-7b", 2, policy, hw::load_hw("mozart-mesh"));
  const net::Network mesh_network(mesh.hw);
  EXPECT_THROW(build_training_step({mesh.model, mesh_network, mesh.placement, mesh.trace},
                                   parse_policy("B"), mesh.config),
               core::InputError);
  // A model whose weights do not fit the memory stacks at all.
  const model::MoeModel big = model::load_model("mixtral-8x22b");
  const auto big_trace = study::generated_trace(big, 256, 64, 1);
  const auto big_placement = study::place_experts(big, s.hw, big_trace, "contiguous");
  EXPECT_THROW(build_training_step({big, network, big_placement, big_trace}, policy, s.config),
               core::InputError);
}

}  // namespace
}  // namespace mozart::workload
