#include "mozart/core/heap.hpp"

#include <climits>
#include <cstdint>
#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace mozart::core {
namespace {

#if defined(__GLIBC__)
// Grows the heap once by a gigabyte of address space (glibc pads an extension of the heap's top
// by M_TOP_PAD, set back to its default after this one) and advises transparent huge pages for
// all of it. Address space only: pages are faulted in as they are first written, 2 MiB at a
// time where the kernel can. Past that gigabyte the heap grows in ordinary pages. Advice only: a
// kernel that declines leaves 4 KiB pages, nothing else changes.
void advise_huge_heap() {
  constexpr int kTopPad = 1 << 30;
  constexpr int kDefaultTopPad = 128 << 10;  // glibc's DEFAULT_TOP_PAD
  if (mallopt(M_TOP_PAD, kTopPad) != 1)
    return;
  char* const before = static_cast<char*>(sbrk(0));
  // Under the mmap threshold, so from the heap; larger than what a program's start leaves free
  // at the heap's top, so the heap grows by it and the pad. Volatile: the compiler would drop
  // an allocation that is freed unused.
  void* volatile probe = std::malloc(16 << 20);
  std::free(probe);
  mallopt(M_TOP_PAD, kDefaultTopPad);
  char* const after = static_cast<char*>(sbrk(0));
  const auto page = std::uintptr_t(sysconf(_SC_PAGESIZE));
  const std::uintptr_t start = (std::uintptr_t(before) + page - 1) & ~(page - 1);
  if (before != reinterpret_cast<char*>(-1) && std::uintptr_t(after) > start)
    madvise(reinterpret_cast<void*>(start), std::uintptr_t(after) - start, MADV_HUGEPAGE);
}
#endif

}  // namespace

bool keep_freed_memory() {
#if defined(__GLIBC__)
  // 32 MiB is the largest mmap threshold glibc takes on 64-bit systems; setting it also stops
  // glibc from moving it.
  constexpr int kMmapThreshold = 32 << 20;
  const bool mmap_set = mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1;
  const bool trim_set = mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
  if (mmap_set && trim_set)
    advise_huge_heap();
  return mmap_set && trim_set;
#else
  return false;
#endif
}

}  // namespace mozart::core
