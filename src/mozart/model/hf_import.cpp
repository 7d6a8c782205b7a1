#include "mozart/model/hf_import.hpp"

#include <climits>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mozart/core/error.hpp"
#include "mozart/core/json_text.hpp"

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

  // The first spelling present, as a 64-bit non-negative integer, with the name it was found by.
  std::optional<std::pair<std::string_view, long long>> find_int(
      std::initializer_list<std::string_view> names) const {
    for (std::string_view name : names) {
      if (const json* value = lookup(name)) {
        // A float that holds an integer (2048.0) is still not an integer field.
        if (!value->is_number_integer() ||
            (value->is_number_unsigned() &&
             value->get<unsigned long long>() > static_cast<unsigned long long>(LLONG_MAX)) ||
            value->get<long long>() < 0) {
          throw core::InputError(core::InputLocation{source_, std::string(name), 0},
                                 core::json_value_text(*value), "a non-negative 64-bit integer");
        }
        return std::pair{name, value->get<long long>()};
      }
    }
    return std::nullopt;
  }

  std::optional<long long> optional_int(std::initializer_list<std::string_view> names) const {
    const auto found = find_int(names);
    return found ? std::optional(found->second) : std::nullopt;
  }

  // A size, checked against its range in 64 bits before it is narrowed to an int.
  std::optional<int> optional_size(std::initializer_list<std::string_view> names,
                                   SizeRange range) const {
    const auto found = find_int(names);
    if (!found)
      return std::nullopt;
    const auto [name, value] = *found;
    if (value < range.min || value > range.max) {
      throw core::InputError(core::InputLocation{source_, std::string(name), 0},
                             std::to_string(value),
                             fmt::format("an integer in [{}, {}]", range.min, range.max));
    }
    return static_cast<int>(value);
  }

  int require_size(std::string_view what, std::initializer_list<std::string_view> names,
                   SizeRange range) {
    if (std::optional<int> value = optional_size(names, {std::max(range.min, 1LL), range.max}))
      return *value;
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
      throw core::InputError(core::InputLocation{source_, std::string(name), 0},
                             core::json_value_text(*value), "true or false");
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

// An integer of a layer pattern that must be at least `min`: 0 would divide by zero or, read as
// "never", silently drop every MoE layer.
long long pattern_int(const FieldReader& f, std::string_view name, long long fallback,
                      long long min, const std::string& source) {
  const long long value = f.optional_int({name}).value_or(fallback);
  if (value < min) {
    throw core::InputError(core::InputLocation{source, std::string(name), 0}, std::to_string(value),
                           fmt::format("an integer of at least {}", min));
  }
  return value;
}

std::vector<int> mlp_only_layers(const FieldReader& f, int layers, const std::string& source) {
  std::vector<int> out;
  const json* list = f.lookup("mlp_only_layers");
  if (list == nullptr)
    return out;
  if (!list->is_array())
    throw core::InputError(core::InputLocation{source, "mlp_only_layers", 0},
                           core::json_value_text(*list), "a list of layer indices");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& v = (*list)[i];
    if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() >= layers) {
      throw core::InputError(
          core::InputLocation{source, fmt::format("mlp_only_layers[{}]", i), 0},
          core::json_value_text(v),
          fmt::format("a layer index in [0, {}] (num_hidden_layers {})", layers - 1, layers));
    }
    out.push_back(v.get<int>());
  }
  return out;
}

std::vector<int> dense_layers_of(const FieldReader& f, int layers, const std::string& source) {
  std::vector<int> dense;
  // DeepSeek: the first first_k_dense_replace layers are dense, then every moe_layer_freq-th.
  const long long first_dense = pattern_int(f, "first_k_dense_replace", 0, 0, source);
  if (first_dense > layers) {
    throw core::InputError(core::InputLocation{source, "first_k_dense_replace", 0},
                           std::to_string(first_dense),
                           fmt::format("at most num_hidden_layers ({})", layers));
  }
  const long long moe_every = pattern_int(f, "moe_layer_freq", 1, 1, source);
  // Qwen2/3-MoE: layer l is sparse when (l + 1) % decoder_sparse_step == 0 and it is not in
  // mlp_only_layers.
  const long long sparse_step = pattern_int(f, "decoder_sparse_step", 1, 1, source);
  const std::vector<int> mlp_only = mlp_only_layers(f, layers, source);
  for (int l = 0; l < layers; ++l) {
    bool deepseek_dense = l < first_dense || l % moe_every != 0;
    bool qwen_dense = (l + 1) % sparse_step != 0 ||
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
  } catch (const json::exception& e) {
    // A number too large for a double (1e6666) is well-formed JSON that the parser refuses with
    // out_of_range rather than parse_error.
    throw core::InputError(core::InputLocation{source, "", 0},
                           fmt::format("unreadable JSON ({})", e.what()),
                           "a Hugging Face config.json with numbers a double can hold");
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

  m.layers = f.require_size("layer count", {"num_hidden_layers", "n_layers"}, limits::layers);
  m.hidden = f.require_size("hidden size", {"hidden_size", "d_model"}, limits::hidden);
  m.vocab = f.require_size("vocabulary", {"vocab_size"}, limits::vocab);
  m.heads = f.require_size("attention heads", {"num_attention_heads", "n_heads"}, limits::heads);
  m.routed_experts = f.require_size(
      "routed experts",
      {"num_experts", "num_local_experts", "n_routed_experts", "ffn_config.moe_num_experts"},
      limits::routed_experts);
  m.top_k =
      f.require_size("experts per token",
                     {"num_experts_per_tok", "moe_top_k", "ffn_config.moe_top_k"}, limits::top_k);
  // OLMoE and Mixtral call the expert size intermediate_size; families with dense layers or
  // shared experts call it moe_intermediate_size and keep intermediate_size for the dense FFN.
  bool has_moe_size = f.lookup("moe_intermediate_size") != nullptr;
  m.expert_ffn = f.require_size(
      "expert FFN size",
      has_moe_size ? std::initializer_list<std::string_view>{"moe_intermediate_size"}
                   : std::initializer_list<std::string_view>{"intermediate_size",
                                                             "ffn_config.ffn_hidden_size"},
      limits::ffn);
  f.throw_if_missing(m.family);

  m.tied_embeddings = f.optional_bool("tie_word_embeddings", true);  // transformers' default
  m.kv_heads = f.optional_size({"num_key_value_heads", "attn_config.kv_n_heads"}, limits::heads)
                   .value_or(m.heads);
  m.head_dim = f.optional_size({"head_dim"}, limits::head_dim).value_or(m.hidden / m.heads);
  if (auto kv_lora_rank = f.optional_size({"kv_lora_rank"}, limits::lora_rank)) {
    m.attention = AttentionKind::mla;
    m.kv_heads = m.heads;
    m.head_dim = 0;
    m.mla.q_lora_rank = f.optional_size({"q_lora_rank"}, limits::lora_rank).value_or(0);
    m.mla.kv_lora_rank = *kv_lora_rank;
    m.mla.qk_nope_head_dim = f.optional_size({"qk_nope_head_dim"}, limits::head_dim).value_or(128);
    m.mla.qk_rope_head_dim = f.optional_size({"qk_rope_head_dim"}, limits::head_dim).value_or(64);
    m.mla.v_head_dim = f.optional_size({"v_head_dim"}, limits::head_dim).value_or(128);
  } else {
    m.attention = m.kv_heads == m.heads ? AttentionKind::mha : AttentionKind::gqa;
  }
  // Qwen2 hard-codes q/k/v biases; others say so in attention_bias (default false).
  m.qkv_bias = f.optional_bool("attention_bias", m.family == "qwen2_moe");
  if (m.family == "olmoe")
    m.qk_norm = QkNorm::full;
  if (m.family == "qwen3_moe")
    m.qk_norm = QkNorm::per_head;

  if (auto shared = f.optional_size({"n_shared_experts"}, limits::shared_experts);
      shared && *shared > 0) {
    m.shared_experts = *shared;
    m.shared_expert_ffn = m.expert_ffn;
  } else if (auto size = f.optional_size({"shared_expert_intermediate_size"}, limits::ffn);
             size && *size > 0) {
    m.shared_experts = 1;
    m.shared_expert_ffn = *size;
    m.shared_expert_gate = true;
  }
  m.dense_layers = dense_layers_of(f, m.layers, source);
  if (!m.dense_layers.empty())
    m.dense_ffn = f.optional_size({"intermediate_size"}, limits::ffn).value_or(0);
  std::string dtype = f.optional_string("torch_dtype");
  if (auto parsed = core::parse_data_type(dtype))
    m.dtype = *parsed;
  validate(m, source);
  return m;
}

}  // namespace mozart::model
