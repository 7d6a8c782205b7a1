// Fitting the parametric generator to real routing, and the statistics that compare the two.
//
// A target holds what the real data says per measured layer: slot counts (popularity), the
// slot-aligned transitions between consecutive measured layers, and, when token-level data is
// available, the co-activation entropy. calibrate() sets each layer's popularity by iterative
// proportional fitting (generated shares driven to the target's) and each layer's topic
// strength by bisection on its co-activation lift when token-level data gives it, else one
// strength for all layers on the transition concentration. Model layers the data did not measure
// take the fitted profile of the nearest measured layer under a fresh permutation of the experts
// (their ids are arbitrary).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mozart/trace/generator.hpp"
#include "mozart/trace/priors.hpp"

namespace mozart::trace {

// One measured layer's statistics, for the side-by-side report (and, as the half-difference of
// two halves of the input, their sampling noise).
struct LayerStats {
  int layer_id = 0;
  double imbalance = 0, entropy = 0, min_share = 0, top_decile_share = 0;
  std::optional<double> coactivation_lift, copies_contiguous16, transition_concentration,
      consecutive_reuse;
};

struct CalibrationTarget {
  std::string label;                                    // e.g. "olmoe/arxiv"
  TraceShape shape;                                     // the measured layers
  std::vector<std::vector<std::uint64_t>> counts;       // per measured layer
  std::vector<std::vector<std::uint64_t>> transitions;  // measured layer i → i+1; may be empty
  std::vector<double> coactivation_lift;                // per measured layer; may be empty
  std::vector<double> copies_contiguous16;  // C_T with 16 contiguous groups; may be empty
  // Per measured layer, when the input keeps token order (consecutive tokens of a sequence);
  // may be empty. calibrate() then fits the stickiness to their mean.
  std::vector<double> consecutive_reuse;
  int sequence_length = 0;  // the input's mean, when it has sequences; 0 unknown
  // Sampling noise of each statistic: half the difference between the input's two halves (by
  // tokens), per measured layer; empty for aggregate counts, which cannot be halved, and for a
  // trace too short to halve; `no_noise` then says which.
  std::vector<LayerStats> noise;
  std::string no_noise;
};

// A trace of at least 2 tokens (InputError otherwise), as trace gen --like asks; its sampling
// noise needs 4.
CalibrationTarget target_from_trace(const Trace& trace, const std::string& label);
// The OLMoE project's expert counts (data/routing-counts/olmoe-mixtral-expert-counts.json):
// `model_key` is "olmoe", "mistral", "olmoe-sft" or "olmoe-dpo"; layers 0, 7 and 15.
CalibrationTarget target_from_expert_counts(const std::string& path, const std::string& model_key,
                                            const std::string& domain, int experts, int top_k);
// Token-level counts: the target is a trace drawn from them (`tokens` tokens, seeded).
CalibrationTarget target_from_token_experts(const TokenExpertCounts& counts, std::size_t tokens,
                                            std::uint64_t seed);

struct CalibrationOptions {
  std::size_t tokens_per_round = 16384;
  int popularity_rounds = 16;
  int bisection_steps = 12;
  std::uint64_t seed = 1;
  Progress progress;  // counts the generated rounds (each tokens_per_round tokens)
};

struct Calibration {
  GeneratorParams params;  // for the model's shape
  std::string fitted_on;   // "coactivation lift", "transition concentration" or "popularity only"
  double achieved = 0;     // the fitted statistic's mean over measured layers, generated
  double target = 0;       // and real
  // The stickiness fitted to the target's consecutive reuse (mean over measured layers), when
  // the target has it: real and generated; -1 when not fitted.
  double reuse_target = -1, reuse_achieved = -1;
  // Fitted values that ended at a bound of their search (the law cannot reach the target
  // there), one line each naming the layer, the value, the bound and the statistic.
  std::vector<std::string> warnings;
};

Calibration calibrate(const CalibrationTarget& target, const TraceShape& model_shape,
                      GeneratorParams start, const CalibrationOptions& options = {});

std::vector<LayerStats> target_stats(const CalibrationTarget& target);
nlohmann::ordered_json to_json(const LayerStats& stats);

}  // namespace mozart::trace
