// Expert activation priors: what a routing trace says about each layer's experts.
//
//   V  frequency: each expert's share of the layer's routed slots (sums to 1);
//   C  co-activation: C[a][b] = tokens that chose both a and b (symmetric, zero diagonal);
//   P  C divided by the token count: the probability that a token chooses both;
//   transitions: T[a][b] = tokens whose j-th choice was a at this layer and b at the next
//      (slot-aligned, as the OLMoE project counts them);
//   imbalance (max/mean slots), normalised entropy of V, and drift: V over sliding windows of
//   tokens, with each window's total-variation distance from the one before.
//
// C_T, the copies a token needs in an all-to-all, is the number of distinct groups its k experts
// fall in for a given expert → group map (k when every expert is alone in its group).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/trace/trace.hpp"

namespace mozart::trace {

struct DriftWindow {
  std::size_t first_token = 0;
  std::size_t tokens = 0;
  double imbalance = 0;  // max/mean slots within the window
  double distance = 0;   // total variation from the previous window's V (0 for the first)
};

struct LayerPriors {
  int layer_id = 0;
  std::vector<std::uint64_t> counts;        // routed slots per expert
  std::vector<double> frequency;            // V
  std::vector<std::uint64_t> coactivation;  // C, experts × experts
  std::vector<std::uint64_t> transitions;   // to the next layer; empty for the last
  double imbalance = 0;
  double entropy = 0;  // of V, divided by log(experts): 1 is uniform
  std::vector<DriftWindow> drift;
};

struct Priors {
  std::string model;
  int experts = 0;
  int top_k = 0;
  std::size_t tokens = 0;
  std::vector<LayerPriors> layers;
};

struct PriorOptions {
  std::size_t drift_window = 2048;  // tokens per window; 0 turns drift off
  bool coactivation = true;         // C and transitions cost O(k²) per record
};

Priors compute_priors(const Trace& trace, const PriorOptions& options = {});

// max/mean and normalised entropy of a count vector (1 and 1 for a uniform one).
double imbalance_of(std::span<const std::uint64_t> counts);
double normalised_entropy(std::span<const std::uint64_t> counts);

// Share of the slot-aligned transitions that go to each source expert's most common target:
// 1/experts when the next layer's choice is independent of this one's and popularity is flat,
// 1 when it is determined.
double transition_concentration(std::span<const std::uint64_t> transitions, int experts);
// How much more often experts are chosen together than popularity alone explains: the mean,
// over co-activated pairs weighted by their count, of log(P(a,b) / (P(a) · P(b))), where P(a)
// is the share of tokens choosing a and P(a,b) of tokens choosing both. Near
// log((k-1)/k · E/(E-1)) (slightly below 0) for independent choices; higher when tokens pick
// clusters of experts.
double coactivation_lift(std::span<const std::uint64_t> coactivation,
                         std::span<const std::uint64_t> counts, int top_k);

// C_T at one layer and averaged over all layers, for an expert → group map.
double copies_per_token(const Trace& trace, int layer, std::span<const int> group_of_expert);
double copies_per_token(const Trace& trace, std::span<const int> group_of_expert);
// The map that puts experts e·groups/E.. contiguously into `groups` groups.
std::vector<int> contiguous_groups(int experts, int groups);

// The summary per layer, and with `full` also V, C, transitions and drift; drift_mean and
// drift_max only when the trace holds two windows or more.
nlohmann::ordered_json to_json(const Priors& priors, bool full);

}  // namespace mozart::trace
