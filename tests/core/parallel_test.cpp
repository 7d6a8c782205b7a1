// Independent pieces of work on several threads.
#include "mozart/core/parallel.hpp"

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace mozart::core {
namespace {

TEST(Parallel, ThreadsAreAsAskedButNeverMoreThanThePiecesNorNone) {
  EXPECT_EQ(threads_for(10, 3), 3u);
  EXPECT_EQ(threads_for(2, 8), 2u);
  EXPECT_EQ(threads_for(0, 4), 1u);
  EXPECT_EQ(threads_for(1000, 0), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(Parallel, EveryIndexRunsOnceWhateverTheThreads) {
  for (const unsigned threads : {1u, 2u, 4u, 0u}) {
    std::vector<std::atomic<int>> runs(200);
    std::mutex m;
    std::set<std::thread::id> seen;
    for_each_index(runs.size(), threads, [&](std::size_t i) {
      ++runs[i];
      const std::lock_guard lock(m);
      seen.insert(std::this_thread::get_id());
    });
    for (std::size_t i = 0; i < runs.size(); ++i)
      EXPECT_EQ(runs[i].load(), 1) << i << " on " << threads;
    EXPECT_LE(seen.size(), threads_for(runs.size(), threads)) << threads;
  }
  for_each_index(0, 2, [](std::size_t) { FAIL() << "no index to run"; });
}

// One thread is a plain loop: it stops at the first exception, which comes out.
TEST(Parallel, OneThreadStopsAtTheFirstFailure) {
  std::vector<int> ran;
  try {
    for_each_index(10, 1, [&](std::size_t i) {
      ran.push_back(int(i));
      if (i == 3)
        throw std::runtime_error("three");
    });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "three");
  }
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2, 3}));
}

// With several threads, the lowest index that threw is the one reported, however the threads
// interleave: index 5 throws only once index 7 has started, and thrown.
TEST(Parallel, TheLowestFailingIndexIsReported) {
  for (int round = 0; round < 20; ++round) {
    std::atomic<int> started{0};
    try {
      for_each_index(8, 2, [&](std::size_t i) {
        ++started;
        if (i == 7)
          throw std::runtime_error("7");
        while (i == 5 && started.load() < 8)
          std::this_thread::yield();
        if (i == 5)
          throw std::runtime_error("5");
      });
      FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "5") << "round " << round;
    }
  }
}

}  // namespace
}  // namespace mozart::core
