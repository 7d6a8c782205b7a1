// What a trace costs in memory, and the limit above which mozart refuses to build one, so that
// a request too large for the machine ends in one clear line with the estimate instead of
// std::bad_alloc (or the machine swapping).
//
// The limit defaults to 3/4 of the memory this process may use: physical memory (sysconf) or
// the cgroup's memory.max, whichever is smaller. The environment variable MOZART_MEMORY_LIMIT
// overrides it with a byte quantity ("64 GiB", "5e10") or "unlimited".
#pragma once

#include <cstdint>
#include <string>

#include "mozart/trace/trace.hpp"

namespace mozart::trace {

// Bytes of a trace's columns (experts, optional gates, sequence, position, optional domain);
// saturates at UINT64_MAX instead of overflowing.
std::uint64_t trace_bytes(std::uint64_t tokens, std::uint64_t layers, std::uint64_t top_k,
                          bool gates, bool domains);

// The limit in bytes (UINT64_MAX when unlimited), and where it comes from, for messages.
struct MemoryLimit {
  std::uint64_t bytes = 0;
  std::string origin;  // e.g. "3/4 of physical memory"
};
MemoryLimit memory_limit();

// Throws InputError naming `source` and the estimate when `bytes` exceed memory_limit().
// `what` describes the request, e.g. "a trace of 4294967296 tokens × 58 layers × top-8".
void require_memory(std::uint64_t bytes, const std::string& what, const std::string& source);

// The same for a trace of `tokens` tokens × `layers` layers × top-`top_k`.
void require_trace_memory(std::uint64_t tokens, std::uint64_t layers, std::uint64_t top_k,
                          bool gates, bool domains, const std::string& source);
void require_trace_memory(std::uint64_t tokens, const TraceShape& shape, bool gates, bool domains,
                          const std::string& source);

}  // namespace mozart::trace
