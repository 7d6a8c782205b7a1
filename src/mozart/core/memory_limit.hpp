// The memory above which mozart refuses to build something (a trace, a collective's plan), so
// that a request too large for the machine ends in one clear line with the estimate instead of
// std::bad_alloc (or the machine swapping).
//
// The limit defaults to 3/4 of the memory this process may use: physical memory (sysconf) or
// the cgroup's memory.max, whichever is smaller. The environment variable MOZART_MEMORY_LIMIT
// overrides it with a byte quantity ("64 GiB", "5e10") or "unlimited". The variable is read at
// every call; the machine's memory once per process.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace mozart::core {

inline constexpr std::uint64_t kUnlimitedBytes = std::numeric_limits<std::uint64_t>::max();

// Estimates that saturate at kUnlimitedBytes instead of overflowing.
std::uint64_t saturating_mul_bytes(std::uint64_t a, std::uint64_t b);
std::uint64_t saturating_add_bytes(std::uint64_t a, std::uint64_t b);

// "10.9 TiB": about three significant figures in the largest binary unit.
std::string human_bytes(std::uint64_t bytes);

// The limit in bytes (kUnlimitedBytes when unlimited), and where it comes from, for messages.
struct MemoryLimit {
  std::uint64_t bytes = 0;
  std::string origin;  // e.g. "3/4 of the 23.5 GiB of physical memory; set ..."
};
MemoryLimit memory_limit();

// Throws InputError naming `source` and the estimate when `bytes` exceed memory_limit().
// `what` describes the request, e.g. "a trace of 4294967296 tokens × 58 layers × top-8".
void require_memory(std::uint64_t bytes, const std::string& what, const std::string& source);

}  // namespace mozart::core
