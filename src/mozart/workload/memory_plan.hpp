// Where a training step's data lives. Per chiplet, SRAM holds the working activations of a
// micro-batch's layer, the saved activations that fit (those backward reaches first), and a
// window for streamed weights: what is left. Per memory stack: the weights resident on it and
// what the step needs there in all (weights, gradients, optimizer states, spilled activations).
#pragma once

#include <string>
#include <vector>

#include "mozart/hw/spec.hpp"

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

}  // namespace mozart::workload
