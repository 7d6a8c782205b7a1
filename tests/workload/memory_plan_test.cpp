#include "mozart/workload/memory_plan.hpp"

#include "step_case.hpp"
#include <gtest/gtest.h>

#include "mozart/core/config.hpp"
#include "mozart/core/error.hpp"
#include "mozart/workload/training.hpp"

namespace mozart::workload {
namespace {

hw::HwSpec one_chiplet() {
  return hw::read_hw(core::ConfigNode::parse(R"(
name: one
clock: 1 GHz
chiplet_kinds:
  k: {peak_flops: {bf16: 1 TFLOP/s}, array: {rows: 8, cols: 8, count: 1}, sram: {capacity: 100 MB, bandwidth: 1 TB/s}}
chiplets: [{name: die, kind: k}]
memories: [{name: m, kind: hbm, capacity: 1 GB, bandwidth: 100 GB/s, attach: [die]}]
topology: {kind: explicit, link: {bandwidth: 1 GB/s}, links: []}
)",
                                             "one"));
}

constexpr double MB = 1e6;

ChipletDemand demand() {
  ChipletDemand d;
  d.working = 10 * MB;
  d.largest_hold = 20 * MB;
  d.weights = 100 * MB;
  d.saved.assign(2, std::vector<double>(3, 10 * MB));  // 2 micro-batches x 3 layers
  return d;
}

TEST(MemoryPlan, KeepsWhatBackwardNeedsFirstAndLeavesTheRestAWindow) {
  const hw::HwSpec hw = one_chiplet();
  const MemoryPlan plan = plan_memory(hw, {demand()}, 2.0, "m", 512);
  // Room for saved activations: 100 - 10 working - 2 x 20 for two works = 50 MB: layers 2 and
  // 1 of both micro-batches, then layer 0 of the first; the last one spills.
  EXPECT_DOUBLE_EQ(plan.sram_reserved[0], 60 * MB);
  EXPECT_DOUBLE_EQ(plan.sram_window[0], 40 * MB);
  const auto& spilled = plan.spilled[0];
  EXPECT_TRUE(spilled[1][0]);
  EXPECT_FALSE(spilled[0][0]);
  EXPECT_FALSE(spilled[0][2] || spilled[1][2] || spilled[0][1] || spilled[1][1]);
  EXPECT_DOUBLE_EQ(plan.stack_weights[0], 100 * MB);
  EXPECT_DOUBLE_EQ(plan.stack_needed[0], 2 * 100 * MB + 10 * MB);  // weights x 2 + the spill
}

TEST(MemoryPlan, RefusesWhatCannotFit) {
  const hw::HwSpec hw = one_chiplet();
  ChipletDemand big = demand();
  big.weights = 2e9;  // a 1 GB stack
  EXPECT_THROW(plan_memory(hw, {big}, 2.0, "m", 512), core::InputError);
  ChipletDemand crowded = demand();
  crowded.working = 100 * MB;  // nothing left for weights
  EXPECT_THROW(plan_memory(hw, {crowded}, 2.0, "m", 512), core::InputError);
}

TEST(MemoryPlan, OverflowingWeightsArePlannedWhenAllowedAndStillCounted) {
  const hw::HwSpec hw = one_chiplet();
  ChipletDemand big = demand();
  big.weights = 2e9;  // a 1 GB stack
  const MemoryPlan plan = plan_memory(hw, {big}, 2.0, "m", 512, true);
  EXPECT_DOUBLE_EQ(plan.stack_weights[0], 2e9);
  EXPECT_GT(plan.stack_needed[0], hw.memories[0].bytes);  // reported, not hidden
  // SRAM that cannot hold the working set is never allowed.
  ChipletDemand crowded = demand();
  crowded.working = 100 * MB;
  EXPECT_THROW(plan_memory(hw, {crowded}, 2.0, "m", 512, true), core::InputError);
}

// The refusal an InputError gives, or "" when `f` returns.
template <typename F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(MemoryPlan, TheEarlyBatchCheckRefusesWhatTheStepRefusesOnTheAttentionSide) {
  // The preset's attention chiplet holds 128 MiB: 3 x 2048 x 2 bytes of olmoe working
  // activations a token leave room for 170 sequences of 64 tokens, not 171.
  const Policy policy = parse_policy("C");
  for (const bool roomy_experts : {true, false}) {
    hw::HwSpec hw = hw::load_hw("mozart-nop-tree-ucie");
    if (roomy_experts)  // the routing's share of tokens then never matters
      for (hw::ChipletKind& kind : hw.kinds)
        if (kind.name != "attention")
          kind.sram.bytes = 1e12;
    Case s = make_setup("olmoe-1b-7b", 2, policy, hw, 1, 180, 64);
    const net::Network network(s.hw);
    int refused = 0;
    for (int sequences = 160; sequences <= 180; ++sequences) {
      s.config.micro_batch.sequences = sequences;
      const std::string early =
          refusal([&] { check_micro_batch(s.hw, s.model, s.config.micro_batch); });
      const std::string full = refusal([&] {
        build_training_step({s.model, network, s.placement, s.trace}, policy, s.config);
      });
      if (roomy_experts) {
        EXPECT_EQ(early, full) << sequences << " sequences";
      } else if (!early.empty()) {  // experts may fill first, as the routing has it; never later
        EXPECT_FALSE(full.empty()) << sequences << " sequences";
      }
      refused += early.empty() ? 0 : 1;
    }
    EXPECT_EQ(refused, 10);  // 171 to 180
  }
}

}  // namespace
}  // namespace mozart::workload
