// A routing trace: for each MoE layer and token, the top-k experts the router chose (and
// optionally their gate weights); for each token, its sequence, position and domain.
//
// Columnar and layer-major: the k choices of token t at layer l are
// experts[(l * tokens + t) * top_k + j], ordered by rank (highest gate first), so per-layer
// statistics read one contiguous block.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "mozart/core/bulk_allocator.hpp"

namespace mozart::trace {

using core::Column;

using ExpertId = std::uint16_t;

// Reports a long loop's progress: `done` of `total` units (bytes read, tokens written or drawn,
// fitting steps), every few milliseconds of work and once at the end with done == total.
// Empty: no reports. Called on the working thread; a display should throttle itself.
using Progress = std::function<void(std::size_t done, std::size_t total)>;

// The dimensions a trace needs before its records are known.
struct TraceShape {
  std::vector<int> layer_ids;  // the model's index of each MoE layer, ascending
  int experts = 0;             // routed experts per layer
  int top_k = 0;
  bool operator==(const TraceShape&) const = default;
};

struct Trace {
  std::string model;  // zoo name or free text; may be empty
  TraceShape shape;
  std::size_t tokens = 0;

  Column<ExpertId> experts;        // layers × tokens × top_k
  Column<float> gates;             // empty, or the same size as experts
  Column<std::uint32_t> sequence;  // per token
  Column<std::uint32_t> position;  // per token, within its sequence
  Column<std::uint16_t> domain;    // empty, or per token: index into domain_names
  std::vector<std::string> domain_names;

  int layers() const { return static_cast<int>(shape.layer_ids.size()); }
  int top_k() const { return shape.top_k; }
  int num_experts() const { return shape.experts; }
  std::size_t records() const { return tokens * static_cast<std::size_t>(layers()); }

  std::span<const ExpertId> choices(int layer, std::size_t token) const {
    return {experts.data() + offset(layer, token), static_cast<std::size_t>(shape.top_k)};
  }
  std::span<const ExpertId> layer_block(int layer) const {
    return {experts.data() + offset(layer, 0), tokens * static_cast<std::size_t>(shape.top_k)};
  }
  std::size_t offset(int layer, std::size_t token) const {
    return (static_cast<std::size_t>(layer) * tokens + token) *
           static_cast<std::size_t>(shape.top_k);
  }
};

// Allocates the columns for `tokens` tokens (experts zeroed, no gates, no domains). A trace
// above memory_limit() (memory.hpp) is an InputError naming the model and the estimate.
Trace make_trace(TraceShape shape, std::size_t tokens, std::string model = {});

// Checks the shape (layer ids ascending and distinct, 1 ≤ k ≤ experts ≤ 65,536) and every
// record: expert ids in range, no expert twice in one token's top-k, finite gates in [0, 1],
// per-token columns of the right length, domain indices in range. The first fault is an
// InputError naming `source`, the layer and the token.
void validate(const Trace& trace, const std::string& source);
// A gate weight a trace may hold, and how an error says so: the one rule validate() and the
// readers that check records as they read them both apply.
inline bool valid_gate(float gate) {
  return std::isfinite(gate) && gate >= 0.0f && gate <= 1.0f;
}
inline constexpr const char* kValidGate = "a finite gate weight in [0, 1]";
void validate_shape(const TraceShape& shape, const std::string& source);
// The part of validate_shape() that needs no layer ids: 1 ≤ k ≤ experts ≤ 65,536.
void validate_choice_shape(const TraceShape& shape, const std::string& source);

}  // namespace mozart::trace
