// The MoE model specification: the architecture numbers mozart needs from a model, whatever
// family it comes from, layer by layer where layers differ (hybrid models mix full, sliding-window
// and linear attention, Mamba and MoE, dense or no FFN).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/core/config.hpp"
#include "mozart/core/limits.hpp"
#include "mozart/core/units.hpp"

namespace mozart::model {

enum class AttentionKind { mha, gqa, mla };
// How query/key normalisation is applied: none, one RMSNorm over each head's dimension, or
// one over the whole projection (OLMoE).
enum class QkNorm { none, per_head, full };

// Multi-head latent attention (DeepSeek-V2/V3). q_lora_rank == 0 means queries are projected
// directly from the hidden state (no query compression).
struct MlaSpec {
  int q_lora_rank = 0;
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
};

// What mixes tokens in a layer. `attention` is the model's main (full, causal) attention;
// `sliding_attention` the same mechanism over a window; `linear_attention` a recurrent state
// (Gated DeltaNet or lightning attention); `mamba` a selective state-space scan; `none` a layer
// that is only an FFN (Nemotron-H).
enum class Mixer { attention, sliding_attention, linear_attention, mamba, none };
// What follows the mixer: routed experts, a dense FFN, both in parallel (Gemma 4), or nothing
// (a Mamba-only or attention-only layer).
enum class Ffn { moe, dense, moe_and_dense, none };

struct LayerKind {
  Mixer mixer = Mixer::attention;
  Ffn ffn = Ffn::moe;
  bool operator==(const LayerKind&) const = default;
};

// Sliding-window attention layers; a 0 size means "as the main attention".
struct SlidingSpec {
  int window = 0;  // tokens each query sees, itself included
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int v_head_dim = 0;
  bool operator==(const SlidingSpec&) const = default;
};

enum class LinearKind { gated_deltanet, lightning };

// Linear attention: per value head a key_head_dim x value_head_dim state updated every token.
// Gated DeltaNet (Qwen3-Next) has key and value heads, a short causal convolution and gates;
// lightning attention (MiniMax-01) has one set of heads and an output gate.
struct LinearSpec {
  LinearKind kind = LinearKind::gated_deltanet;
  int key_heads = 0;
  int value_heads = 0;
  int key_head_dim = 0;
  int value_head_dim = 0;
  int conv_kernel = 0;
  bool operator==(const LinearSpec&) const = default;
};

// Mamba: version 1 (Jamba: dt_rank, per-channel decay) or 2 (Nemotron-H: per-head scalar decay,
// grouped B/C). `inner` is expand * hidden (version 2: heads * head_dim).
struct MambaSpec {
  int version = 1;
  int inner = 0;
  int d_state = 0;
  int d_conv = 0;
  int dt_rank = 0;  // version 1
  int heads = 0;    // version 2
  int groups = 0;   // version 2
  bool conv_bias = true;
  bool proj_bias = false;
  bool inner_norms = false;  // Jamba's RMSNorms on dt, B and C
  bool operator==(const MambaSpec&) const = default;
};

// How the published checkpoint stores weights, when it is quantised. Routed, shared and dense FFN
// weights are stored in `format`; attention projections too unless `attention` is false (gpt-oss
// keeps them in the working type). Embeddings, LM head, routers and norms stay in the working
// type.
enum class QuantFormat { none, fp8, mxfp4, nvfp4 };
struct Quantization {
  QuantFormat format = QuantFormat::none;
  bool attention = true;
  bool operator==(const Quantization&) const = default;
};

struct MoeModel {
  std::string name;    // mozart's id, e.g. "olmoe-1b-7b"
  std::string source;  // where the numbers come from, e.g. "allenai/OLMoE-1B-7B-0924 config.json"
  std::string family;  // HF model_type, e.g. "olmoe", "deepseek_v3"

  int layers = 0;
  std::vector<int> dense_layers;  // sorted layer indices whose FFN is dense, not MoE
  // Each layer's mixer and FFN; empty means every layer is full attention with the FFN that
  // dense_layers says. When set, dense_layers lists the layers whose FFN is Ffn::dense.
  std::vector<LayerKind> layout;
  int hidden = 0;
  int vocab = 0;
  bool tied_embeddings = false;

  AttentionKind attention = AttentionKind::mha;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  MlaSpec mla;
  bool qkv_bias = false;
  QkNorm qk_norm = QkNorm::none;
  int value_head_dim = 0;  // gqa/mha value head width when it differs from head_dim (MiMo)
  bool q_gate = false;     // the query projection also yields an output gate (Qwen3-Next)
  bool o_bias = false;     // output projection bias (gpt-oss)
  bool kv_shared = false;  // keys double as values: no value projection (Gemma 4 full layers)
  SlidingSpec sliding;
  LinearSpec linear;
  MambaSpec mamba;

  int routed_experts = 0;
  int shared_experts = 0;
  int top_k = 0;
  int expert_ffn = 0;               // intermediate size of one routed expert (SwiGLU)
  int shared_expert_ffn = 0;        // intermediate size of one shared expert
  bool shared_expert_gate = false;  // Qwen2-MoE scales the shared expert by a sigmoid gate
  int dense_ffn = 0;                // intermediate size of the dense layers' FFN
  bool gated_ffn = true;            // SwiGLU (3 matrices); false: up, activation, down (relu2)
  bool expert_bias = false;         // experts and router carry biases (gpt-oss)

  core::DataType dtype = core::DataType::bf16;
  Quantization quantization;  // the published checkpoint's storage

  LayerKind layer_kind(int layer) const;
  bool is_hybrid() const { return !layout.empty(); }
  bool is_moe_layer(int layer) const;
  int moe_layer_count() const;
  int first_moe_layer() const;          // -1 when there is none
  std::vector<int> moe_layers() const;  // the MoE layers' indices, ascending
  // Width of the query, key and value projections' outputs.
  int q_dim() const;
  int kv_dim() const;
  int qk_head_dim() const;  // per-head width of a query/key dot product
  int v_head_dim() const;
  int v_dim() const;  // width of the value projection's output (0 when keys are values)
};

// The projection shapes of a softmax-attention layer (full or sliding window) of an mha/gqa
// model: sliding layers may have their own head counts and widths (MiMo, Gemma 4).
struct AttentionShape {
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int v_head_dim = 0;
  bool kv_shared = false;
};
AttentionShape attention_shape(const MoeModel& m, Mixer mixer);

// The range of each size a spec may hold (docs/models.md): what real models hold, with an order
// of magnitude or more to spare, so that the counts computed from them fit 64 bits. read_model,
// the Hugging Face import and validate all apply these same ranges.
struct SizeRange {
  long long min;
  long long max;
};
namespace limits {
inline constexpr SizeRange layers{1, 1024};
inline constexpr SizeRange hidden{1, 1 << 17};
inline constexpr SizeRange vocab{1, 1 << 24};
inline constexpr SizeRange heads{1, 1024};
inline constexpr SizeRange head_dim{1, 1 << 14};
inline constexpr SizeRange lora_rank{0, 1 << 16};
inline constexpr SizeRange routed_experts{1, core::kMaxRoutedExperts};
inline constexpr SizeRange top_k{1, 1024};
inline constexpr SizeRange shared_experts{0, 1024};
inline constexpr SizeRange ffn{0, 1 << 20};
inline constexpr SizeRange window{1, 1 << 24};
inline constexpr SizeRange conv_kernel{0, 64};
// Parameters of the whole model; the largest real ones hold a few 10^12.
inline constexpr double kMaxParameters = 1e15;
}  // namespace limits

std::string_view to_string(AttentionKind kind);
std::string_view to_string(QkNorm norm);
std::string_view to_string(Mixer mixer);
std::string_view to_string(Ffn ffn);
std::string_view to_string(LinearKind kind);
std::string_view to_string(QuantFormat format);
// Stored bytes per weight, block scales included (mxfp4: 32 values share an 8-bit scale;
// nvfp4: 16 values share an fp8 scale; fp8: one fp32 scale per 128x128 block).
double bytes_per_weight(QuantFormat format);
// The dense_layers a layout implies: the layers whose FFN is Ffn::dense.
std::vector<int> dense_layers_of(const std::vector<LayerKind>& layout);

// Reads mozart's own model format (YAML or JSON); unknown keys and inconsistent numbers are
// InputErrors.
MoeModel read_model(const core::ConfigNode& root);

// Checks every field against its range and the fields against each other; read_model and the
// HF import both end with it, so a spec any command would refuse is refused where it is read.
void validate(const MoeModel& model, const std::string& source);

nlohmann::ordered_json to_json(const MoeModel& model);
// mozart's own format, which read_model reads back to an equal spec.
std::string to_yaml(const MoeModel& model);

}  // namespace mozart::model
