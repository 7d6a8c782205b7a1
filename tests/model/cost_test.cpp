#include "mozart/model/cost.hpp"

#include <numeric>

#include <gtest/gtest.h>

#include "mozart/model/params.hpp"
#include "mozart/model/zoo.hpp"

namespace mozart::model {
namespace {

// hidden 4, 2 heads of width 2 (MHA), 2 experts, top-1, expert FFN 3, bf16.
MoeModel tiny() {
  MoeModel m;
  m.name = "tiny";
  m.layers = 1;
  m.hidden = 4;
  m.vocab = 10;
  m.attention = AttentionKind::mha;
  m.heads = 2;
  m.kv_heads = 2;
  m.head_dim = 2;
  m.routed_experts = 2;
  m.top_k = 1;
  m.expert_ffn = 3;
  return m;
}

const OpCost& find(const std::vector<OpCost>& ops, const std::string& name, int expert = -1) {
  for (const OpCost& op : ops) {
    if (op.name == name && op.expert == expert)
      return op;
  }
  throw std::runtime_error("no op " + name);
}

TEST(Cost, TinyLayerForwardByHand) {
  // One sequence of 2 tokens, causal: 3 query-key pairs per head.
  std::vector<OpCost> ops = layer_forward_ops(tiny(), 0, Batch{1, 2, true});
  EXPECT_DOUBLE_EQ(find(ops, "attn.norm").flops, 4.0 * 2 * 4);
  const OpCost& qkv = find(ops, "attn.qkv");
  EXPECT_DOUBLE_EQ(qkv.flops, 2.0 * 2 * 4 * 12);
  EXPECT_DOUBLE_EQ(qkv.weight_bytes, 4 * 12 * 2);
  EXPECT_DOUBLE_EQ(qkv.input_bytes, 2 * 4 * 2);
  EXPECT_DOUBLE_EQ(qkv.output_bytes, 2 * 12 * 2);
  EXPECT_DOUBLE_EQ(find(ops, "attn.scores").flops, 2 * 3 * (2.0 * 2 + 5));
  EXPECT_DOUBLE_EQ(find(ops, "attn.scores").output_bytes, 0);  // fused: scores stay on chip
  EXPECT_DOUBLE_EQ(find(ops, "attn.context").flops, 2 * 3 * 2.0 * 2);
  EXPECT_DOUBLE_EQ(find(ops, "attn.out").flops, 2.0 * 2 * 4 * 4);
  EXPECT_DOUBLE_EQ(find(ops, "moe.router").flops, 2.0 * 2 * 4 * 2);
  // Uniform routing: each expert gets 2 * 1 / 2 = 1 token.
  EXPECT_DOUBLE_EQ(find(ops, "expert.gate_up", 1).flops, 2.0 * 1 * 4 * 6);
  EXPECT_DOUBLE_EQ(find(ops, "expert.act", 1).flops, 5.0 * 3);
  EXPECT_DOUBLE_EQ(find(ops, "expert.down", 0).flops, 2.0 * 1 * 3 * 4);
  EXPECT_DOUBLE_EQ(find(ops, "moe.combine").flops, 2.0 * 1 * 8);
  EXPECT_DOUBLE_EQ(sum(ops).flops, 640);
  EXPECT_DOUBLE_EQ(sum(ops).gemm_flops, 432);
}

TEST(Cost, TinyLayerBackwardByHand) {
  std::vector<OpCost> forward = layer_forward_ops(tiny(), 0, Batch{1, 2, true});
  CostTotals input = sum(backward_ops(forward, Pass::backward_input));
  CostTotals weight = sum(backward_ops(forward, Pass::backward_weight));
  EXPECT_DOUBLE_EQ(input.gemm_flops, 432);
  EXPECT_DOUBLE_EQ(input.flops, 432 + 2 * 208);         // element-wise and attention core doubled
  EXPECT_DOUBLE_EQ(weight.flops, 432 + 2 * 8 + 2 * 8);  // GEMMs plus the two norms' weights
  std::vector<OpCost> input_ops = backward_ops(forward, Pass::backward_input);
  std::vector<OpCost> weight_ops = backward_ops(forward, Pass::backward_weight);
  const OpCost& qkv_in = find(input_ops, "attn.qkv");
  EXPECT_DOUBLE_EQ(qkv_in.input_bytes, 2 * 12 * 2);  // output gradient
  EXPECT_DOUBLE_EQ(qkv_in.output_bytes, 2 * 4 * 2);  // input gradient
  const OpCost& qkv_w = find(weight_ops, "attn.qkv");
  EXPECT_DOUBLE_EQ(qkv_w.weight_bytes, 4 * 12 * 2);  // weight gradient written
  EXPECT_DOUBLE_EQ(qkv_w.input_bytes, 2 * (4 + 12) * 2);
}

TEST(Cost, ExplicitExpertLoadsDecideExpertWork) {
  std::vector<double> loads = {2, 0};
  std::vector<OpCost> ops = layer_forward_ops(tiny(), 0, Batch{1, 2, true}, loads);
  EXPECT_DOUBLE_EQ(find(ops, "expert.gate_up", 0).flops, 2.0 * 2 * 4 * 6);
  for (const OpCost& op : ops)
    EXPECT_NE(op.expert, 1) << "an idle expert has no work";
}

// A mixer's parameters that are not GEMM weights: biases, norms, convolutions, decays.
double mixer_non_gemm_params(const MoeModel& m, Mixer mixer) {
  if (mixer == Mixer::linear_attention) {  // the presets' linear attention is Gated DeltaNet
    const LinearSpec& a = m.linear;
    const double key = double(a.key_heads) * a.key_head_dim;
    const double value = double(a.value_heads) * a.value_head_dim;
    return (2 * key + value) * a.conv_kernel + 2.0 * a.value_heads + a.value_head_dim;
  }
  if (m.attention == AttentionKind::mla)
    return double(m.mla.q_lora_rank) + m.mla.kv_lora_rank;
  const AttentionShape s = attention_shape(m, mixer);
  const double q = double(s.heads) * s.head_dim, k = double(s.kv_heads) * s.head_dim;
  const double v = s.kv_shared ? 0 : double(s.kv_heads) * s.v_head_dim;
  double params = 0;
  if (m.qkv_bias)
    params += (m.q_gate ? 2 * q : q) + k + v;
  if (m.o_bias)
    params += m.hidden;
  if (m.qk_norm == QkNorm::per_head)
    params += 2.0 * s.head_dim;
  if (m.qk_norm == QkNorm::full)
    params += q + k;
  return params;
}

// Active parameters that are not GEMM weights: embedding rows, norms, biases.
double non_gemm_active_params(const MoeModel& m) {
  ParamCounts p = count_params(m);
  double layers = 0;
  for (int l = 0; l < m.layers; ++l) {
    layers += mixer_non_gemm_params(m, m.layer_kind(l).mixer);
    if (m.expert_bias && m.is_moe_layer(l))  // router bias, and each active expert's biases
      layers += m.routed_experts + m.top_k * (2.0 * m.expert_ffn + m.hidden);
  }
  double tied_head = m.tied_embeddings ? -double(p.embedding) : 0;  // the LM head reuses it
  return double(p.embedding) + double(p.norms) + layers + tied_head;
}

TEST(Cost, ForwardGemmFlopsAreTwicePerTokenActiveParameters) {
  Batch batch{2, 64, true};
  for (const std::string& name : preset_names()) {
    MoeModel m = *find_preset(name);
    StepCost step = training_step_cost(m, batch, 1);
    double gemm_params = double(count_params(m).active) - non_gemm_active_params(m);
    EXPECT_NEAR(step.forward.gemm_flops / (2 * batch.tokens() * gemm_params), 1.0, 1e-12) << name;
    EXPECT_NEAR(step.backward_input.gemm_flops / step.forward.gemm_flops, 1.0, 1e-12) << name;
    EXPECT_NEAR(step.backward_weight.gemm_flops / step.forward.gemm_flops, 1.0, 1e-12) << name;
  }
}

TEST(Cost, OptimizerTouchesEveryParameterOnce) {
  for (const std::string& name : preset_names()) {
    MoeModel m = *find_preset(name);
    StepCost step = training_step_cost(m, Batch{1, 16, true}, 2);
    double params = double(count_params(m).total);
    EXPECT_NEAR(step.optimizer.flops / (12 * params), 1.0, 1e-12) << name;
    EXPECT_NEAR(step.optimizer.weight_bytes / ((2 * 2 + 24) * params), 1.0, 1e-12) << name;
  }
}

TEST(Cost, RoutedTokensAreConserved) {
  MoeModel m = *find_preset("qwen3-30b-a3b");
  Batch batch{8, 256, true};
  double routed = 0;
  for (const OpCost& op : layer_forward_ops(m, 0, batch)) {
    if (op.name == "expert.gate_up")
      routed += op.gemm->m;
  }
  EXPECT_NEAR(routed, batch.tokens() * m.top_k, 1e-6);
}

TEST(Cost, AttentionCoreGrowsWithCausalPairs) {
  MoeModel m = *find_preset("olmoe-1b-7b");
  auto scores = [&](int seq) {
    return find(layer_forward_ops(m, 0, Batch{1, seq, true}), "attn.scores").flops;
  };
  EXPECT_DOUBLE_EQ(scores(512) / scores(256), (512.0 * 513) / (256.0 * 257));
  Batch full{1, 256, false};
  EXPECT_GT(find(layer_forward_ops(m, 0, full), "attn.scores").flops, scores(256));
}

TEST(Cost, StepScalesLinearlyWithMicroBatches) {
  MoeModel m = *find_preset("deepseek-moe-16b");
  StepCost one = training_step_cost(m, Batch{8, 256, true}, 1);
  StepCost four = training_step_cost(m, Batch{8, 256, true}, 4);
  EXPECT_NEAR(four.forward.flops / one.forward.flops, 4.0, 1e-12);
  EXPECT_DOUBLE_EQ(four.optimizer.flops, one.optimizer.flops);
  EXPECT_DOUBLE_EQ(four.tokens, 4 * one.tokens);
}

}  // namespace
}  // namespace mozart::model
