// A library loop's (done, total) reports drawn as one progress line with an ETA.
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mozart/core/parallel.hpp"
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

// A study run model by model (each model's runs are independent, so the rows are those of one
// call), so that its progress line can count models. `run` takes options naming one model;
// `merge(result, part)` appends a model's part, in the order the models were given. `jobs`
// models run at once (0: one per hardware thread): the result is the same for any number, and
// when models fail, the first of them in that order is the error.
template <class Result, class Options, class Run, class Merge>
Result run_models_with_progress(const std::string& label, const Options& options, Run run,
                                Merge merge, unsigned jobs = 1) {
  Result result;
  result.options = options;
  const std::size_t models = options.models.size();
  const bool alone = core::threads_for(models, jobs) == 1;
  core::Progress progress(label, models);
  std::vector<std::optional<Result>> parts(models);
  std::mutex reporting;
  core::for_each_index(models, jobs, [&](std::size_t i) {
    if (alone)
      progress.set_label(label + ": " + options.models[i]);
    auto one = options;
    one.models = {options.models[i]};
    parts[i].emplace(run(one));
    const std::lock_guard lock(reporting);
    progress.advance();
  });
  progress.finish();
  for (std::optional<Result>& part : parts)
    merge(result, *part);
  return result;
}

}  // namespace mozart::cli
