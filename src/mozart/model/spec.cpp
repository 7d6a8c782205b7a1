#include "mozart/model/spec.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/yaml_out.hpp"

namespace mozart::model {
namespace {

AttentionKind parse_attention(const core::ConfigNode& node) {
  std::string s = node.as_string();
  if (s == "mha")
    return AttentionKind::mha;
  if (s == "gqa")
    return AttentionKind::gqa;
  if (s == "mla")
    return AttentionKind::mla;
  node.fail("one of: mha, gqa, mla");
}

QkNorm parse_qk_norm(const core::ConfigNode& node) {
  std::string s = node.as_string();
  if (s == "none")
    return QkNorm::none;
  if (s == "per_head")
    return QkNorm::per_head;
  if (s == "full")
    return QkNorm::full;
  node.fail("one of: none, per_head, full");
}

int dim(const core::ConfigNode& node, std::string_view key, SizeRange range) {
  return static_cast<int>(node.at(key).as_int(std::max(range.min, 1LL), range.max));
}

int optional_dim(const core::ConfigNode& node, std::string_view key, SizeRange range) {
  return static_cast<int>(node.get_int(key, 0, range.min, range.max));
}

[[noreturn]] void reject(const std::string& source, std::string_view field, long long value,
                         const std::string& expected) {
  throw core::InputError(core::InputLocation{source, std::string(field), 0}, std::to_string(value),
                         expected);
}

void require_in(const std::string& source, std::string_view field, long long value,
                SizeRange range) {
  if (value < range.min || value > range.max)
    reject(source, field, value, fmt::format("an integer in [{}, {}]", range.min, range.max));
}

void validate_ranges(const MoeModel& m, const std::string& source) {
  require_in(source, "layers", m.layers, limits::layers);
  require_in(source, "hidden", m.hidden, limits::hidden);
  require_in(source, "vocab", m.vocab, limits::vocab);
  require_in(source, "attention.heads", m.heads, limits::heads);
  require_in(source, "attention.kv_heads", m.kv_heads, limits::heads);
  if (m.attention == AttentionKind::mla) {
    require_in(source, "attention.q_lora_rank", m.mla.q_lora_rank, limits::lora_rank);
    require_in(source, "attention.kv_lora_rank", m.mla.kv_lora_rank, {1, limits::lora_rank.max});
    require_in(source, "attention.qk_nope_head_dim", m.mla.qk_nope_head_dim, limits::head_dim);
    require_in(source, "attention.qk_rope_head_dim", m.mla.qk_rope_head_dim, limits::head_dim);
    require_in(source, "attention.v_head_dim", m.mla.v_head_dim, limits::head_dim);
  } else {
    require_in(source, "attention.head_dim", m.head_dim, limits::head_dim);
  }
  require_in(source, "experts.routed", m.routed_experts, limits::routed_experts);
  require_in(source, "experts.top_k", m.top_k, limits::top_k);
  require_in(source, "experts.shared", m.shared_experts, limits::shared_experts);
  require_in(source, "experts.expert_ffn", m.expert_ffn, {1, limits::ffn.max});
  require_in(source, "experts.shared_expert_ffn", m.shared_expert_ffn, limits::ffn);
  require_in(source, "experts.dense_ffn", m.dense_ffn, limits::ffn);
  for (const int layer : m.dense_layers)
    require_in(source, "dense_layers", layer, {0, m.layers - 1LL});
  // The routed experts dominate; in doubles, before any 64-bit count is formed from them.
  const double routed = double(m.layers) * m.routed_experts * 3.0 * m.hidden * m.expert_ffn;
  if (routed > limits::kMaxParameters) {
    throw core::InputError(core::InputLocation{source, "experts", 0},
                           fmt::format("{:.3g} routed expert parameters", routed),
                           fmt::format("at most {:g} parameters", limits::kMaxParameters));
  }
}

}  // namespace

bool MoeModel::is_moe_layer(int layer) const {
  return routed_experts > 0 && !std::binary_search(dense_layers.begin(), dense_layers.end(), layer);
}

int MoeModel::first_moe_layer() const {
  for (int l = 0; l < layers; ++l) {
    if (is_moe_layer(l))
      return l;
  }
  return -1;
}

std::vector<int> MoeModel::moe_layers() const {
  std::vector<int> out;
  for (int l = 0; l < layers; ++l) {
    if (is_moe_layer(l))
      out.push_back(l);
  }
  return out;
}

int MoeModel::qk_head_dim() const {
  return attention == AttentionKind::mla ? mla.qk_nope_head_dim + mla.qk_rope_head_dim : head_dim;
}

int MoeModel::v_head_dim() const {
  return attention == AttentionKind::mla ? mla.v_head_dim : head_dim;
}

int MoeModel::q_dim() const {
  return heads * qk_head_dim();
}

int MoeModel::kv_dim() const {
  return attention == AttentionKind::mla ? heads * qk_head_dim() : kv_heads * head_dim;
}

std::string_view to_string(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::mha:
      return "mha";
    case AttentionKind::gqa:
      return "gqa";
    case AttentionKind::mla:
      return "mla";
  }
  return "?";
}

std::string_view to_string(QkNorm norm) {
  switch (norm) {
    case QkNorm::none:
      return "none";
    case QkNorm::per_head:
      return "per_head";
    case QkNorm::full:
      return "full";
  }
  return "?";
}

MoeModel read_model(const core::ConfigNode& root) {
  root.expect_keys({"name", "source", "family", "layers", "dense_layers", "hidden", "vocab",
                    "tied_embeddings", "attention", "dtype", "experts"});
  MoeModel m;
  m.name = root.at("name").as_string();
  m.source = root.get_string("source", "");
  m.family = root.get_string("family", "");
  m.layers = dim(root, "layers", limits::layers);
  m.hidden = dim(root, "hidden", limits::hidden);
  m.vocab = dim(root, "vocab", limits::vocab);
  m.tied_embeddings = root.get_bool("tied_embeddings", false);
  if (auto dense = root.find("dense_layers")) {
    for (const core::ConfigNode& item : dense->items()) {
      m.dense_layers.push_back(static_cast<int>(item.as_int(0, m.layers - 1)));
    }
  }
  if (auto dtype = root.find("dtype")) {
    auto parsed = core::parse_data_type(dtype->as_string());
    if (!parsed)
      dtype->fail("one of: fp32, bf16, fp16, fp8");
    m.dtype = *parsed;
  }

  core::ConfigNode attn = root.at("attention");
  attn.expect_keys({"kind", "heads", "kv_heads", "head_dim", "qkv_bias", "qk_norm", "q_lora_rank",
                    "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"});
  m.attention = parse_attention(attn.at("kind"));
  m.heads = dim(attn, "heads", limits::heads);
  m.qkv_bias = attn.get_bool("qkv_bias", false);
  if (auto norm = attn.find("qk_norm"))
    m.qk_norm = parse_qk_norm(*norm);
  if (m.attention == AttentionKind::mla) {
    m.kv_heads = m.heads;
    m.mla.q_lora_rank = optional_dim(attn, "q_lora_rank", limits::lora_rank);
    m.mla.kv_lora_rank = dim(attn, "kv_lora_rank", limits::lora_rank);
    m.mla.qk_nope_head_dim = dim(attn, "qk_nope_head_dim", limits::head_dim);
    m.mla.qk_rope_head_dim = dim(attn, "qk_rope_head_dim", limits::head_dim);
    m.mla.v_head_dim = dim(attn, "v_head_dim", limits::head_dim);
  } else {
    m.kv_heads = static_cast<int>(attn.get_int("kv_heads", m.heads, 1, limits::heads.max));
    m.head_dim = static_cast<int>(
        attn.get_int("head_dim", std::max(1, m.hidden / m.heads), 1, limits::head_dim.max));
  }

  core::ConfigNode experts = root.at("experts");
  experts.expect_keys({"routed", "shared", "top_k", "expert_ffn", "shared_expert_ffn",
                       "shared_expert_gate", "dense_ffn"});
  m.routed_experts = dim(experts, "routed", limits::routed_experts);
  m.top_k = dim(experts, "top_k", limits::top_k);
  m.expert_ffn = dim(experts, "expert_ffn", limits::ffn);
  m.shared_experts = optional_dim(experts, "shared", limits::shared_experts);
  // A shared expert is, unless said otherwise, as wide as a routed one.
  m.shared_expert_ffn = static_cast<int>(experts.get_int(
      "shared_expert_ffn", m.shared_experts > 0 ? m.expert_ffn : 0, 0, limits::ffn.max));
  m.shared_expert_gate = experts.get_bool("shared_expert_gate", false);
  m.dense_ffn = optional_dim(experts, "dense_ffn", limits::ffn);
  validate(m, root.source());
  return m;
}

void validate(const MoeModel& m, const std::string& source) {
  validate_ranges(m, source);
  if (m.top_k > m.routed_experts) {
    reject(source, "experts.top_k", m.top_k,
           fmt::format("at most the number of routed experts ({})", m.routed_experts));
  }
  if (m.attention != AttentionKind::mla && m.heads % m.kv_heads != 0) {
    reject(source, "attention.kv_heads", m.kv_heads,
           fmt::format("a divisor of attention.heads ({})", m.heads));
  }
  if (m.attention == AttentionKind::mha && m.kv_heads != m.heads) {
    reject(source, "attention.kv_heads", m.kv_heads,
           fmt::format("equal to attention.heads ({}) for kind mha; use gqa", m.heads));
  }
  if (!std::is_sorted(m.dense_layers.begin(), m.dense_layers.end()) ||
      std::adjacent_find(m.dense_layers.begin(), m.dense_layers.end()) != m.dense_layers.end()) {
    throw core::InputError(core::InputLocation{source, "dense_layers", 0}, "unsorted list",
                           "distinct layer indices in increasing order");
  }
  if (m.shared_experts > 0 && m.shared_expert_ffn <= 0) {
    reject(source, "experts.shared_expert_ffn", m.shared_expert_ffn,
           "a positive size when experts.shared is set");
  }
  if (!m.dense_layers.empty() && m.dense_ffn <= 0) {
    reject(source, "experts.dense_ffn", m.dense_ffn, "a positive size when dense_layers is set");
  }
  if (m.moe_layer_count() <= 0) {
    reject(source, "dense_layers", static_cast<long long>(m.dense_layers.size()),
           "fewer dense layers than layers: a MoE model needs one MoE layer");
  }
}

nlohmann::ordered_json to_json(const MoeModel& m) {
  nlohmann::ordered_json attn = {{"kind", to_string(m.attention)}, {"heads", m.heads}};
  if (m.attention == AttentionKind::mla) {
    attn["q_lora_rank"] = m.mla.q_lora_rank;
    attn["kv_lora_rank"] = m.mla.kv_lora_rank;
    attn["qk_nope_head_dim"] = m.mla.qk_nope_head_dim;
    attn["qk_rope_head_dim"] = m.mla.qk_rope_head_dim;
    attn["v_head_dim"] = m.mla.v_head_dim;
  } else {
    attn["kv_heads"] = m.kv_heads;
    attn["head_dim"] = m.head_dim;
  }
  attn["qkv_bias"] = m.qkv_bias;
  attn["qk_norm"] = to_string(m.qk_norm);
  nlohmann::ordered_json experts = {{"routed", m.routed_experts},
                                    {"shared", m.shared_experts},
                                    {"top_k", m.top_k},
                                    {"expert_ffn", m.expert_ffn},
                                    {"shared_expert_ffn", m.shared_expert_ffn},
                                    {"shared_expert_gate", m.shared_expert_gate},
                                    {"dense_ffn", m.dense_ffn}};
  return nlohmann::ordered_json{{"name", m.name},
                                {"source", m.source},
                                {"family", m.family},
                                {"layers", m.layers},
                                {"dense_layers", m.dense_layers},
                                {"hidden", m.hidden},
                                {"vocab", m.vocab},
                                {"tied_embeddings", m.tied_embeddings},
                                {"dtype", core::to_string(m.dtype)},
                                {"attention", attn},
                                {"experts", experts}};
}

std::string to_yaml(const MoeModel& m) {
  return core::json_to_yaml(to_json(m));
}

}  // namespace mozart::model
