// Where a training step's data lives. Per chiplet, SRAM holds the working activations of a
// micro-batch's layer, the saved activations that fit (those backward reaches first), and a
// window for streamed weights: what is left. Per memory stack: the weights resident on it and
// what the step needs there in all (weights, gradients, optimizer states, spilled activations).
#pragma once

#include <string>
#include <vector>

#include "mozart/hw/spec.hpp"
#include "mozart/model/cost.hpp"

namespace mozart::workload {

// What the step asks of one chiplet's memory.
struct ChipletDemand {
  double working = 0;       // activations that stay whole while a layer runs
  double largest_hold = 0;  // the largest single streamed work (weights and what comes with them)
  double weights = 0;       // weights resident in the chiplet's stacks
  std::vector<std::vector<double>> saved;  // [micro-batch][layer]: activations kept for backward
};

struct MemoryPlan {
  std::vector<double> sram_reserved;  // per chiplet: working and retained activations
  std::vector<double> sram_window;    // per chiplet: room for streamed weights
  std::vector<std::vector<std::vector<bool>>> spilled;  // [chiplet][micro-batch][layer]
  std::vector<double> stack_weights;                    // per stack
  std::vector<double> stack_needed;                     // per stack
};

// Saved activations stay in SRAM in backward order (last layer first, micro-batches in turn) as
// long as two of the chiplet's largest works still fit beside them; once one spills, every
// later one does. `resident_per_weight_byte` counts the bytes a stack holds per weight byte
// (weights, gradients and optimizer states). InputErrors: a chiplet whose SRAM cannot hold its
// working activations and any weights, a chiplet with weights but no stack, weights that
// overfill a stack ("the model does not fit").
// With `weights_may_overflow`, weights beyond a stack's capacity are planned as if it were large
// enough (the summary reports `memory_fits: false`) instead of an InputError: for hardware whose
// published capacity cannot hold the model, whose time is still worth simulating.
MemoryPlan plan_memory(const hw::HwSpec& hw, const std::vector<ChipletDemand>& demand,
                       double resident_per_weight_byte, const std::string& model,
                       std::size_t tokens_per_micro_batch, bool weights_may_overflow = false);

// The chiplets that run attention: those with the attention role, or every chiplet when none
// has it.
std::vector<int> attention_chiplets(const hw::HwSpec& hw);

// A micro-batch's sequences shared out among `chiplets` attention chiplets, the first ones
// taking one more when they do not divide evenly.
std::vector<model::Batch> attention_shares(const model::Batch& micro_batch, std::size_t chiplets);

// The activations that stay whole while attention runs over `share` on one chiplet.
double attention_working_bytes(const model::MoeModel& m, const model::Batch& share);

// The refusal `plan_memory` gives: an InputError when chiplet `c`, which streams works of up to
// `largest_hold` bytes, has no SRAM left beyond its `working` activations.
void check_working_fits(const hw::HwSpec& hw, std::size_t c, double working, double largest_hold,
                        std::size_t tokens_per_micro_batch);

// What `plan_memory` would refuse of a batch whatever the routing: each attention chiplet's
// working activations for its share of a micro-batch of `micro_batch`. The same InputError,
// checked before any trace is made or read (a large batch's traces take minutes).
void check_micro_batch(const hw::HwSpec& hw, const model::MoeModel& m,
                       const model::Batch& micro_batch);

}  // namespace mozart::workload
