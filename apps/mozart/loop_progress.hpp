// A library loop's (done, total) reports drawn as one progress line with an ETA.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>

#include "mozart/core/progress.hpp"
#include "mozart/trace/trace.hpp"

namespace mozart::cli {

// One line per loop: the units of a trace loop (tokens drawn, records written, bytes read)
// take about as long each, so the line's ETA means something. The line is erased when the
// LoopProgress ends.
class LoopProgress {
 public:
  explicit LoopProgress(std::string label) : label_(std::move(label)) {}

  // The callback to hand to the loop; valid while this object lives.
  trace::Progress callback() {
    return [this](std::size_t done, std::size_t total) {
      if (!bar_)
        bar_.emplace(label_, total);
      if (done > done_) {
        bar_->advance(done - done_);
        done_ = done;
      }
    };
  }

 private:
  std::string label_;
  std::optional<core::Progress> bar_;
  std::size_t done_ = 0;
};

}  // namespace mozart::cli
