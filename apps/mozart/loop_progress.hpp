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

// A study run one model at a time (each model's runs are independent, so the rows are those of
// one call), so that its progress line can count models. `run` takes options naming one model;
// `merge(result, part)` appends a model's part.
template <class Result, class Options, class Run, class Merge>
Result run_models_with_progress(const std::string& label, const Options& options, Run run,
                                Merge merge) {
  Result result;
  result.options = options;
  core::Progress progress(label, options.models.size());
  for (const std::string& name : options.models) {
    progress.set_label(label + ": " + name);
    auto one = options;
    one.models = {name};
    merge(result, run(one));
    progress.advance();
  }
  progress.finish();
  return result;
}

}  // namespace mozart::cli
