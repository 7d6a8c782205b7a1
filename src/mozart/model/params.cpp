#include "mozart/model/params.hpp"

namespace mozart::model {
namespace {

int64_t swiglu_params(int64_t hidden, int64_t ffn) {
  return 3 * hidden * ffn;
}

}  // namespace

int64_t attention_params(const MoeModel& m) {
  const int64_t h = m.hidden;
  if (m.attention == AttentionKind::mla) {
    const MlaSpec& a = m.mla;
    const int64_t q_width = int64_t{m.heads} * (a.qk_nope_head_dim + a.qk_rope_head_dim);
    int64_t q = a.q_lora_rank > 0
                    ? h * a.q_lora_rank + a.q_lora_rank + int64_t{a.q_lora_rank} * q_width
                    : h * q_width;
    int64_t kv = h * (a.kv_lora_rank + a.qk_rope_head_dim) + a.kv_lora_rank +
                 int64_t{a.kv_lora_rank} * m.heads * (a.qk_nope_head_dim + a.v_head_dim);
    int64_t out = int64_t{m.heads} * a.v_head_dim * h;
    return q + kv + out;
  }
  const int64_t q = m.q_dim(), kv = m.kv_dim();
  int64_t params = h * q + 2 * h * kv + q * h;
  if (m.qkv_bias)
    params += q + 2 * kv;
  if (m.qk_norm == QkNorm::per_head)
    params += 2 * int64_t{m.head_dim};
  if (m.qk_norm == QkNorm::full)
    params += q + kv;
  return params;
}

int64_t router_params(const MoeModel& m) {
  return int64_t{m.hidden} * m.routed_experts;
}

int64_t routed_expert_params(const MoeModel& m) {
  return swiglu_params(m.hidden, m.expert_ffn);
}

int64_t shared_expert_params(const MoeModel& m) {
  int64_t params = m.shared_experts * swiglu_params(m.hidden, m.shared_expert_ffn);
  if (m.shared_expert_gate && m.shared_experts > 0)
    params += m.hidden;
  return params;
}

int64_t dense_ffn_params(const MoeModel& m) {
  return swiglu_params(m.hidden, m.dense_ffn);
}

int64_t layer_norm_params(const MoeModel& m) {
  return 2 * int64_t{m.hidden};
}

ParamCounts count_params(const MoeModel& m) {
  ParamCounts c;
  c.embedding = int64_t{m.vocab} * m.hidden;
  c.lm_head = m.tied_embeddings ? 0 : c.embedding;
  c.norms = int64_t{m.layers} * layer_norm_params(m) + m.hidden;
  c.attention = int64_t{m.layers} * attention_params(m);
  const int64_t moe_layers = m.moe_layer_count();
  const int64_t dense_layers = m.layers - moe_layers;
  c.routers = moe_layers * router_params(m);
  c.routed_experts = moe_layers * m.routed_experts * routed_expert_params(m);
  c.shared_experts = moe_layers * shared_expert_params(m);
  c.dense_ffn = dense_layers * dense_ffn_params(m);
  const int64_t always_on =
      c.embedding + c.lm_head + c.norms + c.attention + c.routers + c.shared_experts + c.dense_ffn;
  c.total = always_on + c.routed_experts;
  c.active = always_on + moe_layers * m.top_k * routed_expert_params(m);
  return c;
}

}  // namespace mozart::model
