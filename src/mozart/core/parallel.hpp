// Independent pieces of work on several threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>

namespace mozart::core {

// How many threads `threads` means for `count` pieces: 0 is one per hardware thread; never more
// than the pieces, never fewer than one.
inline std::size_t threads_for(std::size_t count, unsigned threads) {
  const std::size_t wanted =
      threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  return std::max<std::size_t>(1, std::min(wanted, count));
}

// Runs body(i) for every i in [0, count), each once, handed out in order to threads_for(count,
// threads) threads, the calling one among them. Once a body throws, no further index is
// started; when all have ended, the exception of the lowest index that threw is rethrown. With
// one thread this is a plain loop that stops at the first exception.
template <class Body>
void for_each_index(std::size_t count, unsigned threads, Body&& body) {
  const std::size_t n = threads_for(count, threads);
  std::vector<std::exception_ptr> failed(count);
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      try {
        body(i);
      } catch (...) {
        failed[i] = std::current_exception();
        next = count;
      }
    }
  };
  {
    std::vector<std::jthread> helpers;
    for (std::size_t t = 1; t < n; ++t)
      helpers.emplace_back(work);
    work();
  }
  for (const std::exception_ptr& e : failed)
    if (e)
      std::rethrow_exception(e);
}

}  // namespace mozart::core
