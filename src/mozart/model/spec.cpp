#include "mozart/model/spec.hpp"

#include <algorithm>
#include <array>

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

// A name from a fixed table, or a one-line error listing the table.
template <typename E, std::size_t N>
E parse_named(const core::ConfigNode& node, const std::array<E, N>& values) {
  const std::string s = node.as_string();
  std::string names;
  for (E v : values) {
    if (s == to_string(v))
      return v;
    names += (names.empty() ? "" : ", ") + std::string(to_string(v));
  }
  node.fail("one of: " + names);
}

constexpr std::array kMixers = {Mixer::attention, Mixer::sliding_attention, Mixer::linear_attention,
                                Mixer::mamba, Mixer::none};
constexpr std::array kFfns = {Ffn::moe, Ffn::dense, Ffn::moe_and_dense, Ffn::none};

// A layout entry is "<mixer>/<ffn>", e.g. "linear_attention/moe" or "mamba/none".
LayerKind parse_layer_kind(const core::ConfigNode& node) {
  const std::string s = node.as_string();
  const std::size_t slash = s.find('/');
  LayerKind kind;
  bool mixer_ok = false, ffn_ok = false;
  for (Mixer m : kMixers)
    if (slash != std::string::npos && s.substr(0, slash) == to_string(m))
      kind.mixer = m, mixer_ok = true;
  for (Ffn f : kFfns)
    if (slash != std::string::npos && s.substr(slash + 1) == to_string(f))
      kind.ffn = f, ffn_ok = true;
  if (!mixer_ok || !ffn_ok) {
    node.fail(
        "<mixer>/<ffn> with mixer one of attention, sliding_attention, linear_attention, mamba, "
        "none and ffn one of moe, dense, moe+dense, none");
  }
  return kind;
}

std::string layer_kind_text(LayerKind kind) {
  return fmt::format("{}/{}", to_string(kind.mixer), to_string(kind.ffn));
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

void read_sliding(const core::ConfigNode& node, SlidingSpec& s) {
  node.expect_keys({"window", "heads", "kv_heads", "head_dim", "v_head_dim"});
  s.window = dim(node, "window", limits::window);
  s.heads = optional_dim(node, "heads", limits::heads);
  s.kv_heads = optional_dim(node, "kv_heads", limits::heads);
  s.head_dim = optional_dim(node, "head_dim", limits::head_dim);
  s.v_head_dim = optional_dim(node, "v_head_dim", limits::head_dim);
}

void read_linear(const core::ConfigNode& node, LinearSpec& s) {
  node.expect_keys(
      {"kind", "key_heads", "value_heads", "key_head_dim", "value_head_dim", "conv_kernel"});
  s.kind =
      parse_named(node.at("kind"), std::array{LinearKind::gated_deltanet, LinearKind::lightning});
  s.key_heads = dim(node, "key_heads", limits::heads);
  s.value_heads = static_cast<int>(node.get_int("value_heads", s.key_heads, 1, limits::heads.max));
  s.key_head_dim = dim(node, "key_head_dim", limits::head_dim);
  s.value_head_dim =
      static_cast<int>(node.get_int("value_head_dim", s.key_head_dim, 1, limits::head_dim.max));
  s.conv_kernel = optional_dim(node, "conv_kernel", limits::conv_kernel);
}

void read_mamba(const core::ConfigNode& node, MambaSpec& s) {
  node.expect_keys({"version", "inner", "d_state", "d_conv", "dt_rank", "heads", "groups",
                    "conv_bias", "proj_bias", "inner_norms"});
  s.version = static_cast<int>(node.get_int("version", 1, 1, 2));
  s.inner = dim(node, "inner", limits::ffn);
  s.d_state = dim(node, "d_state", limits::head_dim);
  s.d_conv = dim(node, "d_conv", limits::conv_kernel);
  s.dt_rank = optional_dim(node, "dt_rank", limits::ffn);
  s.heads = optional_dim(node, "heads", limits::heads);
  s.groups = optional_dim(node, "groups", limits::heads);
  s.conv_bias = node.get_bool("conv_bias", true);
  s.proj_bias = node.get_bool("proj_bias", false);
  s.inner_norms = node.get_bool("inner_norms", false);
}

void read_quantization(const core::ConfigNode& node, Quantization& q) {
  node.expect_keys({"format", "attention"});
  q.format = parse_named(node.at("format"), std::array{QuantFormat::none, QuantFormat::fp8,
                                                       QuantFormat::mxfp4, QuantFormat::nvfp4});
  q.attention = node.get_bool("attention", true);
}

bool uses_mixer(const MoeModel& m, Mixer mixer) {
  return std::any_of(m.layout.begin(), m.layout.end(),
                     [&](const LayerKind& k) { return k.mixer == mixer; });
}

// Each mixer a layout uses needs its numbers; each FFN kind its size.
void validate_layout(const MoeModel& m, const std::string& source) {
  if (m.layout.empty())
    return;
  if (static_cast<int>(m.layout.size()) != m.layers) {
    reject(source, "layout", static_cast<long long>(m.layout.size()),
           fmt::format("one entry per layer ({} layers)", m.layers));
  }
  if (dense_layers_of(m.layout) != m.dense_layers) {
    throw core::InputError(core::InputLocation{source, "dense_layers", 0},
                           "a list that disagrees with layout",
                           "the layers whose layout FFN is dense, or no dense_layers key");
  }
  if (uses_mixer(m, Mixer::sliding_attention)) {
    require_in(source, "sliding_attention.window", m.sliding.window, limits::window);
    const AttentionShape s = attention_shape(m, Mixer::sliding_attention);
    if (m.attention != AttentionKind::mla && s.heads % s.kv_heads != 0) {
      reject(source, "sliding_attention.kv_heads", s.kv_heads,
             fmt::format("a divisor of the sliding layers' heads ({})", s.heads));
    }
  }
  if (uses_mixer(m, Mixer::linear_attention)) {
    require_in(source, "linear_attention.key_heads", m.linear.key_heads, limits::heads);
    require_in(source, "linear_attention.value_heads", m.linear.value_heads, limits::heads);
    require_in(source, "linear_attention.key_head_dim", m.linear.key_head_dim, limits::head_dim);
    require_in(source, "linear_attention.value_head_dim", m.linear.value_head_dim,
               limits::head_dim);
  }
  if (uses_mixer(m, Mixer::mamba)) {
    require_in(source, "mamba.inner", m.mamba.inner, {1, limits::ffn.max});
    require_in(source, "mamba.d_state", m.mamba.d_state, limits::head_dim);
    require_in(source, "mamba.d_conv", m.mamba.d_conv, limits::conv_kernel);
    if (m.mamba.version == 1) {
      require_in(source, "mamba.dt_rank", m.mamba.dt_rank, {1, limits::ffn.max});
    } else {
      require_in(source, "mamba.heads", m.mamba.heads, limits::heads);
      require_in(source, "mamba.groups", m.mamba.groups, limits::heads);
      if (m.mamba.inner % m.mamba.heads != 0 || m.mamba.heads % m.mamba.groups != 0) {
        reject(source, "mamba.heads", m.mamba.heads,
               "a divisor of mamba.inner and a multiple of mamba.groups");
      }
    }
  }
  const bool needs_dense = std::any_of(m.layout.begin(), m.layout.end(), [](const LayerKind& k) {
    return k.ffn == Ffn::moe_and_dense;
  });
  if (needs_dense && m.dense_ffn <= 0) {
    reject(source, "experts.dense_ffn", m.dense_ffn,
           "a positive size when a layer's FFN is moe+dense");
  }
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

LayerKind MoeModel::layer_kind(int layer) const {
  if (!layout.empty())
    return layout[static_cast<std::size_t>(layer)];
  const bool dense = std::binary_search(dense_layers.begin(), dense_layers.end(), layer);
  return LayerKind{Mixer::attention, dense ? Ffn::dense : Ffn::moe};
}

bool MoeModel::is_moe_layer(int layer) const {
  const Ffn ffn = layer_kind(layer).ffn;
  return routed_experts > 0 && (ffn == Ffn::moe || ffn == Ffn::moe_and_dense);
}

int MoeModel::moe_layer_count() const {
  if (layout.empty())
    return layers - static_cast<int>(dense_layers.size());
  int n = 0;
  for (int l = 0; l < layers; ++l)
    n += is_moe_layer(l) ? 1 : 0;
  return n;
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
  if (attention == AttentionKind::mla)
    return mla.v_head_dim;
  return value_head_dim > 0 ? value_head_dim : head_dim;
}

int MoeModel::v_dim() const {
  if (attention == AttentionKind::mla)
    return heads * mla.v_head_dim;
  return kv_shared ? 0 : kv_heads * v_head_dim();
}

int MoeModel::q_dim() const {
  return heads * qk_head_dim();
}

int MoeModel::kv_dim() const {
  return attention == AttentionKind::mla ? heads * qk_head_dim() : kv_heads * head_dim;
}

AttentionShape attention_shape(const MoeModel& m, Mixer mixer) {
  AttentionShape s{m.heads, m.kv_heads, m.head_dim, m.v_head_dim(), m.kv_shared};
  if (mixer != Mixer::sliding_attention)
    return s;
  const SlidingSpec& w = m.sliding;
  const auto pick = [](int own, int main) { return own > 0 ? own : main; };
  s.heads = pick(w.heads, s.heads);
  s.kv_heads = pick(w.kv_heads, s.kv_heads);
  s.head_dim = pick(w.head_dim, s.head_dim);
  s.v_head_dim = pick(w.v_head_dim, s.v_head_dim);
  s.kv_shared = false;
  return s;
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

std::string_view to_string(Mixer mixer) {
  switch (mixer) {
    case Mixer::attention:
      return "attention";
    case Mixer::sliding_attention:
      return "sliding_attention";
    case Mixer::linear_attention:
      return "linear_attention";
    case Mixer::mamba:
      return "mamba";
    case Mixer::none:
      return "none";
  }
  return "?";
}

std::string_view to_string(Ffn ffn) {
  switch (ffn) {
    case Ffn::moe:
      return "moe";
    case Ffn::dense:
      return "dense";
    case Ffn::moe_and_dense:
      return "moe+dense";
    case Ffn::none:
      return "none";
  }
  return "?";
}

std::string_view to_string(LinearKind kind) {
  return kind == LinearKind::lightning ? "lightning" : "gated_deltanet";
}

std::string_view to_string(QuantFormat format) {
  switch (format) {
    case QuantFormat::none:
      return "none";
    case QuantFormat::fp8:
      return "fp8";
    case QuantFormat::mxfp4:
      return "mxfp4";
    case QuantFormat::nvfp4:
      return "nvfp4";
  }
  return "?";
}

double bytes_per_weight(QuantFormat format) {
  switch (format) {
    case QuantFormat::fp8:
      return 1.0 + 4.0 / (128.0 * 128.0);
    case QuantFormat::mxfp4:
      return (32 * 4 + 8) / (32.0 * 8);
    case QuantFormat::nvfp4:
      return (16 * 4 + 8) / (16.0 * 8);
    case QuantFormat::none:
      break;
  }
  return 0;
}

std::vector<int> dense_layers_of(const std::vector<LayerKind>& layout) {
  std::vector<int> out;
  for (std::size_t l = 0; l < layout.size(); ++l)
    if (layout[l].ffn == Ffn::dense)
      out.push_back(static_cast<int>(l));
  return out;
}

MoeModel read_model(const core::ConfigNode& root) {
  root.expect_keys({"name", "source", "family", "layers", "dense_layers", "layout", "hidden",
                    "vocab", "tied_embeddings", "attention", "sliding_attention",
                    "linear_attention", "mamba", "dtype", "quantization", "experts"});
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
  if (auto layout = root.find("layout")) {
    for (const core::ConfigNode& item : layout->items())
      m.layout.push_back(parse_layer_kind(item));
    if (!root.has("dense_layers"))
      m.dense_layers = dense_layers_of(m.layout);
  }
  if (auto node = root.find("sliding_attention"))
    read_sliding(*node, m.sliding);
  if (auto node = root.find("linear_attention"))
    read_linear(*node, m.linear);
  if (auto node = root.find("mamba"))
    read_mamba(*node, m.mamba);
  if (auto node = root.find("quantization"))
    read_quantization(*node, m.quantization);
  if (auto dtype = root.find("dtype")) {
    auto parsed = core::parse_data_type(dtype->as_string());
    if (!parsed)
      dtype->fail("one of: fp32, bf16, fp16, fp8");
    m.dtype = *parsed;
  }

  core::ConfigNode attn = root.at("attention");
  attn.expect_keys({"kind", "heads", "kv_heads", "head_dim", "qkv_bias", "qk_norm", "q_lora_rank",
                    "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "q_gate",
                    "o_bias", "kv_shared"});
  m.attention = parse_attention(attn.at("kind"));
  m.heads = dim(attn, "heads", limits::heads);
  m.qkv_bias = attn.get_bool("qkv_bias", false);
  m.q_gate = attn.get_bool("q_gate", false);
  m.o_bias = attn.get_bool("o_bias", false);
  m.kv_shared = attn.get_bool("kv_shared", false);
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
    m.value_head_dim = optional_dim(attn, "v_head_dim", limits::head_dim);
  }

  core::ConfigNode experts = root.at("experts");
  experts.expect_keys({"routed", "shared", "top_k", "expert_ffn", "shared_expert_ffn",
                       "shared_expert_gate", "dense_ffn", "gated", "bias"});
  m.routed_experts = dim(experts, "routed", limits::routed_experts);
  m.top_k = dim(experts, "top_k", limits::top_k);
  m.expert_ffn = dim(experts, "expert_ffn", limits::ffn);
  m.shared_experts = optional_dim(experts, "shared", limits::shared_experts);
  // A shared expert is, unless said otherwise, as wide as a routed one.
  m.shared_expert_ffn = static_cast<int>(experts.get_int(
      "shared_expert_ffn", m.shared_experts > 0 ? m.expert_ffn : 0, 0, limits::ffn.max));
  m.shared_expert_gate = experts.get_bool("shared_expert_gate", false);
  m.dense_ffn = optional_dim(experts, "dense_ffn", limits::ffn);
  m.gated_ffn = experts.get_bool("gated", true);
  m.expert_bias = experts.get_bool("bias", false);
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
  validate_layout(m, source);
  if (!m.dense_layers.empty() && m.dense_ffn <= 0) {
    reject(source, "experts.dense_ffn", m.dense_ffn, "a positive size when dense_layers is set");
  }
  if (m.moe_layer_count() <= 0) {
    reject(source, "dense_layers", static_cast<long long>(m.dense_layers.size()),
           "fewer dense layers than layers: a MoE model needs one MoE layer");
  }
}

namespace {

// The numbers of the other mixers, for the ones the layout uses.
void add_mixer_specs(nlohmann::ordered_json& out, const MoeModel& m) {
  if (uses_mixer(m, Mixer::sliding_attention)) {
    const SlidingSpec& s = m.sliding;
    nlohmann::ordered_json j{{"window", s.window}};
    for (const auto& [key, value] :
         {std::pair{"heads", s.heads}, std::pair{"kv_heads", s.kv_heads},
          std::pair{"head_dim", s.head_dim}, std::pair{"v_head_dim", s.v_head_dim}})
      if (value > 0)
        j[key] = value;
    out["sliding_attention"] = j;
  }
  if (uses_mixer(m, Mixer::linear_attention)) {
    const LinearSpec& s = m.linear;
    out["linear_attention"] = {
        {"kind", to_string(s.kind)},          {"key_heads", s.key_heads},
        {"value_heads", s.value_heads},       {"key_head_dim", s.key_head_dim},
        {"value_head_dim", s.value_head_dim}, {"conv_kernel", s.conv_kernel}};
  }
  if (uses_mixer(m, Mixer::mamba)) {
    const MambaSpec& s = m.mamba;
    nlohmann::ordered_json j{
        {"version", s.version}, {"inner", s.inner}, {"d_state", s.d_state}, {"d_conv", s.d_conv}};
    if (s.version == 1) {
      j["dt_rank"] = s.dt_rank;
    } else {
      j["heads"] = s.heads;
      j["groups"] = s.groups;
    }
    j["conv_bias"] = s.conv_bias;
    j["proj_bias"] = s.proj_bias;
    j["inner_norms"] = s.inner_norms;
    out["mamba"] = j;
  }
}

}  // namespace

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
    if (m.value_head_dim > 0)
      attn["v_head_dim"] = m.value_head_dim;
  }
  attn["qkv_bias"] = m.qkv_bias;
  attn["qk_norm"] = to_string(m.qk_norm);
  // Features most models lack appear only when present, so older files read and print as before.
  if (m.q_gate)
    attn["q_gate"] = true;
  if (m.o_bias)
    attn["o_bias"] = true;
  if (m.kv_shared)
    attn["kv_shared"] = true;
  nlohmann::ordered_json experts = {{"routed", m.routed_experts},
                                    {"shared", m.shared_experts},
                                    {"top_k", m.top_k},
                                    {"expert_ffn", m.expert_ffn},
                                    {"shared_expert_ffn", m.shared_expert_ffn},
                                    {"shared_expert_gate", m.shared_expert_gate},
                                    {"dense_ffn", m.dense_ffn}};
  if (!m.gated_ffn)
    experts["gated"] = false;
  if (m.expert_bias)
    experts["bias"] = true;
  nlohmann::ordered_json out{{"name", m.name},
                             {"source", m.source},
                             {"family", m.family},
                             {"layers", m.layers},
                             {"dense_layers", m.dense_layers}};
  if (!m.layout.empty()) {
    nlohmann::ordered_json layout = nlohmann::ordered_json::array();
    for (const LayerKind& kind : m.layout)
      layout.push_back(layer_kind_text(kind));
    out["layout"] = layout;
  }
  out["hidden"] = m.hidden;
  out["vocab"] = m.vocab;
  out["tied_embeddings"] = m.tied_embeddings;
  out["dtype"] = core::to_string(m.dtype);
  if (m.quantization.format != QuantFormat::none) {
    out["quantization"] = {{"format", to_string(m.quantization.format)},
                           {"attention", m.quantization.attention}};
  }
  out["attention"] = attn;
  add_mixer_specs(out, m);
  out["experts"] = experts;
  return out;
}

std::string to_yaml(const MoeModel& m) {
  return core::json_to_yaml(to_json(m));
}

}  // namespace mozart::model
