// Real published config.json files (tests/data/hf/published, sources in its README): each
// imports, and its total is within 2% of the publisher's figure where there is one; hybrid layer
// kinds are counted by hand.
#include <cmath>

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"
#include "mozart/model/cost.hpp"
#include "mozart/model/hf_import.hpp"
#include "mozart/model/params.hpp"
#include "mozart/model/zoo.hpp"

namespace mozart::model {
namespace {

std::string published(const std::string& name) {
  return std::string(MOZART_TEST_DATA) + "/hf/published/" + name + ".json";
}

HfImport import_published(const std::string& name) {
  const std::string path = published(name);
  return import_hf(core::read_text_file(path), path);
}

// The architecture, without the fields that say where it came from.
nlohmann::ordered_json architecture_of(const MoeModel& m) {
  nlohmann::ordered_json j = to_json(m);
  j.erase("name");
  j.erase("source");
  j.erase("family");
  return j;
}

double relative_error(double value, double expected) {
  return std::abs(value - expected) / expected;
}

// The README's published totals; `with_vision` adds the import's estimate of a vision tower the
// publisher counts in; `without_embedding` takes the embedding out, for a publisher that counts
// non-embedding parameters (OpenBMB's MiniCPM papers do).
struct Published {
  std::string file;
  double total;
  bool with_vision = false;
  bool without_embedding = false;
};

double vision_estimate(const HfImport& r) {
  for (const std::string& note : r.notes) {
    const std::size_t about = note.find("about ");
    if (note.find("vision tower") != std::string::npos && about != std::string::npos)
      return std::stod(note.substr(about + 6)) * 1e9;
  }
  return 0;
}

class PublishedTotal : public ::testing::TestWithParam<Published> {};

TEST_P(PublishedTotal, WithinTwoPercent) {
  const Published& p = GetParam();
  const HfImport r = import_published(p.file);
  const ParamCounts counts = count_params(r.model);
  double total = double(counts.total);
  if (p.with_vision)
    total += vision_estimate(r);
  if (p.without_embedding)
    total -= double(counts.embedding);
  EXPECT_LT(relative_error(total, p.total), 0.02)
      << p.file << ": " << total / 1e9 << "B vs published " << p.total / 1e9 << "B";
}

INSTANTIATE_TEST_SUITE_P(
    HfPublished, PublishedTotal,
    ::testing::Values(
        Published{"Qwen--Qwen3-Coder-480B-A35B-Instruct", 480e9},
        Published{"deepseek-ai--DeepSeek-V3.2", 671e9},
        Published{"moonshotai--Kimi-K2-Instruct", 1.03e12},
        Published{"openai--gpt-oss-120b", 116.83e9}, Published{"openai--gpt-oss-20b", 20.91e9},
        Published{"meta-llama--Llama-4-Scout-17B-16E-Instruct", 107.8e9},
        Published{"Qwen--Qwen3-VL-30B-A3B-Instruct", 30.5e9},
        Published{"Qwen--Qwen3.5-35B-A3B", 35e9, true},
        Published{"google--gemma-4-26B-A4B", 26e9, true},
        Published{"XiaomiMiMo--MiMo-V2-Flash", 309e9}, Published{"trtllm--Qwen2-57B-A14B", 57e9},
        Published{"aic-fork--GLM-4.5-Air", 106e9}, Published{"rtp--GLM-4.5", 355e9},
        Published{"kt--DeepSeek-V2-Lite", 15.7e9}, Published{"gh--Ling-lite", 16.8e9},
        Published{"tx--Qwen3-Coder-Next", 80e9}, Published{"onnxdiag--AI21-Jamba-1.5-Mini", 52e9},
        Published{"mlc--MiniCPM-MoE-8x2B", 13.6e9, false, true}),
    [](const ::testing::TestParamInfo<Published>& param) {
      std::string name = param.param.file;
      for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c)))
          c = '_';
      return name;
    });

// Active counts under each publisher's convention (README): OpenAI and DeepSeek leave out the
// input embedding, Z.ai the embedding and the LM head.
TEST(HfPublished, ActiveUnderThePublishersConvention) {
  const auto active = [](const std::string& file) {
    return count_params(import_published(file).model);
  };
  EXPECT_LT(relative_error(double(active("openai--gpt-oss-120b").active_without_embedding), 5.13e9),
            0.02);
  EXPECT_LT(relative_error(double(active("openai--gpt-oss-20b").active_without_embedding), 3.61e9),
            0.02);
  EXPECT_LT(relative_error(double(active("aic-fork--GLM-4.5-Air").active_without_embeddings), 12e9),
            0.02);
  EXPECT_LT(relative_error(double(active("rtp--GLM-4.5").active_without_embeddings), 32e9), 0.02);
  EXPECT_LT(
      relative_error(double(active("deepseek-ai--DeepSeek-V3.2").active_without_embedding), 37e9),
      0.02);
}

TEST(HfPublished, MiniMaxImportsWithoutAPublishedFigure) {
  const HfImport r = import_published("MiniMaxAI--MiniMax-M2.5");
  EXPECT_EQ(r.model.routed_experts, 256);
  EXPECT_EQ(r.model.qk_norm, QkNorm::full);  // qk_norm_type per_layer: one norm over all heads
  EXPECT_EQ(r.model.quantization.format, QuantFormat::fp8);
  EXPECT_FALSE(r.model.tied_embeddings);
}

TEST(HfPublished, LayoutsAreReadFromEachConvention) {
  const MoeModel next = import_published("tx--Qwen3-Coder-Next").model;
  EXPECT_EQ(next.layer_kind(0).mixer, Mixer::linear_attention);
  EXPECT_EQ(next.layer_kind(3).mixer, Mixer::attention);
  EXPECT_TRUE(next.q_gate);
  const MoeModel jamba = import_published("onnxdiag--AI21-Jamba-1.5-Mini").model;
  EXPECT_EQ(jamba.moe_layer_count(), 16);
  EXPECT_EQ(jamba.layer_kind(4), (LayerKind{Mixer::attention, Ffn::dense}));
  EXPECT_EQ(jamba.layer_kind(1), (LayerKind{Mixer::mamba, Ffn::moe}));
  const MoeModel mimo = import_published("XiaomiMiMo--MiMo-V2-Flash").model;
  EXPECT_EQ(mimo.dense_layers, std::vector<int>{0});
  EXPECT_EQ(mimo.layer_kind(0).mixer, Mixer::attention);
  EXPECT_EQ(mimo.layer_kind(1).mixer, Mixer::sliding_attention);
  EXPECT_EQ(mimo.sliding.kv_heads, 8);
  const MoeModel oss = import_published("openai--gpt-oss-120b").model;
  EXPECT_EQ(oss.layer_kind(0).mixer, Mixer::sliding_attention);
  EXPECT_EQ(oss.sliding.window, 128);
  EXPECT_EQ(oss.quantization.format, QuantFormat::mxfp4);
  EXPECT_FALSE(oss.quantization.attention);
  const MoeModel gemma = import_published("google--gemma-4-26B-A4B").model;
  EXPECT_EQ(gemma.layer_kind(5), (LayerKind{Mixer::attention, Ffn::moe_and_dense}));
  EXPECT_TRUE(gemma.tied_embeddings);
}

TEST(HfPublished, NestedConfigsImportTheLanguageModelAndSayTheVisionTowerIsLeftOut) {
  const HfImport vl = import_published("Qwen--Qwen3-VL-30B-A3B-Instruct");
  EXPECT_EQ(architecture_of(vl.model), architecture_of(*find_preset("qwen3-30b-a3b")));
  ASSERT_FALSE(vl.notes.empty());
  EXPECT_NE(vl.notes[0].find("vision tower"), std::string::npos) << vl.notes[0];
  EXPECT_GT(vision_estimate(vl), 0);
}

TEST(HfPublished, SpellingsOfSharedExperts) {
  EXPECT_EQ(import_published("gh--Ling-lite").model.shared_experts, 2);  // num_shared_experts
  const MoeModel qwen2 = import_published("trtllm--Qwen2-57B-A14B").model;
  EXPECT_EQ(qwen2.shared_experts, 1);
  EXPECT_EQ(qwen2.shared_expert_ffn, 20480);
  EXPECT_TRUE(qwen2.shared_expert_gate);
  // Llama 4's MoE layers always add one shared expert as wide as a routed one.
  const MoeModel scout = import_published("meta-llama--Llama-4-Scout-17B-16E-Instruct").model;
  EXPECT_EQ(scout.shared_experts, 1);
  EXPECT_EQ(scout.shared_expert_ffn, scout.expert_ffn);
}

// Hand counts of one layer of each hybrid kind, from the layer's own formula.
TEST(HfPublished, HandCountOfAGatedDeltaNetLayer) {
  const MoeModel m = import_published("tx--Qwen3-Coder-Next").model;
  // hidden 2048; 16 key heads x 128, 32 value heads x 128, conv kernel 4.
  const int64_t key = 16 * 128, value = 32 * 128, h = 2048;
  const int64_t expected = h * (2 * key + 2 * value)  // q, k, v, z
                           + h * 2 * 32               // a, b
                           + (2 * key + value) * 4    // conv
                           + 2 * 32 + 128             // dt_bias, A_log, gated norm
                           + value * h;               // out
  EXPECT_EQ(mixer_params(m, Mixer::linear_attention), expected);
  // Its full-attention layers: q doubled by the output gate, per-head q/k norms.
  const int64_t q = 16 * 256, kv = 2 * 256;
  EXPECT_EQ(mixer_params(m, Mixer::attention), h * (2 * q + 2 * kv) + q * h + 2 * 256);
}

TEST(HfPublished, HandCountOfAMamba1Layer) {
  const MoeModel m = import_published("onnxdiag--AI21-Jamba-1.5-Mini").model;
  // hidden 4096, expand 2 (inner 8192), d_state 16, d_conv 4, dt_rank 256, conv bias, no
  // projection bias, Jamba's dt/B/C norms.
  const int64_t h = 4096, inner = 8192, n = 16, r = 256;
  const int64_t expected = h * 2 * inner + inner * 4 + inner + inner * (r + 2 * n) + r * inner +
                           inner + inner * n + inner + inner * h + r + 2 * n;
  EXPECT_EQ(mixer_params(m, Mixer::mamba), expected);
}

TEST(HfPublished, HandCountOfASlidingWindowLayerWithItsOwnHeads) {
  const MoeModel m = import_published("XiaomiMiMo--MiMo-V2-Flash").model;
  // hidden 4096; 64 heads; sliding: 8 KV heads, q/k 192 wide, v 128; full: 4 KV heads.
  const int64_t h = 4096;
  EXPECT_EQ(mixer_params(m, Mixer::sliding_attention),
            h * (64 * 192 + 8 * 192 + 8 * 128) + 64 * 128 * h);
  EXPECT_EQ(mixer_params(m, Mixer::attention), h * (64 * 192 + 4 * 192 + 4 * 128) + 64 * 128 * h);
}

TEST(HfPublished, HandCountOfAMamba2AndFfnOnlyLayers) {
  // Nemotron-H style: one block per layer; relu2 experts (two matrices).
  const std::string config = R"({"model_type": "nemotron_h", "num_hidden_layers": 4,
    "hidden_size": 64, "vocab_size": 100, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 16, "hybrid_override_pattern": "M*-E", "n_routed_experts": 8,
    "num_experts_per_tok": 2, "moe_intermediate_size": 32, "intermediate_size": 48,
    "moe_shared_expert_intermediate_size": 40, "n_shared_experts": 1, "mamba_num_heads": 8,
    "mamba_head_dim": 16, "ssm_state_size": 8, "n_groups": 2, "conv_kernel": 4,
    "use_conv_bias": true, "use_bias": false, "mlp_hidden_act": "relu2"})";
  const MoeModel m = import_hf_config(config, "nemotron.json");
  EXPECT_EQ(m.layer_kind(0), (LayerKind{Mixer::mamba, Ffn::none}));
  EXPECT_EQ(m.layer_kind(3), (LayerKind{Mixer::none, Ffn::moe}));
  EXPECT_FALSE(m.gated_ffn);
  const int64_t h = 64, inner = 128, conv = inner + 2 * 2 * 8;
  const int64_t mamba = h * (inner + conv + 8) + conv * 4 + conv + 3 * 8 + inner + inner * h;
  EXPECT_EQ(mixer_params(m, Mixer::mamba), mamba);
  EXPECT_EQ(layer_params(m, 0), mamba + h);       // one norm
  EXPECT_EQ(layer_params(m, 2), 2 * h * 48 + h);  // up, down
  EXPECT_EQ(layer_params(m, 3),
            h * 8 + 8 * 2 * h * 32 + 2 * h * 40 + h);  // router, experts, shared
}

TEST(HfPublished, HandCountOfALightningAttentionLayer) {
  const std::string config = R"({"model_type": "minimax", "num_hidden_layers": 2,
    "hidden_size": 64, "vocab_size": 100, "num_attention_heads": 4, "num_key_value_heads": 4,
    "head_dim": 16, "attn_type_list": [0, 1], "num_local_experts": 4,
    "num_experts_per_tok": 2, "intermediate_size": 32})";
  const MoeModel m = import_hf_config(config, "minimax.json");
  EXPECT_EQ(m.layer_kind(0).mixer, Mixer::linear_attention);
  EXPECT_EQ(m.layer_kind(1).mixer, Mixer::attention);
  const int64_t h = 64, width = 4 * 16;
  EXPECT_EQ(mixer_params(m, Mixer::linear_attention),
            h * 3 * width + h * width + width + width * h);
}

std::string error_of(const std::string& config) {
  try {
    import_hf_config(config, "bad.json");
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(HfPublished, RefusalsSayWhy) {
  const std::string base = R"("num_hidden_layers": 2, "hidden_size": 64, "vocab_size": 100,
    "num_attention_heads": 4, "num_local_experts": 4, "num_experts_per_tok": 2,
    "intermediate_size": 32)";
  std::string e = error_of(R"({"model_type": "switch_transformers", "is_encoder_decoder": true,
    "num_layers": 12, "d_model": 768, "num_experts": 8})");
  EXPECT_NE(e.find("encoder-decoder models are not supported"), std::string::npos) << e;
  EXPECT_EQ(e.find("missing"), std::string::npos) << e;
  e = error_of("{" + base + R"(, "layer_types": ["full_attention", "cross_attention"]})");
  EXPECT_NE(e.find("layer type \"cross_attention\" is not modelled"), std::string::npos) << e;
  e = error_of("{" + base + R"(, "layer_types": ["full_attention"]})");
  EXPECT_NE(e.find("layer_types"), std::string::npos) << e;
  EXPECT_NE(e.find("one entry per layer (2 layers"), std::string::npos) << e;
  e = error_of("{" + base + R"(, "hybrid_override_pattern": "M*E"})");
  EXPECT_NE(e.find("hybrid_override_pattern"), std::string::npos) << e;
  e = error_of("{" + base + R"(, "hybrid_override_pattern": "MX"})");
  EXPECT_NE(e.find("\"X\" is not modelled"), std::string::npos) << e;
  // A character of several bytes is quoted whole (half of it is not UTF-8, which nlohmann
  // refuses to write).
  e = error_of("{" + base + R"(, "hybrid_override_pattern": "M\u00e9"})");
  EXPECT_NE(e.find("hybrid_override_pattern[1]"), std::string::npos) << e;
  EXPECT_NE(e.find("\"\u00e9\" is not modelled"), std::string::npos) << e;
  e = error_of("{" + base + R"(, "moe_intermediate_size": [32, 32, 32]})");
  EXPECT_NE(e.find("moe_intermediate_size"), std::string::npos) << e;
  e = error_of("{" + base + R"(, "moe_intermediate_size": [32, 64]})");
  EXPECT_NE(e.find("per-layer sizes that differ are not modelled"), std::string::npos) << e;
  e = error_of("{" + base + R"(, "moe_layer_freq": [1, 2]})");
  EXPECT_NE(e.find("moe_layer_freq[1]"), std::string::npos) << e;
  for (const std::string& message : {error_of("{" + base + R"(, "layer_types": ["x", "y"]})"),
                                     error_of("{" + base + R"(, "moe_topk": [2]})")})
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(HfPublished, PerLayerListsAndSpellingsAreRead) {
  const std::string config = R"({"model_type": "hunyuan", "num_hidden_layers": 2,
    "hidden_size": 64, "vocab_size": 100, "num_attention_heads": 4, "num_experts": 4,
    "moe_topk": [2, 2], "moe_intermediate_size": [32, 32], "num_shared_expert": [1, 1],
    "intermediate_size": 48})";
  const MoeModel m = import_hf_config(config, "hunyuan.json");
  EXPECT_EQ(m.top_k, 2);
  EXPECT_EQ(m.expert_ffn, 32);
  EXPECT_EQ(m.shared_experts, 1);
  EXPECT_EQ(m.shared_expert_ffn, 32);
}

TEST(HfPublished, UntiedUnlessTheFamilyTies) {
  const std::string config = R"({"model_type": "mixtral", "num_hidden_layers": 2,
    "hidden_size": 64, "vocab_size": 100, "num_attention_heads": 4, "num_local_experts": 4,
    "num_experts_per_tok": 2, "intermediate_size": 32})";
  EXPECT_FALSE(import_hf_config(config, "mixtral.json").tied_embeddings);
}

TEST(HfPublished, HybridSpecsRoundTripThroughYaml) {
  for (const char* file :
       {"tx--Qwen3-Coder-Next", "onnxdiag--AI21-Jamba-1.5-Mini", "XiaomiMiMo--MiMo-V2-Flash",
        "openai--gpt-oss-120b", "google--gemma-4-26B-A4B"}) {
    const MoeModel m = import_published(file).model;
    const MoeModel back = read_model(core::ConfigNode::parse(to_yaml(m), "back.yaml"));
    EXPECT_EQ(to_json(back), to_json(m)) << file;
    EXPECT_EQ(count_params(back).total, count_params(m).total) << file;
  }
}

// A layer's forward ops read each of its weights once: their weight bytes add up to the layer's
// parameters (biases, which the cost model leaves out, aside).
TEST(HfPublished, OpWeightsMatchLayerParameters) {
  for (const char* file :
       {"tx--Qwen3-Coder-Next", "onnxdiag--AI21-Jamba-1.5-Mini", "XiaomiMiMo--MiMo-V2-Flash"}) {
    const MoeModel m = import_published(file).model;
    for (int layer = 0; layer < std::min(m.layers, 8); ++layer) {
      double bytes = 0;
      for (const OpCost& op : layer_forward_ops(m, layer, Batch{1, 4096, true}))
        if (op.kind != OpKind::elementwise || op.weight_bytes > 0)
          bytes += op.weight_bytes;
      const double params = double(layer_params(m, layer));
      EXPECT_LT(relative_error(bytes / core::bytes_per_element(m.dtype), params), 0.002)
          << file << " layer " << layer;
    }
  }
}

TEST(HfPublished, StateSizeByMixer) {
  const MoeModel m = import_published("tx--Qwen3-Coder-Next").model;
  // Linear attention's state does not grow with the context; full attention's KV cache does.
  EXPECT_EQ(layer_state_bytes(m, 0, 1000), layer_state_bytes(m, 0, 100000));
  EXPECT_DOUBLE_EQ(layer_state_bytes(m, 3, 1000), 1000.0 * 2 * (2 * 256) * 2);
  const MoeModel oss = import_published("openai--gpt-oss-120b").model;
  EXPECT_EQ(layer_state_bytes(oss, 0, 1000), layer_state_bytes(oss, 0, 128));
  EXPECT_GT(layer_state_bytes(oss, 1, 1000), layer_state_bytes(oss, 0, 1000));
}

TEST(HfPublished, SlidingWindowNeverScoresMorePairsThanFullAttention) {
  for (int s : {1, 5, 128, 129, 1000})
    for (int w : {1, 4, 128, 4096}) {
      const Batch causal{2, s, true}, full{2, s, false};
      EXPECT_LE(causal.attention_pairs(w), causal.attention_pairs());
      EXPECT_LE(full.attention_pairs(w), full.attention_pairs());
      // Exhaustively: each query i (1-based) sees min(i, w) keys.
      double pairs = 0;
      for (int i = 1; i <= s; ++i)
        pairs += std::min(i, w);
      EXPECT_DOUBLE_EQ(causal.attention_pairs(w), 2 * pairs);
    }
}

}  // namespace
}  // namespace mozart::model
