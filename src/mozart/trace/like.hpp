// A generator that keeps a real trace's expert identity: `trace gen --like TRACE`.
//
// Each layer of the source is fitted with a mixture of topics over its named experts (a
// mixture of multinomials, by expectation-maximisation on a sample of the source's tokens): a
// topic is a distribution over the layer's experts, so experts that fire together in the source
// share topics, and the mixture's marginal is the source's popularity. A token's topics are a
// chain through the layers (each layer's topic drawn given the previous layer's, from the
// source's joint topic assignments), which keeps cross-layer structure; a token continues its
// predecessor's topics, at every layer, with a persistence fitted so that the generated
// consecutive-token reuse (edit.hpp's consecutive_reuse, mean over layers) matches the
// source's. A token's k experts are drawn without replacement from its topic at each layer,
// the draw order being the rank; gates (when the source has them) are the normalised topic
// weights of the chosen experts, falling with rank.
//
// Layers of the output the source did not record take the nearest recorded layer's law under a
// fixed permutation of the experts (which real experts they are is unknown), sharing that
// layer's topic chain. Fitting and drawing are deterministic for their seeds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/trace/trace.hpp"

namespace mozart::trace {

struct LikeOptions {
  int topics = 32;                  // per layer; fewer when the sample has fewer tokens
  int iterations = 20;              // of expectation-maximisation
  std::size_t fit_tokens = 16384;   // sampled from the source in 16 contiguous runs
  int popularity_rounds = 6;        // of proportional fitting of the experts' shares
  std::size_t reuse_tokens = 8192;  // per generated round fitting popularity or persistence
  int reuse_steps = 12;             // bisection steps of the persistence
  std::uint64_t seed = 1;
};

struct LikeLayer {
  int layer_id = 0;
  std::vector<double> share;                     // the topics' shares of tokens
  std::vector<std::vector<double>> experts;      // [topic][expert], each summing to 1
  std::vector<std::vector<double>> given_above;  // [topic above][topic]; empty at the first
};

struct LikeModel {
  std::string source;
  std::string model;  // the source's
  TraceShape shape;   // the source's
  std::vector<LikeLayer> layers;
  int sequence_length = 1;  // the source's mean, rounded
  bool gates = false;
  double persistence = 0;     // chance a token continues its predecessor's topics
  double target_reuse = -1;   // the source's mean consecutive reuse; -1 when it has no pairs
  double achieved_reuse = 0;  // the fitted law's
  std::vector<std::string> warnings;
};

// Fits `source` (InputError naming `label` when it has fewer tokens than 2 or another fault).
LikeModel fit_like(const Trace& source, const std::string& label, const LikeOptions& options = {});

// `tokens` tokens over the MoE layers of `shape` (default: the source's), whose experts and
// top-k must be the source's (InputError otherwise). `sequence_length` 0 takes the source's.
Trace generate_like(const LikeModel& model, std::size_t tokens, std::uint64_t seed,
                    const TraceShape& shape = {}, const std::string& model_name = {},
                    int sequence_length = 0, const Progress& progress = {});

// How alike two traces' co-activation is, per layer: Pearson correlations over expert pairs
// a < b of
//   matrix  P(a,b), the share of tokens choosing both (mostly popularity: independent choices
//           with the same popularity already correlate highly);
//   lift    P(a,b) / (P(a)·P(b)), with P(a) the share of tokens choosing a: which experts fire
//           together beyond what popularity explains (near 0 for independent choices), over
//           the pairs both traces expect at least 10 times.
struct CoactivationMatch {
  double matrix = 0;
  double lift = 0;
};
// Throws InputError for traces of unlike shapes.
std::vector<CoactivationMatch> coactivation_correlation(const Trace& a, const Trace& b);

nlohmann::ordered_json summary_json(const LikeModel& model);

}  // namespace mozart::trace
