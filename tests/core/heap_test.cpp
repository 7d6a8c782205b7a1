#include "mozart/core/heap.hpp"

#include <cstdlib>
#include <cstring>

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

}  // namespace
}  // namespace mozart::core
