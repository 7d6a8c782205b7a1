#include "mozart/workload/memory_plan.hpp"

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/units.hpp"
#include "mozart/sim/platform.hpp"

namespace mozart::workload {
namespace {

// Marks what spills and returns the bytes that stay.
double retain(const ChipletDemand& d, double room, std::vector<std::vector<bool>>& spilled) {
  const std::size_t mbs = d.saved.size();
  const std::size_t layers = mbs == 0 ? 0 : d.saved[0].size();
  spilled.assign(mbs, std::vector<bool>(layers, false));
  double kept = 0;
  bool spilling = false;
  for (std::size_t l = layers; l-- > 0;) {
    for (std::size_t mb = 0; mb < mbs; ++mb) {
      const double s = d.saved[mb][l];
      if (s <= 0)
        continue;
      if (!spilling && kept + s <= room) {
        kept += s;
      } else {
        spilling = true;
        spilled[mb][l] = true;
      }
    }
  }
  return kept;
}

double spilled_bytes(const ChipletDemand& d, const std::vector<std::vector<bool>>& spilled) {
  double sum = 0;
  for (std::size_t mb = 0; mb < d.saved.size(); ++mb)
    for (std::size_t l = 0; l < d.saved[mb].size(); ++l)
      if (spilled[mb][l])
        sum += d.saved[mb][l];
  return sum;
}

std::string bytes(double b) {
  return core::format_quantity(b, core::Dimension::bytes);
}

}  // namespace

MemoryPlan plan_memory(const hw::HwSpec& hw, const std::vector<ChipletDemand>& demand,
                       double resident_per_weight_byte, const std::string& model,
                       std::size_t tokens_per_micro_batch, bool weights_may_overflow) {
  const std::size_t n = hw.chiplets.size();
  MemoryPlan plan;
  plan.sram_reserved.assign(n, 0);
  plan.sram_window.assign(n, 0);
  plan.spilled.resize(n);
  plan.stack_weights.assign(hw.memories.size(), 0);
  plan.stack_needed.assign(hw.memories.size(), 0);
  for (std::size_t c = 0; c < n; ++c) {
    const ChipletDemand& d = demand[c];
    const hw::ChipletKind& kind = hw.kinds[static_cast<std::size_t>(hw.chiplets[c].kind)];
    const double sram = kind.sram.bytes;
    plan.sram_reserved[c] =
        d.working + retain(d, sram - d.working - 2 * d.largest_hold, plan.spilled[c]);
    plan.sram_window[c] = sram - plan.sram_reserved[c];
    if (d.largest_hold > 0 && plan.sram_window[c] <= 0)
      throw core::InputError(
          {hw.name, fmt::format("chiplet_kinds.{}.sram.capacity", kind.name), 0}, bytes(sram),
          fmt::format("room beyond the {} of working activations chiplet '{}' needs for a "
                      "micro-batch of {} tokens (use smaller micro-batches)",
                      bytes(d.working), hw.chiplets[c].name, tokens_per_micro_batch));
    if (d.weights <= 0)
      continue;
    const std::vector<int> stacks = sim::stacks_of(hw, static_cast<int>(c));
    if (stacks.empty())
      throw core::InputError(hw.name,
                             fmt::format("chiplet '{}' holds weights but is attached to no "
                                         "memory stack",
                                         hw.chiplets[c].name));
    // Striped evenly; every micro-batch's forward ends before backward begins, so all spills
    // are held at once.
    const double share = 1.0 / double(stacks.size());
    const double needed = d.weights * resident_per_weight_byte + spilled_bytes(d, plan.spilled[c]);
    for (const int s : stacks) {
      plan.stack_weights[static_cast<std::size_t>(s)] += d.weights * share;
      plan.stack_needed[static_cast<std::size_t>(s)] += needed * share;
    }
  }
  for (std::size_t s = 0; s < hw.memories.size(); ++s) {
    const hw::MemoryStack& stack = hw.memories[s];
    if (plan.stack_weights[s] > stack.bytes && !weights_may_overflow)
      throw core::InputError({hw.name, fmt::format("memories.{}.capacity", stack.name), 0},
                             bytes(stack.bytes),
                             fmt::format("room for the {} of {} weights placed on it: the model "
                                         "does not fit",
                                         bytes(plan.stack_weights[s]), model));
  }
  return plan;
}

}  // namespace mozart::workload
