// Internal to the trace module: the loops' side of a Progress callback.
#pragma once

#include <algorithm>
#include <cstddef>

#include "mozart/trace/trace.hpp"

namespace mozart::trace::detail {

// Records between a writer's progress reports: a few milliseconds of formatting.
inline constexpr std::size_t kRecordsPerTick = std::size_t{1} << 16;

// Calls `progress` when the work passes the next multiple of `stride` units, and once at the
// end, so that a loop can tick per item at the cost of one comparison.
class ProgressTicker {
 public:
  ProgressTicker(const Progress& progress, std::size_t total, std::size_t stride)
      : progress_(progress),
        total_(total),
        stride_(std::max<std::size_t>(stride, 1)),
        next_(progress ? stride_ : static_cast<std::size_t>(-1)) {}

  void at(std::size_t done) {
    if (done < next_)
      return;
    progress_(std::min(done, total_), total_);
    next_ = done + stride_;
  }
  void finish() const {
    if (progress_)
      progress_(total_, total_);
  }

 private:
  const Progress& progress_;
  std::size_t total_;
  std::size_t stride_;
  std::size_t next_;
};

}  // namespace mozart::trace::detail
