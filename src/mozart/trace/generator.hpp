// Synthetic routing traces that behave like real routing.
//
// The parametric generator: each layer has a popularity (log-weights, log-normal with spread
// `skew` unless calibrated) and `topics` latent topics, each favouring a random subset of the
// layer's experts by a log-boost `topic_strength`. A sequence draws a domain; a domain is a
// mixture over topics; a token keeps the previous token's topic with probability `stickiness`
// (temporal locality) and otherwise draws a new one from its domain. The same topic drives every
// layer of a token, which couples the layers (cross-layer transitions). Each layer's k experts
// are drawn without replacement in proportion to exp(log-weight + boost), ranked by weight.
//
// The token-experts sampler: routing grounded in measured specialisation. Token ids are drawn
// by their frequency and each token's k experts without replacement in proportion to how often
// that token was routed to each expert (the OLMoE project's per-token counts).
//
// Both are deterministic for a seed. The parametric law is fixed by the parameters (including
// structure_seed); the seed passed to generate() only draws the tokens.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/trace/trace.hpp"

namespace mozart::trace {

// The defaults of skew and topic_strength are rounded from `mozart trace calibrate` on OLMoE's
// arxiv counts (log-weight spread 2.16, mean strength 4.6; docs/traces.md): the "olmoe" law of
// default_law, real routing's skew and co-activation for aux-loss models without data of their
// own.
struct GeneratorParams {
  double skew = 2.0;            // standard deviation of the log-normal popularity
  int topics = 8;               // latent topics per layer
  double topic_share = 0.25;    // share of a layer's experts each topic favours
  double topic_strength = 4.5;  // log-boost of a topic's experts
  double stickiness = 0.9;      // chance a token keeps its predecessor's topic
  double domain_spread = 1.0;   // log-normal spread of the domains' topic mixtures
  int sequence_length = 256;
  std::vector<std::string> domains = {"synthetic"};
  bool gates = true;
  // Seeds the routing law itself (drawn popularity, topics' experts, domains' mixtures), so
  // that traces drawn with different seeds come from the same law.
  std::uint64_t structure_seed = 1;
  // Calibrated topic strength per MoE layer; empty to use topic_strength at every layer.
  std::vector<double> layer_strength;
  // Calibrated log-weights per layer (experts entries each), replacing the drawn popularity;
  // empty to draw it. One vector per MoE layer of the shape it is used with.
  std::vector<std::vector<double>> popularity;
  // Balanced law: each layer's log-weights get a per-expert bias under which every expert's
  // expected share of the slots is equal, topics and domains included (what DeepSeek-V3's
  // loss-free bias, updated every step toward equal load, converges to); the popularity (drawn
  // with `skew`, or calibrated) is then the residual imbalance on top of it. Unbalanced, the
  // topics' uneven cover of the experts adds to the popularity's skew.
  bool balanced = false;
  bool operator==(const GeneratorParams&) const = default;
};

// A named generator law standing in for a family's routing when a model has no data of its own
// (docs/traces.md, "Defaults by family").
struct DefaultLaw {
  std::string name;
  GeneratorParams params;
  std::string calibrated_on;  // the zoo model whose routing the law's values were fitted to
  std::string source;         // how the values were obtained
};

// "olmoe", "mixtral" (calibrated on those models' routing) or "loss-free-bias"; another name is
// an InputError naming `source`.
DefaultLaw default_law(const std::string& name, const std::string& source = "default law");
std::vector<std::string> default_law_names();

// Throws InputError (naming `source`) for out-of-range parameters or a popularity whose
// dimensions do not match `shape`.
double strength_at(const GeneratorParams& params, std::size_t layer);

void check_params(const GeneratorParams& params, const TraceShape& shape,
                  const std::string& source);

// Refuses (InputError with the estimate) a trace above memory_limit() before drawing it;
// `progress` counts tokens drawn.
Trace generate(const TraceShape& shape, std::size_t tokens, const GeneratorParams& params,
               std::uint64_t seed, const std::string& model = {}, const Progress& progress = {});

nlohmann::ordered_json to_json(const GeneratorParams& params);
GeneratorParams params_from_json(const nlohmann::json& json, const std::string& source);

// Per-token expert counts at some layers: counts[i] belongs to layer_ids[i] and maps a token id
// to (expert, count) pairs. A token that occurred n times has counts summing to n · top_k.
struct TokenExpertCounts {
  std::string model;
  std::string domain;
  int experts = 0;
  int top_k = 0;
  std::vector<int> layer_ids;
  std::vector<std::map<std::int64_t, std::vector<std::pair<int, std::uint32_t>>>> counts;
};

// Reads the shared data's token-experts JSON (see data/routing-counts/README.md).
TokenExpertCounts read_token_expert_counts(const std::string& path);

// A trace over the counted layers: token ids drawn by frequency, independently (the counts keep
// no order), in sequences of `sequence_length`.
Trace sample_token_experts(const TokenExpertCounts& counts, std::size_t tokens, int sequence_length,
                           std::uint64_t seed, const Progress& progress = {});

}  // namespace mozart::trace
