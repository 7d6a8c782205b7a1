// Import of Hugging Face transformers config.json files into a MoeModel.
//
// Families name the same quantity differently (num_experts, num_local_experts,
// n_routed_experts, ffn_config.moe_num_experts ...); the importer knows the spellings of OLMoE,
// Qwen2/3-MoE, Qwen3-Next, Qwen3.5, Mixtral, DeepSeek (V1-V3.2), Kimi-K2, DBRX, GLM-4.5,
// gpt-oss, Llama 4, MiniMax, MiMo, Ling, Gemma 4, Jamba and Nemotron-H, and tries all of them on
// an unknown model_type. Layer layouts come from layer_types, hybrid_override_pattern,
// attn_type_list, hybrid_layer_pattern, attn/expert_layer_period and offset, moe_layer_freq (an
// integer or a per-layer list), interleave_moe_layer_step, decoder_sparse_step, mlp_only_layers,
// first_k_dense_replace and full_attention_interval. A multimodal config's language model
// (text_config) is imported; its other towers are left out with a note. What it cannot find is
// named in one error; what it cannot represent (an encoder-decoder model, an unknown layer
// type) is refused with the reason.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mozart/model/spec.hpp"

namespace mozart::model {

// The language model, and what the import left out or read specially (a vision tower, a
// multi-token-prediction module, a quantised checkpoint), one line each.
struct HfImport {
  MoeModel model;
  std::vector<std::string> notes;
};

// `source` names the file in errors and in the spec's `source` field.
HfImport import_hf(std::string_view json_text, const std::string& source);
MoeModel import_hf_config(std::string_view json_text, const std::string& source);

}  // namespace mozart::model
