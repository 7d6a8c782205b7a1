// What a trace costs in memory, checked against core::memory_limit() before a trace is built,
// so that a request too large for the machine ends in one clear line with the estimate.
#pragma once

#include <cstdint>
#include <string>

#include "mozart/core/memory_limit.hpp"
#include "mozart/trace/trace.hpp"

namespace mozart::trace {

// Bytes of a trace's columns (experts, optional gates, sequence, position, optional domain);
// saturates at UINT64_MAX instead of overflowing.
std::uint64_t trace_bytes(std::uint64_t tokens, std::uint64_t layers, std::uint64_t top_k,
                          bool gates, bool domains);

// The limit itself is core's (memory_limit.hpp); the trace module's code names it unqualified.
using core::memory_limit;
using core::MemoryLimit;
using core::require_memory;

// The same for a trace of `tokens` tokens × `layers` layers × top-`top_k`.
void require_trace_memory(std::uint64_t tokens, std::uint64_t layers, std::uint64_t top_k,
                          bool gates, bool domains, const std::string& source);
void require_trace_memory(std::uint64_t tokens, const TraceShape& shape, bool gates, bool domains,
                          const std::string& source);

}  // namespace mozart::trace
