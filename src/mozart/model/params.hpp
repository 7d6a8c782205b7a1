// Parameter counts of a MoE model: total, and active for one token (its top-k routed experts
// plus everything dense).
#pragma once

#include <cstdint>

#include "mozart/model/spec.hpp"

namespace mozart::model {

// Per-layer building blocks, in parameters.
int64_t attention_params(const MoeModel& m);  // projections, biases and q/k norms
int64_t router_params(const MoeModel& m);
int64_t routed_expert_params(const MoeModel& m);  // one routed expert (SwiGLU: 3 matrices)
int64_t shared_expert_params(const MoeModel& m);  // all shared experts of one layer, with gate
int64_t dense_ffn_params(const MoeModel& m);
int64_t layer_norm_params(const MoeModel& m);  // the two RMSNorms around attention and FFN

struct ParamCounts {
  int64_t embedding = 0;
  int64_t lm_head = 0;  // 0 when tied to the embedding
  int64_t attention = 0;
  int64_t routers = 0;
  int64_t routed_experts = 0;
  int64_t shared_experts = 0;
  int64_t dense_ffn = 0;
  int64_t norms = 0;  // per-layer norms plus the final norm
  int64_t total = 0;
  int64_t active = 0;  // per token: top_k routed experts per MoE layer, all the rest
};

ParamCounts count_params(const MoeModel& m);

}  // namespace mozart::model
