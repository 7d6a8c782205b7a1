#include "mozart/trace/memory.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace mozart::trace {

std::uint64_t trace_bytes(std::uint64_t tokens, std::uint64_t layers, std::uint64_t top_k,
                          bool gates, bool domains) {
  const std::uint64_t ids =
      core::saturating_mul_bytes(core::saturating_mul_bytes(tokens, layers), top_k);
  const std::uint64_t per_id = sizeof(ExpertId) + (gates ? sizeof(float) : 0);
  const std::uint64_t per_token = 2 * sizeof(std::uint32_t) + (domains ? sizeof(std::uint16_t) : 0);
  return core::saturating_add_bytes(core::saturating_mul_bytes(ids, per_id),
                                    core::saturating_mul_bytes(tokens, per_token));
}

void require_trace_memory(std::uint64_t tokens, const TraceShape& shape, bool gates, bool domains,
                          const std::string& source) {
  require_trace_memory(tokens, shape.layer_ids.size(),
                       static_cast<std::uint64_t>(std::max(shape.top_k, 0)), gates, domains,
                       source);
}

void require_trace_memory(std::uint64_t tokens, std::uint64_t layers, std::uint64_t k, bool gates,
                          bool domains, const std::string& source) {
  core::require_memory(trace_bytes(tokens, layers, k, gates, domains),
                       fmt::format("a trace of {} tokens × {} layers × top-{}{}", tokens, layers, k,
                                   gates ? " with gates" : ""),
                       source);
}

}  // namespace mozart::trace
