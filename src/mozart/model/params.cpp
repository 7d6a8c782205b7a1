#include "mozart/model/params.hpp"

namespace mozart::model {
namespace {

// An FFN of `ffn` channels: gated (SwiGLU: gate, up, down) or not (up, down).
int64_t ffn_params(const MoeModel& m, int64_t ffn) {
  return (m.gated_ffn ? 3 : 2) * int64_t{m.hidden} * ffn;
}

int64_t mla_params(const MoeModel& m) {
  const int64_t h = m.hidden;
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

int64_t softmax_attention_params(const MoeModel& m, Mixer mixer) {
  if (m.attention == AttentionKind::mla)
    return mla_params(m);
  const AttentionShape s = attention_shape(m, mixer);
  const int64_t h = m.hidden;
  const int64_t q = int64_t{s.heads} * s.head_dim;
  const int64_t k = int64_t{s.kv_heads} * s.head_dim;
  const int64_t v = s.kv_shared ? 0 : int64_t{s.kv_heads} * s.v_head_dim;
  const int64_t q_out = m.q_gate ? 2 * q : q;  // the gate doubles the query projection
  int64_t params = h * (q_out + k + v) + int64_t{s.heads} * s.v_head_dim * h;
  if (m.qkv_bias)
    params += q_out + k + v;
  if (m.o_bias)
    params += h;
  if (m.qk_norm == QkNorm::per_head)
    params += 2 * int64_t{s.head_dim};
  if (m.qk_norm == QkNorm::full)
    params += q + k;
  return params;
}

int64_t linear_attention_params(const MoeModel& m) {
  const LinearSpec& a = m.linear;
  const int64_t h = m.hidden;
  const int64_t key = int64_t{a.key_heads} * a.key_head_dim;
  const int64_t value = int64_t{a.value_heads} * a.value_head_dim;
  if (a.kind == LinearKind::lightning) {
    // q, k, v projections, an output gate, an RMSNorm over the heads' outputs, the output.
    return h * (2 * key + value) + h * value + value + value * h;
  }
  // Gated DeltaNet: q, k, v and the output gate z; per value head a decay (a) and a write
  // strength (b); a depthwise causal convolution over q, k, v; dt_bias and A_log per value
  // head; a gated RMSNorm over one head's width; the output projection.
  return h * (2 * key + 2 * value) + h * 2 * a.value_heads + (2 * key + value) * a.conv_kernel +
         2 * a.value_heads + a.value_head_dim + value * h;
}

int64_t mamba_params(const MoeModel& m) {
  const MambaSpec& s = m.mamba;
  const int64_t h = m.hidden, inner = s.inner;
  const int64_t proj_bias = s.proj_bias ? 1 : 0, conv_bias = s.conv_bias ? 1 : 0;
  if (s.version == 1) {
    // in_proj (x and gate), depthwise conv, x_proj (dt, B, C), dt_proj with bias, A and D,
    // out_proj.
    int64_t p = h * 2 * inner + proj_bias * 2 * inner;
    p += inner * s.d_conv + conv_bias * inner;
    p += inner * (s.dt_rank + 2 * int64_t{s.d_state});
    p += int64_t{s.dt_rank} * inner + inner;
    p += inner * s.d_state + inner;
    p += inner * h + proj_bias * h;
    if (s.inner_norms)
      p += s.dt_rank + 2 * int64_t{s.d_state};
    return p;
  }
  // Mamba-2: one in_proj yields the gate, x, B, C (per group) and dt (per head); the conv runs
  // over x, B and C; dt_bias, A and D per head; a gated RMSNorm over inner; out_proj.
  const int64_t conv_dim = inner + 2 * int64_t{s.groups} * s.d_state;
  int64_t p = h * (inner + conv_dim + s.heads) + proj_bias * (inner + conv_dim + s.heads);
  p += conv_dim * s.d_conv + conv_bias * conv_dim;
  p += 3 * int64_t{s.heads} + inner;
  p += inner * h + proj_bias * h;
  return p;
}

int64_t moe_params(const MoeModel& m) {
  return router_params(m) + m.routed_experts * routed_expert_params(m) + shared_expert_params(m);
}

}  // namespace

int64_t attention_params(const MoeModel& m) {
  return softmax_attention_params(m, Mixer::attention);
}

int64_t mixer_params(const MoeModel& m, Mixer mixer) {
  switch (mixer) {
    case Mixer::attention:
    case Mixer::sliding_attention:
      return softmax_attention_params(m, mixer);
    case Mixer::linear_attention:
      return linear_attention_params(m);
    case Mixer::mamba:
      return mamba_params(m);
    case Mixer::none:
      break;
  }
  return 0;
}

int64_t router_params(const MoeModel& m) {
  return int64_t{m.hidden} * m.routed_experts + (m.expert_bias ? m.routed_experts : 0);
}

int64_t routed_expert_params(const MoeModel& m) {
  int64_t params = ffn_params(m, m.expert_ffn);
  if (m.expert_bias)  // gate and up (or up alone), and down
    params += (m.gated_ffn ? 2 : 1) * int64_t{m.expert_ffn} + m.hidden;
  return params;
}

int64_t shared_expert_params(const MoeModel& m) {
  int64_t params = m.shared_experts * ffn_params(m, m.shared_expert_ffn);
  if (m.shared_expert_gate && m.shared_experts > 0)
    params += m.hidden;
  return params;
}

int64_t dense_ffn_params(const MoeModel& m) {
  return ffn_params(m, m.dense_ffn);
}

int64_t layer_norm_params(const MoeModel& m) {
  return 2 * int64_t{m.hidden};
}

int64_t layer_norm_params(const MoeModel& m, int layer) {
  const LayerKind kind = m.layer_kind(layer);
  return int64_t{m.hidden} *
         ((kind.mixer != Mixer::none ? 1 : 0) + (kind.ffn != Ffn::none ? 1 : 0));
}

int64_t layer_params(const MoeModel& m, int layer) {
  const LayerKind kind = m.layer_kind(layer);
  int64_t params = mixer_params(m, kind.mixer) + layer_norm_params(m, layer);
  if (kind.ffn == Ffn::moe || kind.ffn == Ffn::moe_and_dense)
    params += moe_params(m);
  if (kind.ffn == Ffn::dense || kind.ffn == Ffn::moe_and_dense)
    params += dense_ffn_params(m);
  return params;
}

ParamCounts count_params(const MoeModel& m) {
  ParamCounts c;
  c.embedding = int64_t{m.vocab} * m.hidden;
  c.lm_head = m.tied_embeddings ? 0 : c.embedding;
  c.norms = m.hidden;  // the final norm
  int64_t active_experts = 0;
  for (int l = 0; l < m.layers; ++l) {
    const LayerKind kind = m.layer_kind(l);
    const int64_t mixer = mixer_params(m, kind.mixer);
    if (kind.mixer == Mixer::linear_attention)
      c.linear_attention += mixer;
    else if (kind.mixer == Mixer::mamba)
      c.mamba += mixer;
    else
      c.attention += mixer;
    c.norms += layer_norm_params(m, l);
    if (kind.ffn == Ffn::moe || kind.ffn == Ffn::moe_and_dense) {
      c.routers += router_params(m);
      c.routed_experts += m.routed_experts * routed_expert_params(m);
      c.shared_experts += shared_expert_params(m);
      active_experts += m.top_k * routed_expert_params(m);
    }
    if (kind.ffn == Ffn::dense || kind.ffn == Ffn::moe_and_dense)
      c.dense_ffn += dense_ffn_params(m);
  }
  const int64_t always_on = c.embedding + c.lm_head + c.norms + c.attention + c.linear_attention +
                            c.mamba + c.routers + c.shared_experts + c.dense_ffn;
  c.total = always_on + c.routed_experts;
  c.active = always_on + active_experts;
  c.active_without_embedding = c.active - c.embedding;
  // A tied table is also the LM head: without both, it is gone once.
  c.active_without_embeddings = c.active - c.embedding - c.lm_head;
  const double b = core::bytes_per_element(m.dtype);
  const Quantization& q = m.quantization;
  if (q.format == QuantFormat::none) {
    c.checkpoint_bytes = double(c.total) * b;
  } else {
    double quantised = double(c.routed_experts + c.shared_experts + c.dense_ffn);
    if (q.attention)
      quantised += double(c.attention + c.linear_attention + c.mamba);
    c.checkpoint_bytes = quantised * bytes_per_weight(q.format) + (double(c.total) - quantised) * b;
  }
  return c;
}

}  // namespace mozart::model
