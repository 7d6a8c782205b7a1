#include "mozart/model/hf_import.hpp"

#include <filesystem>
#include <initializer_list>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mozart/core/error.hpp"

namespace mozart::model {
namespace {

using nlohmann::json;

// Looks fields up by any of their spellings ("a.b" reaches into nested objects) and collects
// the names of the ones that are missing, so all of them are reported together.
class FieldReader {
 public:
  FieldReader(const json& root, std::string source) : root_(root), source_(std::move(source)) {}

  const json* lookup(std::string_view dotted) const {
    const json* node = &root_;
    size_t start = 0;
    while (start <= dotted.size()) {
      size_t dot = dotted.find('.', start);
      std::string key(
          dotted.substr(start, dot == std::string_view::npos ? dotted.npos : dot - start));
      if (!node->is_object() || !node->contains(key))
        return nullptr;
      node = &(*node)[key];
      if (dot == std::string_view::npos)
        break;
      start = dot + 1;
    }
    return node->is_null() ? nullptr : node;
  }

  std::optional<long long> optional_int(std::initializer_list<std::string_view> names) const {
    for (std::string_view name : names) {
      if (const json* value = lookup(name)) {
        if (!value->is_number_integer() || value->get<long long>() < 0) {
          throw core::InputError(core::InputLocation{source_, std::string(name), 0}, value->dump(),
                                 "a non-negative integer");
        }
        return value->get<long long>();
      }
    }
    return std::nullopt;
  }

  int require_int(std::string_view what, std::initializer_list<std::string_view> names) {
    std::optional<long long> value = optional_int(names);
    if (value && *value == 0) {
      throw core::InputError(core::InputLocation{source_, std::string(*names.begin()), 0}, "0",
                             fmt::format("a positive {}", what));
    }
    if (value)
      return static_cast<int>(*value);
    std::string spellings;
    for (std::string_view n : names)
      spellings += (spellings.empty() ? "" : " or ") + std::string(n);
    missing_.push_back(fmt::format("{} ({})", what, spellings));
    return 0;
  }

  bool optional_bool(std::string_view name, bool fallback) const {
    const json* value = lookup(name);
    if (value == nullptr)
      return fallback;
    if (!value->is_boolean()) {
      throw core::InputError(core::InputLocation{source_, std::string(name), 0}, value->dump(),
                             "true or false");
    }
    return value->get<bool>();
  }

  std::string optional_string(std::string_view name) const {
    const json* value = lookup(name);
    return value != nullptr && value->is_string() ? value->get<std::string>() : "";
  }

  void throw_if_missing(const std::string& family) const {
    if (missing_.empty())
      return;
    std::string list;
    for (const std::string& m : missing_)
      list += (list.empty() ? "" : "; ") + m;
    throw core::InputError(source_,
                           fmt::format("cannot import model_type '{}' as a MoE model: missing {}",
                                       family.empty() ? "(none)" : family, list));
  }

 private:
  const json& root_;
  std::string source_;
  std::vector<std::string> missing_;
};

std::vector<int> dense_layers_of(const FieldReader& f, int layers) {
  std::vector<int> dense;
  // DeepSeek: the first first_k_dense_replace layers are dense, then every moe_layer_freq-th.
  long long first_dense = f.optional_int({"first_k_dense_replace"}).value_or(0);
  long long moe_every = f.optional_int({"moe_layer_freq"}).value_or(1);
  // Qwen2/3-MoE: layer l is sparse when (l + 1) % decoder_sparse_step == 0 and it is not in
  // mlp_only_layers.
  long long sparse_step = f.optional_int({"decoder_sparse_step"}).value_or(1);
  std::vector<int> mlp_only;
  if (const json* list = f.lookup("mlp_only_layers"); list != nullptr && list->is_array()) {
    for (const json& v : *list) {
      if (v.is_number_integer())
        mlp_only.push_back(v.get<int>());
    }
  }
  for (int l = 0; l < layers; ++l) {
    bool deepseek_dense = l < first_dense || (moe_every > 1 && l % moe_every != 0);
    bool qwen_dense = (sparse_step > 1 && (l + 1) % sparse_step != 0) ||
                      std::find(mlp_only.begin(), mlp_only.end(), l) != mlp_only.end();
    if (deepseek_dense || qwen_dense)
      dense.push_back(l);
  }
  return dense;
}

}  // namespace

MoeModel import_hf_config(std::string_view json_text, const std::string& source) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    throw core::InputError(core::InputLocation{source, "", 0},
                           fmt::format("malformed JSON at byte {}", e.byte),
                           "a Hugging Face config.json");
  }
  if (!root.is_object()) {
    throw core::InputError(source, "expected a JSON object (a Hugging Face config.json)");
  }
  FieldReader f(root, source);
  MoeModel m;
  m.family = f.optional_string("model_type");
  std::string name = f.optional_string("_name_or_path");
  m.name = name.empty() ? std::filesystem::path(source).parent_path().filename().string() : name;
  if (m.name.empty())
    m.name = m.family;
  m.source = source;

  m.layers = f.require_int("layer count", {"num_hidden_layers", "n_layers"});
  m.hidden = f.require_int("hidden size", {"hidden_size", "d_model"});
  m.vocab = f.require_int("vocabulary", {"vocab_size"});
  m.heads = f.require_int("attention heads", {"num_attention_heads", "n_heads"});
  m.routed_experts = f.require_int(
      "routed experts",
      {"num_experts", "num_local_experts", "n_routed_experts", "ffn_config.moe_num_experts"});
  m.top_k = f.require_int("experts per token",
                          {"num_experts_per_tok", "moe_top_k", "ffn_config.moe_top_k"});
  // OLMoE and Mixtral call the expert size intermediate_size; families with dense layers or
  // shared experts call it moe_intermediate_size and keep intermediate_size for the dense FFN.
  bool has_moe_size = f.lookup("moe_intermediate_size") != nullptr;
  m.expert_ffn =
      f.require_int("expert FFN size",
                    has_moe_size ? std::initializer_list<std::string_view>{"moe_intermediate_size"}
                                 : std::initializer_list<std::string_view>{
                                       "intermediate_size", "ffn_config.ffn_hidden_size"});
  f.throw_if_missing(m.family);

  m.tied_embeddings = f.optional_bool("tie_word_embeddings", true);  // transformers' default
  m.kv_heads = static_cast<int>(
      f.optional_int({"num_key_value_heads", "attn_config.kv_n_heads"}).value_or(m.heads));
  m.head_dim = static_cast<int>(f.optional_int({"head_dim"}).value_or(m.hidden / m.heads));
  if (f.optional_int({"kv_lora_rank"})) {
    m.attention = AttentionKind::mla;
    m.kv_heads = m.heads;
    m.head_dim = 0;
    m.mla.q_lora_rank = static_cast<int>(f.optional_int({"q_lora_rank"}).value_or(0));
    m.mla.kv_lora_rank = static_cast<int>(*f.optional_int({"kv_lora_rank"}));
    m.mla.qk_nope_head_dim = static_cast<int>(f.optional_int({"qk_nope_head_dim"}).value_or(128));
    m.mla.qk_rope_head_dim = static_cast<int>(f.optional_int({"qk_rope_head_dim"}).value_or(64));
    m.mla.v_head_dim = static_cast<int>(f.optional_int({"v_head_dim"}).value_or(128));
  } else {
    m.attention = m.kv_heads == m.heads ? AttentionKind::mha : AttentionKind::gqa;
  }
  // Qwen2 hard-codes q/k/v biases; others say so in attention_bias (default false).
  m.qkv_bias = f.optional_bool("attention_bias", m.family == "qwen2_moe");
  if (m.family == "olmoe")
    m.qk_norm = QkNorm::full;
  if (m.family == "qwen3_moe")
    m.qk_norm = QkNorm::per_head;

  if (auto shared = f.optional_int({"n_shared_experts"}); shared && *shared > 0) {
    m.shared_experts = static_cast<int>(*shared);
    m.shared_expert_ffn = m.expert_ffn;
  } else if (auto size = f.optional_int({"shared_expert_intermediate_size"}); size && *size > 0) {
    m.shared_experts = 1;
    m.shared_expert_ffn = static_cast<int>(*size);
    m.shared_expert_gate = true;
  }
  m.dense_layers = dense_layers_of(f, m.layers);
  if (!m.dense_layers.empty()) {
    m.dense_ffn = static_cast<int>(f.optional_int({"intermediate_size"}).value_or(0));
  }
  std::string dtype = f.optional_string("torch_dtype");
  if (auto parsed = core::parse_data_type(dtype))
    m.dtype = *parsed;
  validate(m, source);
  return m;
}

}  // namespace mozart::model
