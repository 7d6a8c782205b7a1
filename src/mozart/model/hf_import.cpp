#include "mozart/model/hf_import.hpp"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <tuple>
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
                   SizeRange range, int layers = 0) {
    if (std::optional<int> value =
            uniform_size(names, {std::max(range.min, 1LL), range.max}, layers))
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

  [[noreturn]] void fail(std::string_view name, const json& value,
                         const std::string& expected) const {
    throw core::InputError(core::InputLocation{source_, std::string(name), 0},
                           core::json_value_text(value), expected);
  }

  const std::string& source() const { return source_; }

  // A per-layer list (one entry per layer) under `name`, or nullptr when absent or a scalar.
  const json* layer_list(std::string_view name, int layers) const {
    const json* list = lookup(name);
    if (list == nullptr || !list->is_array())
      return nullptr;
    if (static_cast<int>(list->size()) != layers) {
      throw core::InputError(
          core::InputLocation{source_, std::string(name), 0},
          fmt::format("a list of {} entries", list->size()),
          fmt::format("one entry per layer ({} layers, num_hidden_layers)", layers));
    }
    return list;
  }

  // A size given once or per layer; per-layer values must agree (zeros, which mark layers
  // without that part, aside): mozart holds one expert size, one top-k.
  std::optional<int> uniform_size(std::initializer_list<std::string_view> names, SizeRange range,
                                  int layers) const {
    for (std::string_view name : names) {
      const json* list = layers > 0 ? layer_list(name, layers) : nullptr;
      if (list == nullptr)
        continue;
      std::optional<long long> value;
      for (std::size_t l = 0; l < list->size(); ++l) {
        const json& v = (*list)[l];
        if (!v.is_number_integer() || v.get<long long>() < 0)
          fail(fmt::format("{}[{}]", name, l), v, "a non-negative integer");
        const long long x = v.get<long long>();
        if (x == 0)
          continue;
        if (value && *value != x) {
          fail(fmt::format("{}[{}]", name, l), v,
               fmt::format("the same value in every layer ({} in an earlier one): per-layer "
                           "sizes that differ are not modelled",
                           *value));
        }
        value = x;
      }
      const long long uniform = value.value_or(0);
      if (uniform < range.min || uniform > range.max)
        fail(name, *list, fmt::format("per-layer values in [{}, {}]", range.min, range.max));
      return static_cast<int>(uniform);
    }
    return optional_size(names, range);
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
  // DeepSeek: the first first_k_dense_replace layers are dense, then every moe_layer_freq-th
  // (an integer; MiMo gives a per-layer list of 0 and 1 instead, read by ffn_layout).
  const long long first_dense = pattern_int(f, "first_k_dense_replace", 0, 0, source);
  if (first_dense > layers) {
    throw core::InputError(core::InputLocation{source, "first_k_dense_replace", 0},
                           std::to_string(first_dense),
                           fmt::format("at most num_hidden_layers ({})", layers));
  }
  const json* freq = f.lookup("moe_layer_freq");
  const long long moe_every =
      freq != nullptr && freq->is_array() ? 1 : pattern_int(f, "moe_layer_freq", 1, 1, source);
  // Qwen2/3-MoE: layer l is sparse when (l + 1) % decoder_sparse_step == 0 and it is not in
  // mlp_only_layers. Llama 4: when (l + 1) % interleave_moe_layer_step == 0.
  const long long sparse_step = pattern_int(f, "decoder_sparse_step", 1, 1, source);
  const long long interleave = pattern_int(f, "interleave_moe_layer_step", 1, 1, source);
  // Jamba: when l % expert_layer_period == expert_layer_offset.
  const long long expert_period = pattern_int(f, "expert_layer_period", 1, 1, source);
  const long long expert_offset = pattern_int(f, "expert_layer_offset", 0, 0, source);
  const std::vector<int> mlp_only = mlp_only_layers(f, layers, source);
  for (int l = 0; l < layers; ++l) {
    bool deepseek_dense = l < first_dense || l % moe_every != 0;
    bool qwen_dense = (l + 1) % sparse_step != 0 ||
                      std::find(mlp_only.begin(), mlp_only.end(), l) != mlp_only.end();
    bool interleaved_dense = (l + 1) % interleave != 0 || l % expert_period != expert_offset;
    if (deepseek_dense || qwen_dense || interleaved_dense)
      dense.push_back(l);
  }
  return dense;
}

[[noreturn]] void not_modelled(const FieldReader& f, std::string_view field, const json& value,
                               std::string_view what) {
  throw core::InputError(
      f.source(),
      fmt::format("{} {} is not modelled (field {}): mozart models full, sliding-window "
                  "and linear attention, Mamba, MoE and dense FFN layers",
                  what, core::json_value_text(value), field));
}

// Each layer's mixer from whichever convention the family uses.
std::vector<Mixer> mixers_of(const FieldReader& f, int layers) {
  std::vector<Mixer> mixers(static_cast<std::size_t>(layers), Mixer::attention);
  if (const json* types = f.layer_list("layer_types", layers)) {
    for (std::size_t l = 0; l < types->size(); ++l) {
      const json& t = (*types)[l];
      const std::string s = t.is_string() ? t.get<std::string>() : "";
      if (s == "full_attention" || s == "attention" || s == "global_attention")
        mixers[l] = Mixer::attention;
      else if (s == "sliding_attention" || s == "sliding_window" || s == "local_attention")
        mixers[l] = Mixer::sliding_attention;
      else if (s == "linear_attention")
        mixers[l] = Mixer::linear_attention;
      else if (s == "mamba" || s == "mamba2")
        mixers[l] = Mixer::mamba;
      else
        not_modelled(f, fmt::format("layer_types[{}]", l), t, "layer type");
    }
    return mixers;
  }
  // MiniMax-01: 1 is softmax attention, 0 lightning (linear) attention.
  // MiMo: hybrid_layer_pattern 1 is sliding-window attention, 0 full.
  for (const auto& [name, zero, one] :
       {std::tuple{"attn_type_list", Mixer::linear_attention, Mixer::attention},
        std::tuple{"hybrid_layer_pattern", Mixer::attention, Mixer::sliding_attention}}) {
    if (const json* list = f.layer_list(name, layers)) {
      for (std::size_t l = 0; l < list->size(); ++l) {
        const json& v = (*list)[l];
        if (!v.is_number_integer() || (v.get<long long>() != 0 && v.get<long long>() != 1))
          f.fail(fmt::format("{}[{}]", name, l), v, "0 or 1");
        mixers[l] = v.get<long long>() == 1 ? one : zero;
      }
      return mixers;
    }
  }
  // Jamba: attention when l % attn_layer_period == attn_layer_offset, Mamba elsewhere.
  if (f.lookup("attn_layer_period") != nullptr) {
    const long long period = pattern_int(f, "attn_layer_period", 1, 1, f.source());
    const long long offset = pattern_int(f, "attn_layer_offset", 0, 0, f.source());
    for (int l = 0; l < layers; ++l)
      mixers[l] = l % period == offset ? Mixer::attention : Mixer::mamba;
    return mixers;
  }
  // Qwen3-Next without layer_types: every full_attention_interval-th layer is full attention.
  if (f.lookup("full_attention_interval") != nullptr && f.lookup("linear_num_key_heads")) {
    const long long every = pattern_int(f, "full_attention_interval", 1, 1, f.source());
    for (int l = 0; l < layers; ++l)
      mixers[l] = (l + 1) % every == 0 ? Mixer::attention : Mixer::linear_attention;
  }
  return mixers;
}

// The characters of s, each whole (a byte that continues no UTF-8 character stands alone), so
// a pattern is counted in characters and a message quotes "é", not half of it, which nlohmann
// would refuse to write.
std::vector<std::string> utf8_characters(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = 1;
    while (i + n < s.size() && n < 4 && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80)
      ++n;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// Nemotron-H: one character per layer, each layer one block: M Mamba, * attention, - dense
// MLP, E MoE.
std::vector<LayerKind> override_pattern(const FieldReader& f, const json& pattern, int layers) {
  if (!pattern.is_string())
    f.fail("hybrid_override_pattern", pattern, "a string of M, *, - and E, one per layer");
  const std::vector<std::string> chars = utf8_characters(pattern.get<std::string>());
  if (static_cast<long long>(chars.size()) != layers) {
    throw core::InputError(
        core::InputLocation{f.source(), "hybrid_override_pattern", 0},
        fmt::format("a pattern of {} layers", chars.size()),
        fmt::format("one character per layer ({} layers, num_hidden_layers)", layers));
  }
  static const std::map<std::string, LayerKind, std::less<>> kinds = {
      {"M", {Mixer::mamba, Ffn::none}},
      {"*", {Mixer::attention, Ffn::none}},
      {"-", {Mixer::none, Ffn::dense}},
      {"E", {Mixer::none, Ffn::moe}}};
  std::vector<LayerKind> out;
  for (std::size_t l = 0; l < chars.size(); ++l) {
    const auto kind = kinds.find(chars[l]);
    if (kind == kinds.end())
      not_modelled(f, fmt::format("hybrid_override_pattern[{}]", l), json(chars[l]), "layer type");
    out.push_back(kind->second);
  }
  return out;
}

// The layout; empty when every layer is full attention followed by a MoE or dense FFN.
std::vector<LayerKind> layout_of(const FieldReader& f, const MoeModel& m) {
  if (const json* pattern = f.lookup("hybrid_override_pattern"))
    return override_pattern(f, *pattern, m.layers);
  const std::vector<Mixer> mixers = mixers_of(f, m.layers);
  // Gemma 4: a dense MLP runs beside the experts in every layer.
  const bool both = f.optional_bool("enable_moe_block", false) && m.dense_ffn > 0;
  std::vector<LayerKind> out;
  bool plain = !both;
  for (int l = 0; l < m.layers; ++l) {
    const Ffn ffn = std::binary_search(m.dense_layers.begin(), m.dense_layers.end(), l)
                        ? Ffn::dense
                        : (both ? Ffn::moe_and_dense : Ffn::moe);
    out.push_back({mixers[static_cast<std::size_t>(l)], ffn});
    plain = plain && mixers[static_cast<std::size_t>(l)] == Mixer::attention;
  }
  if (plain)
    out.clear();
  return out;
}

// MiMo's moe_layer_freq list: 1 marks a MoE layer, 0 a dense one.
void apply_moe_layer_list(const FieldReader& f, MoeModel& m) {
  const json* list = f.layer_list("moe_layer_freq", m.layers);
  if (list == nullptr)
    return;
  for (std::size_t l = 0; l < list->size(); ++l) {
    const json& v = (*list)[l];
    if (!v.is_number_integer() || (v.get<long long>() != 0 && v.get<long long>() != 1))
      f.fail(fmt::format("moe_layer_freq[{}]", l), v, "0 or 1");
    const int layer = static_cast<int>(l);
    const bool listed = std::binary_search(m.dense_layers.begin(), m.dense_layers.end(), layer);
    if (v.get<long long>() == 0 && !listed)
      m.dense_layers.insert(std::upper_bound(m.dense_layers.begin(), m.dense_layers.end(), layer),
                            layer);
  }
}

bool family_is(const std::string& family, std::initializer_list<std::string_view> prefixes) {
  for (std::string_view p : prefixes)
    if (family.rfind(p, 0) == 0)
      return true;
  return false;
}

// transformers' config classes default tie_word_embeddings per family: the MoE families set it
// false; Gemma and MiniCPM keep the base class's true.
bool tied_by_default(const std::string& family) {
  return family_is(family, {"gemma", "minicpm"});
}

void read_attention(const FieldReader& f, MoeModel& m) {
  m.kv_heads = f.optional_size({"num_key_value_heads", "attn_config.kv_n_heads", "num_kv_heads"},
                               limits::heads)
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
    return;
  }
  // Gemma 4: full-attention layers have their own KV heads and width, keys doubling as values.
  if (auto global = f.optional_size({"global_head_dim"}, limits::head_dim)) {
    m.sliding.kv_heads = m.kv_heads;
    m.sliding.head_dim = m.head_dim;
    m.head_dim = *global;
    m.kv_heads =
        f.optional_size({"num_global_key_value_heads"}, limits::heads).value_or(m.kv_heads);
    m.kv_shared = f.optional_bool("attention_k_eq_v", false);
  }
  if (auto v = f.optional_size({"v_head_dim"}, limits::head_dim); v && *v != m.head_dim)
    m.value_head_dim = *v;
  m.attention = m.kv_heads == m.heads ? AttentionKind::mha : AttentionKind::gqa;
  // Qwen2 hard-codes q/k/v biases; others say so in attention_bias (default false), which also
  // biases the output projection except in GLM-4.5.
  const bool attention_bias = f.optional_bool("attention_bias", false);
  m.qkv_bias = attention_bias || f.optional_bool("qkv_bias", false) ||
               f.optional_bool("use_qkv_bias", false) || m.family == "qwen2_moe";
  m.o_bias = attention_bias && !family_is(m.family, {"glm4"});
  m.q_gate = f.optional_bool("attn_output_gate", m.family == "qwen3_next");
  if (m.family == "olmoe")
    m.qk_norm = QkNorm::full;
  else if (family_is(m.family, {"qwen3", "gemma"}))
    m.qk_norm = QkNorm::per_head;
  else if (f.optional_bool("use_qk_norm", false) && !family_is(m.family, {"llama4"}))
    m.qk_norm = f.optional_string("qk_norm_type") == "per_layer" ? QkNorm::full : QkNorm::per_head;
}

void read_sliding(const FieldReader& f, MoeModel& m) {
  m.sliding.window =
      f.optional_size({"sliding_window", "sliding_window_size"}, limits::window).value_or(0);
  if (m.sliding.window == 0)
    f.fail("sliding_window", json(nullptr), "a window size for the sliding-attention layers");
  if (auto v = f.optional_size({"swa_num_attention_heads"}, limits::heads))
    m.sliding.heads = *v;
  if (auto v = f.optional_size({"swa_num_key_value_heads"}, limits::heads))
    m.sliding.kv_heads = *v;
  if (auto v = f.optional_size({"swa_head_dim"}, limits::head_dim))
    m.sliding.head_dim = *v;
  if (auto v = f.optional_size({"swa_v_head_dim"}, limits::head_dim))
    m.sliding.v_head_dim = *v;
}

void read_linear(FieldReader& f, MoeModel& m) {
  LinearSpec& a = m.linear;
  if (f.lookup("attn_type_list") != nullptr) {  // MiniMax-01 lightning attention
    a.kind = LinearKind::lightning;
    a.key_heads = a.value_heads = m.heads;
    a.key_head_dim = a.value_head_dim = m.head_dim;
    return;
  }
  a.kind = LinearKind::gated_deltanet;
  a.key_heads = f.require_size("linear key heads", {"linear_num_key_heads"}, limits::heads);
  a.value_heads = f.require_size("linear value heads", {"linear_num_value_heads"}, limits::heads);
  a.key_head_dim = f.require_size("linear key width", {"linear_key_head_dim"}, limits::head_dim);
  a.value_head_dim =
      f.require_size("linear value width", {"linear_value_head_dim"}, limits::head_dim);
  a.conv_kernel = f.optional_size({"linear_conv_kernel_dim"}, limits::conv_kernel).value_or(4);
}

void read_mamba(FieldReader& f, MoeModel& m) {
  MambaSpec& s = m.mamba;
  const long long expand = f.optional_int({"mamba_expand", "expand"}).value_or(2);
  if (auto heads = f.optional_size({"mamba_num_heads", "mamba_n_heads"}, limits::heads)) {
    s.version = 2;  // Nemotron-H, Granite 4
    s.heads = *heads;
    const int head_dim =
        f.require_size("Mamba head width", {"mamba_head_dim", "mamba_d_head"}, limits::head_dim);
    s.inner =
        static_cast<int>(std::min<long long>(int64_t{*heads} * head_dim, limits::ffn.max + 1));
    s.groups = f.optional_size({"n_groups", "mamba_n_groups"}, limits::heads).value_or(1);
    s.d_state =
        f.require_size("Mamba state size", {"ssm_state_size", "mamba_d_state"}, limits::head_dim);
    s.d_conv = f.optional_size({"conv_kernel", "mamba_d_conv"}, limits::conv_kernel).value_or(4);
    s.conv_bias = f.optional_bool("use_conv_bias", f.optional_bool("mamba_conv_bias", true));
    s.proj_bias = f.optional_bool("use_bias", f.optional_bool("mamba_proj_bias", false));
    return;
  }
  s.version = 1;  // Jamba
  if (expand < 1 || expand * m.hidden > limits::ffn.max) {
    throw core::InputError(core::InputLocation{f.source(), "mamba_expand", 0},
                           std::to_string(expand),
                           fmt::format("an integer from 1 to {} (x hidden_size {} at most {})",
                                       limits::ffn.max / m.hidden, m.hidden, limits::ffn.max));
  }
  s.inner = static_cast<int>(expand * m.hidden);
  s.d_state = f.require_size("Mamba state size", {"mamba_d_state"}, limits::head_dim);
  s.d_conv = f.optional_size({"mamba_d_conv"}, limits::conv_kernel).value_or(4);
  s.dt_rank = f.optional_size({"mamba_dt_rank"}, limits::ffn).value_or((m.hidden + 15) / 16);
  s.conv_bias = f.optional_bool("mamba_conv_bias", true);
  s.proj_bias = f.optional_bool("mamba_proj_bias", false);
  s.inner_norms = family_is(m.family, {"jamba"});
}

void read_shared_experts(const FieldReader& f, MoeModel& m) {
  const int count = f.uniform_size({"n_shared_experts", "num_shared_experts", "num_shared_expert"},
                                   limits::shared_experts, m.layers)
                        .value_or(0);
  // Qwen: one sigmoid-gated shared expert of its own size. Nemotron-H: each shared expert's
  // size. MiniMax: 0 for none. Llama 4: one shared expert as wide as a routed one.
  if (auto size = f.uniform_size({"shared_expert_intermediate_size"}, limits::ffn, m.layers);
      size && *size > 0) {
    m.shared_experts = std::max(count, 1);
    m.shared_expert_ffn = *size;
    m.shared_expert_gate = true;
  } else if (auto own =
                 f.uniform_size({"moe_shared_expert_intermediate_size", "shared_intermediate_size"},
                                limits::ffn, m.layers);
             own && *own > 0) {
    m.shared_experts = std::max(count, 1);
    m.shared_expert_ffn = *own;
  } else if (count > 0) {
    m.shared_experts = count;
    m.shared_expert_ffn = m.expert_ffn;
  } else if (family_is(m.family, {"llama4"})) {
    m.shared_experts = 1;
    m.shared_expert_ffn = m.expert_ffn;
  }
}

QuantFormat quant_format(const FieldReader& f, const json& q) {
  std::string method = q.contains("quant_method") && q["quant_method"].is_string()
                           ? q["quant_method"].get<std::string>()
                           : "";
  for (const char* key : {"quant_algo", "format"}) {
    if (q.contains(key) && q[key].is_string()) {
      const std::string v = q[key].get<std::string>();
      if (v.find("fp4") != std::string::npos || v.find("FP4") != std::string::npos)
        method = "nvfp4";
    }
  }
  if (method == "fp8" || method == "fbgemm_fp8")
    return QuantFormat::fp8;
  if (method == "mxfp4")
    return QuantFormat::mxfp4;
  if (method == "nvfp4")
    return QuantFormat::nvfp4;
  f.fail("quantization_config.quant_method", q.contains("quant_method") ? q["quant_method"] : q,
         "a quantisation mozart reads: fp8, mxfp4, or NVFP4 (modelopt or compressed-tensors)");
}

void read_quantization(const FieldReader& f, MoeModel& m) {
  const json* q = f.lookup("quantization_config");
  if (q == nullptr)
    return;
  if (!q->is_object())
    f.fail("quantization_config", *q, "an object");
  m.quantization.format = quant_format(f, *q);
  if (q->contains("modules_to_not_convert") && (*q)["modules_to_not_convert"].is_array()) {
    for (const json& module : (*q)["modules_to_not_convert"])
      if (module.is_string() && module.get<std::string>().find("attn") != std::string::npos)
        m.quantization.attention = false;
  }
}

// The language model of a multimodal config: text_config's fields over the top level's.
json language_model(const json& root) {
  const auto it = root.find("text_config");
  if (it == root.end() || !it->is_object())
    return root;
  json merged = *it;
  for (const auto& [key, value] : root.items())
    if (!merged.contains(key) && key.find("_config") == std::string::npos)
      merged[key] = value;
  return merged;
}

std::string tower_note(const json& root, const std::string& key) {
  const auto it = root.find(key);
  if (it == root.end() || !it->is_object())
    return "";
  const json& v = *it;
  const auto number = [&](std::initializer_list<const char*> names) -> double {
    for (const char* n : names)
      if (v.contains(n) && v[n].is_number_unsigned())
        return v[n].get<double>();
    return 0;
  };
  const double depth = number({"depth", "num_hidden_layers"});
  const double width = number({"hidden_size", "embed_dim"});
  const double mlp = number({"intermediate_size"});
  const std::string tower = key.substr(0, key.find('_'));
  if (depth <= 0 || width <= 0 || mlp <= 0)
    return fmt::format("the {} tower ({}) is left out; its size is not known from the config",
                       tower, key);
  // Per block: q, k, v and output projections and a two-matrix MLP.
  const double params = depth * (4 * width * width + 2 * width * mlp);
  return fmt::format(
      "the {} tower ({}) is left out: about {:.2f}B parameters ({:g} blocks of "
      "width {:g}, MLP {:g})",
      tower, key, params / 1e9, depth, width, mlp);
}

void refuse_encoder_decoder(const json& root, const std::string& family,
                            const std::string& source) {
  const auto flag = root.find("is_encoder_decoder");
  const bool flagged = flag != root.end() && flag->is_boolean() && flag->get<bool>();
  if (flagged || root.contains("num_decoder_layers") ||
      family_is(family, {"switch_transformers", "t5", "mt5", "nllb_moe", "bart"})) {
    throw core::InputError(source, fmt::format("model_type '{}' is an encoder-decoder model: "
                                               "encoder-decoder models are not supported",
                                               family.empty() ? "(none)" : family));
  }
}

std::vector<std::string> notes_of(const json& root, const FieldReader& f, const MoeModel& m) {
  std::vector<std::string> notes;
  for (const char* tower : {"vision_config", "audio_config"})
    if (std::string note = tower_note(root, tower); !note.empty())
      notes.push_back(note);
  for (const char* mtp : {"num_nextn_predict_layers", "mtp_num_hidden_layers", "num_mtp_modules"})
    if (f.optional_int({mtp}).value_or(0) > 0)
      notes.push_back(fmt::format("the multi-token-prediction module ({}) is left out", mtp));
  if (f.lookup("index_n_heads") != nullptr)
    notes.push_back("the sparse-attention indexer is left out: attention is counted as dense MLA");
  if (family_is(m.family, {"llama4"}) && f.lookup("attention_chunk_size") != nullptr)
    notes.push_back("chunked attention is modelled as full attention");
  if (m.quantization.format != QuantFormat::none)
    notes.push_back(
        fmt::format("the checkpoint stores {} in {}; working type {}",
                    m.quantization.attention ? "FFN and attention weights" : "FFN weights",
                    to_string(m.quantization.format), core::to_string(m.dtype)));
  return notes;
}

json parse_config(std::string_view json_text, const std::string& source) {
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
  return root;
}

void read_experts(FieldReader& f, MoeModel& m) {
  m.routed_experts = f.require_size("routed experts",
                                    {"num_experts", "num_local_experts", "n_routed_experts",
                                     "ffn_config.moe_num_experts", "moe_num_experts"},
                                    limits::routed_experts, m.layers);
  m.top_k = f.require_size("experts per token",
                           {"num_experts_per_tok", "moe_top_k", "moe_topk", "top_k_experts",
                            "experts_per_token", "ffn_config.moe_top_k"},
                           limits::top_k, m.layers);
  // OLMoE, Mixtral and Llama 4 call the expert size intermediate_size; families with dense
  // layers or shared experts call it moe_intermediate_size and keep intermediate_size for the
  // dense FFN (Llama 4: intermediate_size_mlp).
  const bool has_moe_size = f.lookup("moe_intermediate_size") != nullptr;
  m.expert_ffn = f.require_size(
      "expert FFN size",
      has_moe_size ? std::initializer_list<std::string_view>{"moe_intermediate_size"}
                   : std::initializer_list<std::string_view>{"intermediate_size",
                                                             "ffn_config.ffn_hidden_size"},
      limits::ffn, m.layers);
  // Without a separate expert size, dense layers are as wide as an expert (Jamba).
  const std::string_view dense_name =
      f.lookup("intermediate_size_mlp") != nullptr ? "intermediate_size_mlp" : "intermediate_size";
  m.dense_ffn = f.uniform_size({dense_name}, limits::ffn, m.layers).value_or(0);
  const std::string act = f.optional_string("mlp_hidden_act").empty()
                              ? f.optional_string("hidden_act")
                              : f.optional_string("mlp_hidden_act");
  m.gated_ffn = act != "relu2";
  m.expert_bias = m.family == "gpt_oss";
}

}  // namespace

HfImport import_hf(std::string_view json_text, const std::string& source) {
  const json root = parse_config(json_text, source);
  const json lm = language_model(root);
  FieldReader f(lm, source);
  MoeModel m;
  m.family = f.optional_string("model_type");
  const FieldReader top(root, source);
  refuse_encoder_decoder(root, top.optional_string("model_type"), source);
  std::string name = top.optional_string("_name_or_path");
  m.name = name.empty() ? std::filesystem::path(source).parent_path().filename().string() : name;
  if (m.name.empty())
    m.name = m.family;
  m.source = source;

  m.layers = f.require_size("layer count", {"num_hidden_layers", "n_layers", "num_layers"},
                            limits::layers);
  m.hidden = f.require_size("hidden size", {"hidden_size", "d_model"}, limits::hidden);
  m.vocab = f.require_size("vocabulary", {"vocab_size"}, limits::vocab);
  m.heads = f.require_size("attention heads", {"num_attention_heads", "n_heads"}, limits::heads);
  f.throw_if_missing(m.family);  // the per-layer lists below need the layer count
  read_experts(f, m);
  f.throw_if_missing(m.family);

  m.tied_embeddings = f.optional_bool("tie_word_embeddings", tied_by_default(m.family));
  read_attention(f, m);
  read_shared_experts(f, m);
  m.dense_layers = dense_layers_of(f, m.layers, source);
  apply_moe_layer_list(f, m);
  m.layout = layout_of(f, m);
  if (!m.layout.empty())
    m.dense_layers = model::dense_layers_of(m.layout);
  const auto uses = [&](Mixer mixer) {
    return std::any_of(m.layout.begin(), m.layout.end(),
                       [&](const LayerKind& k) { return k.mixer == mixer; });
  };
  if (uses(Mixer::sliding_attention))
    read_sliding(f, m);
  if (uses(Mixer::linear_attention))
    read_linear(f, m);
  if (uses(Mixer::mamba))
    read_mamba(f, m);
  f.throw_if_missing(m.family);
  if (m.dense_layers.empty() && !std::any_of(m.layout.begin(), m.layout.end(), [](const auto& k) {
        return k.ffn == Ffn::moe_and_dense;
      }))
    m.dense_ffn = 0;
  for (const char* key : {"dtype", "torch_dtype"}) {
    if (auto parsed = core::parse_data_type(f.optional_string(key))) {
      m.dtype = *parsed;
      break;
    }
  }
  read_quantization(f, m);
  validate(m, source);
  return HfImport{m, notes_of(root, f, m)};
}

MoeModel import_hf_config(std::string_view json_text, const std::string& source) {
  return import_hf(json_text, source).model;
}

}  // namespace mozart::model
