// A library loop's (done, total) reports drawn as one progress line with an ETA.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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
  const std::size_t threads = std::min<std::size_t>(
      jobs > 0 ? jobs : std::max(1u, std::thread::hardware_concurrency()), models);
  core::Progress progress(label, models);
  std::vector<std::optional<Result>> parts(models);
  std::vector<std::exception_ptr> failed(models);
  std::atomic<std::size_t> next{0};
  std::mutex reporting;
  auto work = [&] {
    for (std::size_t i = next++; i < models; i = next++) {
      if (threads == 1)
        progress.set_label(label + ": " + options.models[i]);
      auto one = options;
      one.models = {options.models[i]};
      try {
        parts[i].emplace(run(one));
      } catch (...) {
        failed[i] = std::current_exception();
        if (threads == 1)  // the others are not started, as in a plain loop
          next = models;
      }
      const std::lock_guard lock(reporting);
      progress.advance();
    }
  };
  {
    std::vector<std::jthread> helpers;
    for (std::size_t t = 1; t < threads; ++t)
      helpers.emplace_back(work);
    work();
  }
  progress.finish();
  for (const std::exception_ptr& e : failed)
    if (e)
      std::rethrow_exception(e);
  for (std::optional<Result>& part : parts)
    merge(result, *part);
  return result;
}

}  // namespace mozart::cli
