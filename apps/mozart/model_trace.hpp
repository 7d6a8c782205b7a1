// What a zoo model tells the trace readers and the generator: its MoE layers, routed experts
// and top-k. Shared by the commands that read or make traces: they fill what a foreign trace
// leaves out, check a trace against the model the user named, and bound what a generated
// trace would take in memory before making it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/study/setup.hpp"
#include "mozart/trace/formats.hpp"

namespace mozart::cli {

// 2^32 expert choices (tokens x MoE layers x top-k, 2 bytes each plus the per-token columns):
// about 8 GB, beyond which a generated trace is surely a typo.
inline constexpr std::size_t kMaxTraceChoices = std::size_t{1} << 32;

inline trace::TraceShape model_shape(const model::MoeModel& m) {
  return {m.moe_layers(), m.routed_experts, m.top_k};
}

// Read options that fill what a foreign trace format leaves out from the model.
inline trace::ReadOptions read_options_for(const model::MoeModel& m) {
  trace::ReadOptions options;
  options.hint = model_shape(m);
  options.model = m.name;
  return options;
}

// A trace read for a model the user named must be of that model's shape: --model is used,
// never silently ignored.
// A trace may hold some of the model's MoE layers (measured routing often samples a few), but
// each must be one of them, with the model's experts and top-k.
inline void check_trace_fits_model(const trace::Trace& t, const model::MoeModel& m,
                                   const std::string& source) {
  const trace::TraceShape shape = model_shape(m);
  const auto& ids = shape.layer_ids;
  const bool layers_fit =
      std::all_of(t.shape.layer_ids.begin(), t.shape.layer_ids.end(),
                  [&](int id) { return std::binary_search(ids.begin(), ids.end(), id); });
  if (layers_fit && t.num_experts() == shape.experts && t.top_k() == shape.top_k)
    return;
  throw core::InputError(
      {source, "shape", 0},
      fmt::format("{} MoE layers, {} experts, top-{}", t.layers(), t.num_experts(), t.top_k()),
      fmt::format("layers among the {} MoE layers of --model {}, {} experts, top-{}", ids.size(),
                  m.name, shape.experts, shape.top_k));
}

// Refuses, before any work, a generated trace too large for memory.
inline void check_generated_size(const model::MoeModel& m, std::size_t tokens,
                                 const core::InputLocation& where) {
  const std::size_t per_token = m.moe_layers().size() * std::size_t(m.top_k);
  if (per_token == 0 || tokens <= kMaxTraceChoices / per_token)
    return;
  throw core::InputError(where, fmt::format("{} tokens", tokens),
                         fmt::format("at most {} tokens of {} ({} expert choices each; at most "
                                     "2^32 choices in a generated trace)",
                                     kMaxTraceChoices / per_token, m.name, per_token));
}

// Says on stderr when the routing `command` drew from the model's family law borrows another
// family's values (study::family_law_warnings). Called once the work is done, so that an error
// stays the one line.
inline void warn_of_family_law(const std::string& command, const model::MoeModel& m) {
  for (const auto& warning : study::family_law_warnings(m))
    fmt::print(stderr, "mozart: warning: {}: {}\n", command, warning);
}

}  // namespace mozart::cli
