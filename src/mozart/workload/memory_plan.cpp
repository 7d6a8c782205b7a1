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

// `b` in the units of the capacity a message is about, as the spec gives it.
std::string bytes(double b, double capacity) {
  return core::format_bytes(b, core::byte_units_of(capacity));
}

}  // namespace

std::vector<int> attention_chiplets(const hw::HwSpec& hw) {
  std::vector<int> chiplets = hw.chiplets_with_role(hw::Role::attention);
  if (chiplets.empty())
    for (std::size_t c = 0; c < hw.chiplets.size(); ++c)
      chiplets.push_back(static_cast<int>(c));
  return chiplets;
}

std::vector<model::Batch> attention_shares(const model::Batch& micro_batch, std::size_t chiplets) {
  const auto n = static_cast<int>(chiplets);
  std::vector<model::Batch> shares;
  for (int a = 0; a < n; ++a) {
    model::Batch share = micro_batch;
    share.sequences = micro_batch.sequences / n + (a < micro_batch.sequences % n ? 1 : 0);
    shares.push_back(share);
  }
  return shares;
}

double attention_working_bytes(const model::MoeModel& m, const model::Batch& share) {
  return 3 * share.tokens() * m.hidden * core::bytes_per_element(m.dtype);
}

void check_working_fits(const hw::HwSpec& hw, std::size_t c, double working, double largest_hold,
                        std::size_t tokens_per_micro_batch) {
  const hw::ChipletKind& kind = hw.kinds[static_cast<std::size_t>(hw.chiplets[c].kind)];
  if (largest_hold > 0 && kind.sram.bytes - working <= 0)
    throw core::InputError(
        {hw.name, fmt::format("chiplet_kinds.{}.sram.capacity", kind.name), 0},
        bytes(kind.sram.bytes, kind.sram.bytes),
        fmt::format("room beyond the {} of working activations chiplet '{}' needs for a "
                    "micro-batch of {} tokens (use smaller micro-batches)",
                    bytes(working, kind.sram.bytes), hw.chiplets[c].name, tokens_per_micro_batch));
}

void check_micro_batch(const hw::HwSpec& hw, const model::MoeModel& m,
                       const model::Batch& micro_batch) {
  const std::vector<int> chiplets = attention_chiplets(hw);
  const std::vector<model::Batch> shares = attention_shares(micro_batch, chiplets.size());
  const auto tokens = static_cast<std::size_t>(micro_batch.tokens());
  for (std::size_t a = 0; a < chiplets.size(); ++a) {
    if (shares[a].sequences == 0)
      continue;
    // The step's largest hold there is past zero exactly when some layer's attention has
    // weights; only that it is past zero decides the refusal.
    double weights = 0;
    for (int l = 0; l < m.layers && weights <= 0; ++l)
      for (const model::OpCost& op : model::layer_forward_ops(m, l, shares[a]))
        if (op.expert < 0)
          weights += op.weight_bytes;
    check_working_fits(hw, static_cast<std::size_t>(chiplets[a]),
                       attention_working_bytes(m, shares[a]), weights, tokens);
  }
}

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
    // Retained activations leave two largest works of room, so the window is empty only when
    // the working activations fill SRAM.
    check_working_fits(hw, c, d.working, d.largest_hold, tokens_per_micro_batch);
    plan.sram_reserved[c] =
        d.working + retain(d, sram - d.working - 2 * d.largest_hold, plan.spilled[c]);
    plan.sram_window[c] = sram - plan.sram_reserved[c];
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
                             bytes(stack.bytes, stack.bytes),
                             fmt::format("room for the {} of {} weights placed on it: the model "
                                         "does not fit",
                                         bytes(plan.stack_weights[s], stack.bytes), model));
  }
  return plan;
}

}  // namespace mozart::workload
