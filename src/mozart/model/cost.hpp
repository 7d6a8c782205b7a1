// Analytic cost model: FLOPs and bytes moved by each op of a MoE layer, for the forward pass,
// both halves of the backward pass (input gradients, weight gradients) and the optimizer
// update.
//
// Conventions (the tests hold them):
//  * A GEMM (m x k) * (k x n) costs 2mkn FLOPs in each of forward, backward-input and
//    backward-weight. Forward reads the weights (kn) and input (mk) and writes the output (mn);
//    backward-input reads the weights and output gradient and writes the input gradient;
//    backward-weight reads the saved input and output gradient and writes the weight gradient.
//  * Attention's core (QK^T, softmax, PV) is fused: scores never leave the chip. A causal
//    sequence of length S has S(S+1)/2 query-key pairs (a sliding window of W caps each query
//    at W keys); softmax costs 5 FLOPs per pair.
//  * Linear attention and Mamba run in recurrent form: a per-sequence state stays on chip; the
//    core's FLOPs are per token and state element (Gated DeltaNet 7, lightning 5, Mamba-1 7,
//    Mamba-2 5), its short causal convolution 2 per tap and channel.
//  * Element-wise ops: RMSNorm 4 FLOPs per element, SiLU-and-multiply 5, softmax 5, the
//    weighted combine of k expert outputs 2 per element. Their backward costs twice the forward
//    FLOPs, reads the saved input and the output gradient and writes the input gradient; ops
//    with weights (norms) add 2 FLOPs per element for the weight gradient.
//  * Adam: 12 FLOPs per parameter; reads the gradient and the fp32 master weight, m and v
//    (12 bytes), writes the three states back and the working-precision weight.
//  * Biases, residual additions and rotary embeddings are left out: each is under 0.1% of a
//    layer's FLOPs at the sizes in the zoo.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "mozart/model/spec.hpp"

namespace mozart::model {

enum class Pass { forward, backward_input, backward_weight, optimizer };
enum class OpKind { gemm, attention_core, elementwise, gather, optimizer };

std::string_view to_string(Pass pass);
std::string_view to_string(OpKind kind);

struct Gemm {
  double m = 0;  // rows: tokens (fractional when a load is an average)
  int64_t k = 0;
  int64_t n = 0;
};

struct OpCost {
  std::string name;  // "attn.qkv", "expert.down", "optimizer.attention" ...
  OpKind kind = OpKind::elementwise;
  Pass pass = Pass::forward;
  int expert = -1;  // the routed expert of a per-expert op, else -1
  double flops = 0;
  double weight_bytes = 0;  // weights (or optimizer states) read, weight gradients written
  double input_bytes = 0;   // activations or activation gradients read
  double output_bytes = 0;  // activations or activation gradients written
  double elements = 0;      // element-wise ops: elements processed
  double element_bytes = 2;
  std::optional<Gemm> gemm;

  double bytes() const { return weight_bytes + input_bytes + output_bytes; }
};

// A micro-batch of whole sequences.
struct Batch {
  int sequences = 1;
  int seq_len = 1;
  bool causal = true;

  double tokens() const { return double(sequences) * seq_len; }
  // Query-key pairs scored by one head over the whole micro-batch, unbounded or within a window.
  double attention_pairs() const;
  double attention_pairs(int window) const;
};

struct OptimizerSpec {
  double flops_per_param = 12;
  double state_bytes_per_param = 12;  // fp32 master weight, first and second moments
};

// Forward ops of one layer, by its mixer and FFN kind. `expert_tokens[e]` is how many of the
// batch's tokens chose routed expert e (summing to tokens * top_k); empty means the uniform average
// tokens * top_k / E.
std::vector<OpCost> layer_forward_ops(const MoeModel& m, int layer, const Batch& batch,
                                      std::span<const double> expert_tokens = {});
// What one sequence holds between decode steps in layer `layer` after `context` tokens: the KV
// cache of (sliding-window) attention, the recurrent state and convolution tail of linear
// attention and Mamba; 0 for a layer without a mixer.
double layer_state_bytes(const MoeModel& m, int layer, int context);
// Forward ops of routed expert `expert` alone, for `tokens` tokens: what one chiplet runs for it.
std::vector<OpCost> expert_forward_ops(const MoeModel& m, double tokens, int expert);
// Forward ops outside the layers: embedding lookup, final norm, LM head, loss.
std::vector<OpCost> io_forward_ops(const MoeModel& m, const Batch& batch);

// The backward ops of `pass` (backward_input or backward_weight) for forward ops.
std::vector<OpCost> backward_ops(std::span<const OpCost> forward, Pass pass);

// Optimizer updates of one layer's parameters, one op per routed expert so that each can be
// placed with its expert; and of the embedding, LM head and final norm.
std::vector<OpCost> layer_optimizer_ops(const MoeModel& m, int layer, const OptimizerSpec& opt);
std::vector<OpCost> io_optimizer_ops(const MoeModel& m, const OptimizerSpec& opt);

struct CostTotals {
  double flops = 0;
  double gemm_flops = 0;
  double weight_bytes = 0;
  double activation_bytes = 0;  // input + output

  double bytes() const { return weight_bytes + activation_bytes; }
  CostTotals& operator+=(const CostTotals& other);
};

CostTotals sum(std::span<const OpCost> ops);

// One training step over `micro_batches` micro-batches under uniform routing.
struct StepCost {
  double tokens = 0;
  CostTotals forward;
  CostTotals backward_input;
  CostTotals backward_weight;
  CostTotals optimizer;

  CostTotals total() const;
};

StepCost training_step_cost(const MoeModel& m, const Batch& micro_batch, int micro_batches,
                            const OptimizerSpec& opt = {});

}  // namespace mozart::model
