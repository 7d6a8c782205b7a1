// Parameter counts of a MoE model: total, and active for one token (its top-k routed experts
// plus everything dense), layer by layer for hybrid layouts.
#pragma once

#include <cstdint>

#include "mozart/model/spec.hpp"

namespace mozart::model {

// Per-layer building blocks, in parameters.
int64_t attention_params(const MoeModel& m);  // full attention: projections, biases, q/k norms
int64_t mixer_params(const MoeModel& m, Mixer mixer);
int64_t router_params(const MoeModel& m);
int64_t routed_expert_params(const MoeModel& m);  // one routed expert (SwiGLU: 3 matrices)
int64_t shared_expert_params(const MoeModel& m);  // all shared experts of one layer, with gate
int64_t dense_ffn_params(const MoeModel& m);
int64_t layer_norm_params(const MoeModel& m);  // the two RMSNorms around attention and FFN
// The norms of one layer: one before each of its mixer and FFN.
int64_t layer_norm_params(const MoeModel& m, int layer);
// Everything in one layer (all routed experts included).
int64_t layer_params(const MoeModel& m, int layer);

struct ParamCounts {
  int64_t embedding = 0;
  int64_t lm_head = 0;    // 0 when tied to the embedding
  int64_t attention = 0;  // full and sliding-window softmax attention (MLA included)
  int64_t linear_attention = 0;
  int64_t mamba = 0;
  int64_t routers = 0;
  int64_t routed_experts = 0;
  int64_t shared_experts = 0;
  int64_t dense_ffn = 0;
  int64_t norms = 0;  // per-layer norms plus the final norm
  int64_t total = 0;
  int64_t active = 0;  // per token: top_k routed experts per MoE layer, all the rest
  // The same without the input embedding (DeepSeek, OpenAI), and without the embedding and the
  // LM head (Z.ai): publishers count active parameters these ways too.
  int64_t active_without_embedding = 0;
  int64_t active_without_embeddings = 0;
  double checkpoint_bytes = 0;  // as published: quantised weights at their stored size
};

ParamCounts count_params(const MoeModel& m);

}  // namespace mozart::model
