#include "mozart/core/heap.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mozart::core {
namespace {

// The sanitizers bring their own allocator, which takes no glibc settings.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kOwnAllocator = true;
#else
constexpr bool kOwnAllocator = false;
#endif

TEST(Heap, AFreedLargeBlockStaysForTheNextRequests) {
  if (kOwnAllocator)
    GTEST_SKIP() << "a sanitizer's allocator";
#if defined(__GLIBC__)
  ASSERT_TRUE(keep_freed_memory());
  // 24 MiB: far over glibc's default mmap threshold (128 KiB), whose blocks go back to the
  // system when freed, and under the 32 MiB set here, so it comes from the heap and stays
  // there, free, once freed.
  constexpr std::size_t kBytes = 24 << 20;
  char* block = static_cast<char*>(std::malloc(kBytes));
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kBytes);
  EXPECT_LT(mallinfo2().hblkhd, kBytes);  // not an mmap'd block of its own
  std::free(block);
  EXPECT_GE(mallinfo2().fordblks, kBytes);
#else
  EXPECT_FALSE(keep_freed_memory());
#endif
}

// The flags of the mapping that holds address `p`, from /proc/self/smaps ("" if none does).
std::string mapping_flags(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = std::uintptr_t(p);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t from = 0, to = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> from >> dash >> to && dash == '-') {
      inside = from <= at && at < to;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0)
      return line;
  }
  return "";
}

TEST(Heap, TheHeapIsAdvisedForHugePages) {
  if (kOwnAllocator)
    GTEST_SKIP() << "a sanitizer's allocator";
  if (!std::filesystem::exists("/sys/kernel/mm/transparent_hugepage"))
    GTEST_SKIP() << "a kernel without transparent huge pages";
#if defined(__GLIBC__)
  ASSERT_TRUE(keep_freed_memory());
  // Under the mmap threshold, so from the heap's advised top.
  char* block = static_cast<char*>(std::malloc(24 << 20));
  ASSERT_NE(block, nullptr);
  const std::string flags = mapping_flags(block + (12 << 20));
  std::free(block);
  ASSERT_FALSE(flags.empty());
  EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;  // MADV_HUGEPAGE
#else
  GTEST_SKIP() << "not glibc";
#endif
}

}  // namespace
}  // namespace mozart::core
