#include "mozart/model/params.hpp"

#include <map>

#include <gtest/gtest.h>

#include "mozart/model/zoo.hpp"

namespace mozart::model {
namespace {

// How a publisher counts active parameters: everything, without the input embedding (OpenAI,
// DeepSeek), or without embedding and LM head (Z.ai). `active` 0: only a nominal figure ("A3B").
enum class Active { all, without_embedding, without_embeddings };
struct Published {
  double total;
  double active;
  Active convention = Active::all;
};

double active_of(const ParamCounts& p, Active convention) {
  switch (convention) {
    case Active::without_embedding:
      return double(p.active_without_embedding);
    case Active::without_embeddings:
      return double(p.active_without_embeddings);
    case Active::all:
      break;
  }
  return double(p.active);
}

// Total and active parameters as the model cards and papers state them.
const std::map<std::string, Published>& published() {
  static const std::map<std::string, Published> figures = {
      {"olmoe-1b-7b", {6.9e9, 1.3e9}},
      {"qwen3-30b-a3b", {30.5e9, 3.3e9}},
      {"deepseek-moe-16b", {16.4e9, 2.8e9}},
      {"mixtral-8x7b", {46.7e9, 12.9e9}},
      {"mixtral-8x22b", {141e9, 39e9}},
      {"qwen1.5-moe-a2.7b", {14.3e9, 2.7e9}},
      {"deepseek-v2", {236e9, 21e9}},
      {"deepseek-v3", {671e9, 37e9}},
      {"qwen3-235b-a22b", {235e9, 22e9}},
      {"dbrx", {132e9, 36e9}},
      {"gpt-oss-120b", {116.83e9, 5.13e9, Active::without_embedding}},
      {"llama-4-maverick", {400e9, 17e9}},
      // Kimi-K2 has DeepSeek-V3's architecture; its card's 32B is counted as DeepSeek counts.
      {"kimi-k2", {1.03e12, 32e9, Active::without_embedding}},
      {"glm-4.5", {355e9, 32e9, Active::without_embeddings}},
      {"qwen3-next-80b-a3b", {80e9, 0}},
  };
  return figures;
}

TEST(Params, EveryPresetMatchesItsPublishedSizeWithinTwoPercent) {
  std::vector<std::string> names = preset_names();
  ASSERT_EQ(names.size(), published().size());
  for (const std::string& name : names) {
    ASSERT_TRUE(published().count(name)) << name << " has no published figure to check";
    ParamCounts p = count_params(*find_preset(name));
    const Published& want = published().at(name);
    EXPECT_NEAR(double(p.total) / want.total, 1.0, 0.02) << name << " total " << p.total;
    if (want.active > 0) {
      EXPECT_NEAR(active_of(p, want.convention) / want.active, 1.0, 0.02)
          << name << " active " << p.active;
    }
  }
}

TEST(Params, TinyModelByHand) {
  MoeModel m;
  m.layers = 2;
  m.dense_layers = {0};
  m.hidden = 4;
  m.vocab = 10;
  m.tied_embeddings = true;
  m.attention = AttentionKind::gqa;
  m.heads = 2;
  m.kv_heads = 1;
  m.head_dim = 2;
  m.routed_experts = 3;
  m.top_k = 2;
  m.expert_ffn = 5;
  m.dense_ffn = 6;
  // attention: q 4x4 + k 4x2 + v 4x2 + o 4x4 = 48 per layer
  EXPECT_EQ(attention_params(m), 48);
  EXPECT_EQ(routed_expert_params(m), 3 * 4 * 5);
  ParamCounts p = count_params(m);
  EXPECT_EQ(p.embedding, 40);
  EXPECT_EQ(p.lm_head, 0);
  EXPECT_EQ(p.norms, 2 * 8 + 4);
  EXPECT_EQ(p.dense_ffn, 3 * 4 * 6);
  EXPECT_EQ(p.routers, 12);
  EXPECT_EQ(p.routed_experts, 3 * 60);
  const int64_t always_on = 40 + 20 + 2 * 48 + 72 + 12;
  EXPECT_EQ(p.total, always_on + 180);
  EXPECT_EQ(p.active, always_on + 120);
}

TEST(Params, ActiveNeverExceedsTotalAndGrowsWithTopK) {
  for (const std::string& name : preset_names()) {
    MoeModel m = *find_preset(name);
    ParamCounts p = count_params(m);
    EXPECT_LE(p.active, p.total) << name;
    if (m.top_k < m.routed_experts) {
      m.top_k += 1;
      EXPECT_GT(count_params(m).active, p.active) << name;
    }
  }
}

}  // namespace
}  // namespace mozart::model
