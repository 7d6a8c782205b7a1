#include "mozart/model/cost.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mozart/model/params.hpp"

namespace mozart::model {
namespace {

constexpr double kNormFlops = 4;
constexpr double kSwigluActFlops = 5;
constexpr double kSoftmaxFlops = 5;
constexpr double kCombineFlops = 2;
constexpr double kNormWeightGradFlops = 2;
constexpr double kGateFlops = 5;               // sigmoid (or SiLU) and multiply
constexpr double kRelu2ActFlops = 2;           // max and square
constexpr double kConvFlopsPerTap = 2;         // multiply-add per kernel tap
constexpr double kDeltaRuleFlopsPerState = 7;  // read-out 2, k^T S 2, rank-one write 2, decay 1
constexpr double kLightningFlopsPerState = 5;  // read-out 2, k^T v 2, decay 1
constexpr double kMamba1FlopsPerCell = 7;      // exp(dt A), dt B x, decay-and-add, C h
constexpr double kMamba2FlopsPerCell = 5;      // B x, decay-and-add, C h

// Builds forward ops of one micro-batch in the model's data type.
class OpBuilder {
 public:
  explicit OpBuilder(const MoeModel& m) : b_(core::bytes_per_element(m.dtype)) {}

  void gemm(std::string name, double tokens, int64_t k, int64_t n, int expert = -1) {
    if (tokens <= 0)
      return;
    OpCost op = base(std::move(name), OpKind::gemm, expert);
    op.gemm = Gemm{tokens, k, n};
    op.flops = 2 * tokens * double(k) * double(n);
    op.weight_bytes = double(k) * double(n) * b_;
    op.input_bytes = tokens * double(k) * b_;
    op.output_bytes = tokens * double(n) * b_;
    ops_.push_back(std::move(op));
  }

  // An element-wise op over `elements` outputs that reads `inputs_per_element` inputs each.
  void elementwise(std::string name, double elements, double flops_per_element,
                   double inputs_per_element = 1, double weight_elements = 0, int expert = -1) {
    if (elements <= 0)
      return;
    OpCost op = base(std::move(name), OpKind::elementwise, expert);
    op.elements = elements;
    op.flops = elements * flops_per_element;
    op.weight_bytes = weight_elements * b_;
    op.input_bytes = elements * inputs_per_element * b_;
    op.output_bytes = elements * b_;
    ops_.push_back(std::move(op));
  }

  void norm(std::string name, double tokens, int64_t width, int64_t weight_elements) {
    elementwise(std::move(name), tokens * double(width), kNormFlops, 1, double(weight_elements));
  }

  void attention_core(std::string name, double flops, double input_elements,
                      double output_elements) {
    OpCost op = base(std::move(name), OpKind::attention_core, -1);
    op.flops = flops;
    op.input_bytes = input_elements * b_;
    op.output_bytes = output_elements * b_;
    ops_.push_back(std::move(op));
  }

  // A recurrent core (linear attention, Mamba scan): its state stays on chip; it reads its
  // inputs and small per-channel parameters and writes its output.
  void recurrence(std::string name, double flops, double input_elements, double output_elements,
                  double weight_elements) {
    OpCost op = base(std::move(name), OpKind::attention_core, -1);
    op.flops = flops;
    op.weight_bytes = weight_elements * b_;
    op.input_bytes = input_elements * b_;
    op.output_bytes = output_elements * b_;
    ops_.push_back(std::move(op));
  }

  void gather(std::string name, double tokens, int64_t width) {
    OpCost op = base(std::move(name), OpKind::gather, -1);
    op.weight_bytes = tokens * double(width) * b_;  // the rows looked up
    op.output_bytes = tokens * double(width) * b_;
    op.elements = tokens * double(width);
    ops_.push_back(std::move(op));
  }

  std::vector<OpCost> take() { return std::move(ops_); }

 private:
  OpCost base(std::string name, OpKind kind, int expert) const {
    OpCost op;
    op.name = std::move(name);
    op.kind = kind;
    op.pass = Pass::forward;
    op.expert = expert;
    op.element_bytes = b_;
    return op;
  }

  double b_;
  std::vector<OpCost> ops_;
};

// Query-key pairs one head scores over the batch: a sliding window caps each query's keys.
double pairs_of(const MoeModel& m, Mixer mixer, const Batch& batch) {
  return mixer == Mixer::sliding_attention ? batch.attention_pairs(m.sliding.window)
                                           : batch.attention_pairs();
}

void add_mla(OpBuilder& ops, const MoeModel& m, double t) {
  const MlaSpec& a = m.mla;
  const int64_t h = m.hidden;
  if (a.q_lora_rank > 0) {
    ops.gemm("attn.q_a", t, h, a.q_lora_rank);
    ops.norm("attn.q_a_norm", t, a.q_lora_rank, a.q_lora_rank);
    ops.gemm("attn.q_b", t, a.q_lora_rank, m.q_dim());
  } else {
    ops.gemm("attn.q", t, h, m.q_dim());
  }
  ops.gemm("attn.kv_a", t, h, a.kv_lora_rank + a.qk_rope_head_dim);
  ops.norm("attn.kv_a_norm", t, a.kv_lora_rank, a.kv_lora_rank);
  ops.gemm("attn.kv_b", t, a.kv_lora_rank, int64_t{m.heads} * (a.qk_nope_head_dim + a.v_head_dim));
}

void add_attention(OpBuilder& ops, const MoeModel& m, const Batch& batch, Mixer mixer) {
  const double t = batch.tokens();
  const int64_t h = m.hidden;
  ops.norm("attn.norm", t, h, h);
  const AttentionShape s = attention_shape(m, mixer);
  int64_t q_width = int64_t{s.heads} * s.head_dim;
  int64_t k_width = int64_t{s.kv_heads} * s.head_dim;  // keys as the score kernel reads them
  int64_t v_width = s.kv_shared ? k_width : int64_t{s.kv_heads} * s.v_head_dim;
  int qk_head_dim = s.head_dim, v_head_dim = s.v_head_dim;
  if (m.attention == AttentionKind::mla) {
    add_mla(ops, m, t);
    q_width = k_width = m.q_dim();
    v_width = m.v_dim();
    qk_head_dim = m.qk_head_dim();
    v_head_dim = m.v_head_dim();
  } else {
    const int64_t v_proj = s.kv_shared ? 0 : v_width;
    ops.gemm("attn.qkv", t, h, (m.q_gate ? 2 : 1) * q_width + k_width + v_proj);
    if (m.qk_norm == QkNorm::per_head) {
      ops.norm("attn.qk_norm", t, q_width + k_width, 2 * int64_t{s.head_dim});
    } else if (m.qk_norm == QkNorm::full) {
      ops.norm("attn.qk_norm", t, q_width + k_width, q_width + k_width);
    }
  }
  const double head_pairs = double(s.heads) * pairs_of(m, mixer, batch);
  const int64_t context = int64_t{s.heads} * v_head_dim;
  ops.attention_core("attn.scores", head_pairs * (2.0 * qk_head_dim + kSoftmaxFlops),
                     t * double(q_width + k_width), 0);
  ops.attention_core("attn.context", head_pairs * 2.0 * v_head_dim, t * double(v_width),
                     t * double(context));
  if (m.q_gate)
    ops.elementwise("attn.gate", t * double(context), kGateFlops, 2);
  ops.gemm("attn.out", t, context, h);
}

// Linear attention in its recurrent form: per token and value head the state (key_head_dim x
// value_head_dim) is read out and updated; the delta rule (Gated DeltaNet) also reads the state
// back with the key before writing, lightning attention only decays and adds.
void add_linear_attention(OpBuilder& ops, const MoeModel& m, const Batch& batch) {
  const LinearSpec& a = m.linear;
  const double t = batch.tokens();
  const int64_t h = m.hidden;
  const int64_t key = int64_t{a.key_heads} * a.key_head_dim;
  const int64_t value = int64_t{a.value_heads} * a.value_head_dim;
  const double state = double(a.value_heads) * a.key_head_dim * a.value_head_dim;
  ops.norm("linear.norm", t, h, h);
  if (a.kind == LinearKind::lightning) {
    ops.gemm("linear.in_proj", t, h, 2 * key + 2 * value);
    ops.recurrence("linear.recurrence", t * state * kLightningFlopsPerState,
                   t * double(2 * key + value), t * double(value), 0);
    ops.norm("linear.out_norm", t, value, value);
  } else {
    const int64_t conv = 2 * key + value;
    ops.gemm("linear.in_proj", t, h, 2 * key + 2 * value + 2 * int64_t{a.value_heads});
    ops.elementwise("linear.conv", t * double(conv), kConvFlopsPerTap * a.conv_kernel, 1,
                    double(conv * a.conv_kernel));
    ops.recurrence("linear.recurrence", t * state * kDeltaRuleFlopsPerState,
                   t * double(conv + 2 * a.value_heads), t * double(value), 2.0 * a.value_heads);
    ops.norm("linear.out_norm", t, value, a.value_head_dim);
  }
  ops.elementwise("linear.gate", t * double(value), kGateFlops, 2);
  ops.gemm("linear.out", t, value, h);
}

// Mamba's selective scan: per token, channel and state element a discretised decay, an input
// write and the read-out (version 1: 7 FLOPs; version 2's decay is one scalar per head: 5).
void add_mamba(OpBuilder& ops, const MoeModel& m, const Batch& batch) {
  const MambaSpec& s = m.mamba;
  const double t = batch.tokens();
  const int64_t h = m.hidden, inner = s.inner;
  ops.norm("mamba.norm", t, h, h);
  const double cells = t * double(inner) * s.d_state;
  if (s.version == 1) {
    ops.gemm("mamba.in_proj", t, h, 2 * inner);
    ops.elementwise("mamba.conv", t * double(inner), kConvFlopsPerTap * s.d_conv, 1,
                    double(inner * s.d_conv));
    ops.gemm("mamba.x_proj", t, inner, s.dt_rank + 2 * int64_t{s.d_state});
    ops.gemm("mamba.dt_proj", t, s.dt_rank, inner);
    ops.recurrence("mamba.scan", cells * kMamba1FlopsPerCell,
                   t * double(2 * inner + 2 * int64_t{s.d_state}), t * double(inner),
                   double(inner) * (s.d_state + 1));
  } else {
    const int64_t conv = inner + 2 * int64_t{s.groups} * s.d_state;
    ops.gemm("mamba.in_proj", t, h, inner + conv + s.heads);
    ops.elementwise("mamba.conv", t * double(conv), kConvFlopsPerTap * s.d_conv, 1,
                    double(conv * s.d_conv));
    ops.recurrence("mamba.scan", cells * kMamba2FlopsPerCell, t * double(conv + s.heads),
                   t * double(inner), 3.0 * s.heads);
    ops.norm("mamba.out_norm", t, inner, inner);
  }
  ops.elementwise("mamba.gate", t * double(inner), kGateFlops, 2);
  ops.gemm("mamba.out", t, inner, h);
}

void add_mixer(OpBuilder& ops, const MoeModel& m, const Batch& batch, Mixer mixer) {
  switch (mixer) {
    case Mixer::attention:
    case Mixer::sliding_attention:
      add_attention(ops, m, batch, mixer);
      return;
    case Mixer::linear_attention:
      add_linear_attention(ops, m, batch);
      return;
    case Mixer::mamba:
      add_mamba(ops, m, batch);
      return;
    case Mixer::none:
      return;
  }
}

// A gated FFN (SwiGLU: gate and up in one GEMM, SiLU-and-multiply, down) or a plain one (up,
// squared ReLU, down).
void add_ffn(OpBuilder& ops, const MoeModel& m, const std::string& prefix, double tokens,
             int64_t ffn, int expert = -1) {
  const int64_t hidden = m.hidden;
  if (m.gated_ffn) {
    ops.gemm(prefix + ".gate_up", tokens, hidden, 2 * ffn, expert);
    ops.elementwise(prefix + ".act", tokens * double(ffn), kSwigluActFlops, 2, 0, expert);
  } else {
    ops.gemm(prefix + ".up", tokens, hidden, ffn, expert);
    ops.elementwise(prefix + ".act", tokens * double(ffn), kRelu2ActFlops, 1, 0, expert);
  }
  ops.gemm(prefix + ".down", tokens, ffn, hidden, expert);
}

void add_moe(OpBuilder& ops, const MoeModel& m, const Batch& batch,
             std::span<const double> expert_tokens) {
  const double t = batch.tokens();
  const int64_t h = m.hidden;
  ops.gemm("moe.router", t, h, m.routed_experts);
  ops.elementwise("moe.router_softmax", t * m.routed_experts, kSoftmaxFlops);
  const double uniform = t * m.top_k / m.routed_experts;
  for (int e = 0; e < m.routed_experts; ++e) {
    double tokens = expert_tokens.empty() ? uniform : expert_tokens[e];
    add_ffn(ops, m, "expert", tokens, m.expert_ffn, e);
  }
  if (m.shared_experts > 0) {
    // Shared experts see every token: together they act as one wider FFN.
    add_ffn(ops, m, "shared", t, int64_t{m.shared_experts} * m.shared_expert_ffn);
    if (m.shared_expert_gate)
      ops.gemm("shared.gate", t, h, 1);
  }
  ops.elementwise("moe.combine", t * h, kCombineFlops * m.top_k, m.top_k);
}

OpCost derive_backward(const OpCost& f, Pass pass) {
  OpCost op = f;
  op.pass = pass;
  const double b = f.element_bytes;
  if (f.kind == OpKind::gemm) {
    const Gemm& g = *f.gemm;
    if (pass == Pass::backward_input) {
      op.input_bytes = g.m * double(g.n) * b;
      op.output_bytes = g.m * double(g.k) * b;
    } else {
      op.input_bytes = g.m * double(g.k + g.n) * b;
      op.output_bytes = 0;
    }
    return op;
  }
  if (pass == Pass::backward_input) {
    op.flops = 2 * f.flops;
    op.input_bytes = f.input_bytes + f.output_bytes;
    op.output_bytes = f.input_bytes;
  } else {
    op.flops = kNormWeightGradFlops * f.elements;
    op.input_bytes = f.input_bytes + f.output_bytes;
    op.output_bytes = 0;
  }
  return op;
}

bool has_backward(const OpCost& f, Pass pass) {
  if (pass == Pass::backward_weight) {
    return f.kind == OpKind::gemm || (f.weight_bytes > 0 && f.kind != OpKind::optimizer);
  }
  return f.kind != OpKind::gather && f.kind != OpKind::optimizer;  // token ids have no gradient
}

OpCost optimizer_op(std::string name, int64_t params, const OptimizerSpec& opt, double b,
                    int expert = -1) {
  OpCost op;
  op.name = std::move(name);
  op.kind = OpKind::optimizer;
  op.pass = Pass::optimizer;
  op.expert = expert;
  op.element_bytes = b;
  op.elements = double(params);
  op.flops = double(params) * opt.flops_per_param;
  op.weight_bytes = double(params) * (2 * b + 2 * opt.state_bytes_per_param);
  return op;
}

}  // namespace

std::string_view to_string(Pass pass) {
  switch (pass) {
    case Pass::forward:
      return "forward";
    case Pass::backward_input:
      return "backward_input";
    case Pass::backward_weight:
      return "backward_weight";
    case Pass::optimizer:
      return "optimizer";
  }
  return "?";
}

std::string_view to_string(OpKind kind) {
  switch (kind) {
    case OpKind::gemm:
      return "gemm";
    case OpKind::attention_core:
      return "attention_core";
    case OpKind::elementwise:
      return "elementwise";
    case OpKind::gather:
      return "gather";
    case OpKind::optimizer:
      return "optimizer";
  }
  return "?";
}

double Batch::attention_pairs() const {
  const double s = seq_len;
  return double(sequences) * (causal ? s * (s + 1) / 2 : s * s);
}

double Batch::attention_pairs(int window) const {
  const double s = seq_len, w = std::min<double>(window, seq_len);
  if (!causal)
    return double(sequences) * s * std::min(s, 2 * w - 1);
  // Queries 1..w see all earlier keys; each later one sees w.
  return double(sequences) * (w * (w + 1) / 2 + (s - w) * w);
}

std::vector<OpCost> layer_forward_ops(const MoeModel& m, int layer, const Batch& batch,
                                      std::span<const double> expert_tokens) {
  OpBuilder ops(m);
  const LayerKind kind = m.layer_kind(layer);
  add_mixer(ops, m, batch, kind.mixer);
  if (kind.ffn != Ffn::none)
    ops.norm("ffn.norm", batch.tokens(), m.hidden, m.hidden);
  if (kind.ffn == Ffn::moe || kind.ffn == Ffn::moe_and_dense)
    add_moe(ops, m, batch, expert_tokens);
  if (kind.ffn == Ffn::dense || kind.ffn == Ffn::moe_and_dense)
    add_ffn(ops, m, "ffn", batch.tokens(), m.dense_ffn);
  return ops.take();
}

std::vector<OpCost> expert_forward_ops(const MoeModel& m, double tokens, int expert) {
  OpBuilder ops(m);
  add_ffn(ops, m, "expert", tokens, m.expert_ffn, expert);
  return ops.take();
}

std::vector<OpCost> io_forward_ops(const MoeModel& m, const Batch& batch) {
  OpBuilder ops(m);
  const double t = batch.tokens();
  ops.gather("embed", t, m.hidden);
  ops.norm("final_norm", t, m.hidden, m.hidden);
  ops.gemm("lm_head", t, m.hidden, m.vocab);
  ops.elementwise("loss", t * m.vocab, kSoftmaxFlops);
  return ops.take();
}

std::vector<OpCost> backward_ops(std::span<const OpCost> forward, Pass pass) {
  std::vector<OpCost> out;
  for (const OpCost& f : forward) {
    if (has_backward(f, pass))
      out.push_back(derive_backward(f, pass));
  }
  return out;
}

std::vector<OpCost> layer_optimizer_ops(const MoeModel& m, int layer, const OptimizerSpec& opt) {
  const double b = core::bytes_per_element(m.dtype);
  std::vector<OpCost> ops;
  const LayerKind kind = m.layer_kind(layer);
  if (kind.mixer != Mixer::none) {
    const bool attention = kind.mixer == Mixer::attention || kind.mixer == Mixer::sliding_attention;
    ops.push_back(optimizer_op(
        attention ? "optimizer.attention" : fmt::format("optimizer.{}", to_string(kind.mixer)),
        mixer_params(m, kind.mixer), opt, b));
  }
  ops.push_back(optimizer_op("optimizer.norms", layer_norm_params(m, layer), opt, b));
  if (kind.ffn == Ffn::dense || kind.ffn == Ffn::moe_and_dense)
    ops.push_back(optimizer_op("optimizer.ffn", dense_ffn_params(m), opt, b));
  if (m.is_moe_layer(layer)) {
    ops.push_back(optimizer_op("optimizer.router", router_params(m), opt, b));
    for (int e = 0; e < m.routed_experts; ++e) {
      ops.push_back(optimizer_op("optimizer.expert", routed_expert_params(m), opt, b, e));
    }
    if (m.shared_experts > 0) {
      ops.push_back(optimizer_op("optimizer.shared", shared_expert_params(m), opt, b));
    }
  }
  return ops;
}

std::vector<OpCost> io_optimizer_ops(const MoeModel& m, const OptimizerSpec& opt) {
  const double b = core::bytes_per_element(m.dtype);
  const int64_t table = int64_t{m.vocab} * m.hidden;
  std::vector<OpCost> ops;
  ops.push_back(optimizer_op("optimizer.embedding", table, opt, b));
  if (!m.tied_embeddings)
    ops.push_back(optimizer_op("optimizer.lm_head", table, opt, b));
  ops.push_back(optimizer_op("optimizer.final_norm", m.hidden, opt, b));
  return ops;
}

double layer_state_bytes(const MoeModel& m, int layer, int context) {
  const double b = core::bytes_per_element(m.dtype);
  const Mixer mixer = m.layer_kind(layer).mixer;
  switch (mixer) {
    case Mixer::attention:
    case Mixer::sliding_attention: {
      const double tokens =
          mixer == Mixer::sliding_attention ? std::min(context, m.sliding.window) : double(context);
      if (m.attention == AttentionKind::mla)  // the compressed latent and the rope key
        return tokens * double(m.mla.kv_lora_rank + m.mla.qk_rope_head_dim) * b;
      const AttentionShape s = attention_shape(m, mixer);
      const double v = s.kv_shared ? 0 : double(s.kv_heads) * s.v_head_dim;
      return tokens * (double(s.kv_heads) * s.head_dim + v) * b;
    }
    case Mixer::linear_attention: {
      const LinearSpec& a = m.linear;
      const double state = double(a.value_heads) * a.key_head_dim * a.value_head_dim;
      const double conv_tail =
          double(std::max(a.conv_kernel - 1, 0)) *
          (2.0 * a.key_heads * a.key_head_dim + double(a.value_heads) * a.value_head_dim);
      return (state + conv_tail) * b;
    }
    case Mixer::mamba: {
      const MambaSpec& s = m.mamba;
      const double conv = s.version == 1 ? s.inner : s.inner + 2.0 * s.groups * s.d_state;
      return (double(s.inner) * s.d_state + double(std::max(s.d_conv - 1, 0)) * conv) * b;
    }
    case Mixer::none:
      break;
  }
  return 0;
}

CostTotals& CostTotals::operator+=(const CostTotals& other) {
  flops += other.flops;
  gemm_flops += other.gemm_flops;
  weight_bytes += other.weight_bytes;
  activation_bytes += other.activation_bytes;
  return *this;
}

CostTotals sum(std::span<const OpCost> ops) {
  CostTotals t;
  for (const OpCost& op : ops) {
    t.flops += op.flops;
    if (op.kind == OpKind::gemm)
      t.gemm_flops += op.flops;
    t.weight_bytes += op.weight_bytes;
    t.activation_bytes += op.input_bytes + op.output_bytes;
  }
  return t;
}

CostTotals StepCost::total() const {
  CostTotals t = forward;
  t += backward_input;
  t += backward_weight;
  t += optimizer;
  return t;
}

StepCost training_step_cost(const MoeModel& m, const Batch& micro_batch, int micro_batches,
                            const OptimizerSpec& opt) {
  StepCost step;
  step.tokens = micro_batch.tokens() * micro_batches;
  auto add_pass = [&](std::span<const OpCost> forward) {
    CostTotals f = sum(forward);
    CostTotals bi = sum(backward_ops(forward, Pass::backward_input));
    CostTotals bw = sum(backward_ops(forward, Pass::backward_weight));
    for (int i = 0; i < micro_batches; ++i) {
      step.forward += f;
      step.backward_input += bi;
      step.backward_weight += bw;
    }
  };
  for (int layer = 0; layer < m.layers; ++layer) {
    add_pass(layer_forward_ops(m, layer, micro_batch));
    step.optimizer += sum(layer_optimizer_ops(m, layer, opt));
  }
  add_pass(io_forward_ops(m, micro_batch));
  step.optimizer += sum(io_optimizer_ops(m, opt));
  return step;
}

}  // namespace mozart::model
