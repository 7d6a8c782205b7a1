// What a zoo model tells the trace readers and the generator: its MoE layers, routed experts
// and top-k. Shared by the commands that read or make traces.
#pragma once

#include "mozart/model/spec.hpp"
#include "mozart/trace/formats.hpp"

namespace mozart::cli {

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

}  // namespace mozart::cli
