// Import of Hugging Face transformers config.json files into a MoeModel.
//
// Families name the same quantity differently (num_experts, num_local_experts,
// n_routed_experts, ffn_config.moe_num_experts ...); the importer knows the spellings of OLMoE,
// Qwen2-MoE, Qwen3-MoE, Mixtral, DeepSeek (V1, V2, V3) and DBRX, and tries all of them on an
// unknown model_type. What it cannot find is named in one error.
#pragma once

#include <string>
#include <string_view>

#include "mozart/model/spec.hpp"

namespace mozart::model {

// `source` names the file in errors and in the spec's `source` field.
MoeModel import_hf_config(std::string_view json_text, const std::string& source);

}  // namespace mozart::model
