#include "mozart/core/heap.hpp"

#include <climits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mozart::core {

bool keep_freed_memory() {
#if defined(__GLIBC__)
  // 32 MiB is the largest mmap threshold glibc takes on 64-bit systems; setting it also stops
  // glibc from moving it.
  constexpr int kMmapThreshold = 32 << 20;
  const bool mmap_set = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1;
  const bool trim_set = mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
  return mmap_set && trim_set;
#else
  return false;
#endif
}

}  // namespace mozart::core
