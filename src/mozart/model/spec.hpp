// The MoE model specification: the architecture numbers mozart needs from a model, whatever
// family it comes from.
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

struct MoeModel {
  std::string name;    // mozart's id, e.g. "olmoe-1b-7b"
  std::string source;  // where the numbers come from, e.g. "allenai/OLMoE-1B-7B-0924 config.json"
  std::string family;  // HF model_type, e.g. "olmoe", "deepseek_v3"

  int layers = 0;
  std::vector<int> dense_layers;  // sorted layer indices whose FFN is dense, not MoE
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

  int routed_experts = 0;
  int shared_experts = 0;
  int top_k = 0;
  int expert_ffn = 0;               // intermediate size of one routed expert (SwiGLU)
  int shared_expert_ffn = 0;        // intermediate size of one shared expert
  bool shared_expert_gate = false;  // Qwen2-MoE scales the shared expert by a sigmoid gate
  int dense_ffn = 0;                // intermediate size of the dense layers' FFN

  core::DataType dtype = core::DataType::bf16;

  bool is_moe_layer(int layer) const;
  int moe_layer_count() const { return layers - static_cast<int>(dense_layers.size()); }
  int first_moe_layer() const;          // -1 when there is none
  std::vector<int> moe_layers() const;  // the MoE layers' indices, ascending
  // Width of the query, key and value projections' outputs.
  int q_dim() const;
  int kv_dim() const;
  int qk_head_dim() const;  // per-head width of a query/key dot product
  int v_head_dim() const;
};

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
// Parameters of the whole model; the largest real ones hold a few 10^12.
inline constexpr double kMaxParameters = 1e15;
}  // namespace limits

std::string_view to_string(AttentionKind kind);
std::string_view to_string(QkNorm norm);

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
