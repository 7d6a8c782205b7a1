#include "mozart/core/memory_limit.hpp"

#include <cstdlib>
#include <fstream>
#include <limits>
#include <string_view>

#include <fmt/format.h>
#include <unistd.h>

#include "mozart/core/error.hpp"
#include "mozart/core/units.hpp"

namespace mozart::core {
namespace {

constexpr const char* kVariable = "MOZART_MEMORY_LIMIT";

std::uint64_t physical_memory() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0)
    return kUnlimitedBytes;
  return saturating_mul_bytes(static_cast<std::uint64_t>(pages), static_cast<std::uint64_t>(page));
}

// A container's limit (cgroup v2, then v1); UINT64_MAX when there is none.
std::uint64_t cgroup_memory() {
  for (const char* path :
       {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(path);
    std::uint64_t bytes = 0;
    if (in >> bytes && bytes > 0)
      return bytes;
  }
  return kUnlimitedBytes;
}

}  // namespace

std::uint64_t saturating_mul_bytes(std::uint64_t a, std::uint64_t b) {
  std::uint64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? kUnlimitedBytes : product;
}

std::uint64_t saturating_add_bytes(std::uint64_t a, std::uint64_t b) {
  std::uint64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? kUnlimitedBytes : sum;
}

// About three significant figures in the largest binary unit that keeps the number at least 1.
std::string human_bytes(std::uint64_t bytes) {
  if (bytes == kUnlimitedBytes)
    return "unlimited";
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  auto value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6)
    value /= 1024, ++unit;
  const int decimals = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return fmt::format("{:.{}f} {}", value, decimals, kUnits[unit]);
}

MemoryLimit memory_limit() {
  if (const char* text = std::getenv(kVariable); text != nullptr && *text != '\0') {
    if (std::string_view(text) == "unlimited")
      return {kUnlimitedBytes, fmt::format("{}=unlimited", kVariable)};
    const auto bytes = core::parse_quantity(text, core::Dimension::bytes);
    if (!bytes || !(*bytes > 0))
      throw core::InputError({kVariable, "", 0}, text,
                             fmt::format("a byte quantity ({}) or \"unlimited\"",
                                         core::units_of(core::Dimension::bytes)));
    const auto limit = *bytes >= 1.8e19 ? kUnlimitedBytes : static_cast<std::uint64_t>(*bytes);
    return {limit, fmt::format("{}={}", kVariable, text)};
  }
  // The machine's and the container's memory are read once: a serving run checks a plan's
  // memory for every collective it builds (thousands an iteration), and reading the cgroup's
  // files each time cost 4% of it.
  static const MemoryLimit system = [] {
    const std::uint64_t physical = physical_memory();
    const std::uint64_t cgroup = cgroup_memory();
    const bool contained = cgroup < physical;
    const std::uint64_t usable = contained ? cgroup : physical;
    return MemoryLimit{
        usable == kUnlimitedBytes ? kUnlimitedBytes : usable / 4 * 3,
        fmt::format("3/4 of the {} of {}; set {} to change it", human_bytes(usable),
                    contained ? "container's memory limit" : "physical memory", kVariable)};
  }();
  return system;
}

void require_memory(std::uint64_t bytes, const std::string& what, const std::string& source) {
  const MemoryLimit limit = memory_limit();
  if (bytes <= limit.bytes)
    return;
  // Not user text, so not quoted (a quoted value is capped at 80 characters).
  throw core::InputError(
      source, fmt::format("field 'memory': got {} needing {}, expected at most "
                          "{} ({})",
                          what, human_bytes(bytes), human_bytes(limit.bytes), limit.origin));
}

}  // namespace mozart::core
