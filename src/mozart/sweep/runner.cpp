#include "mozart/sweep/runner.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "mozart/core/progress.hpp"

namespace mozart::sweep {

unsigned worker_count(const RunOptions& options, std::size_t points) {
  unsigned jobs =
      options.jobs > 0 ? options.jobs : std::max(1u, std::thread::hardware_concurrency());
  return unsigned(std::max<std::size_t>(1, std::min<std::size_t>(jobs, points)));
}

RunSummary finish(const SweepSpec& spec, const ResultsDir& results, std::size_t ran,
                  unsigned workers) {
  RunSummary s;
  s.points = spec.points.size();
  s.ran = ran;
  s.skipped = s.points - ran;
  s.workers = workers;
  s.csv = results.write_csv();
  s.failed = results.failed();
  return s;
}

RunSummary run_threads(const SweepSpec& spec, ResultsDir& results, const Evaluate& evaluate,
                       const RunOptions& options) {
  const std::vector<std::size_t> todo = results.unfinished();
  const unsigned workers = worker_count(options, todo.size());
  // The line is drawn by this thread only; the points' own progress lines stay off.
  core::Progress progress(progress_label(spec), todo.size());
  if (!options.progress)
    progress.finish();
  core::set_progress_enabled(false);

  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::condition_variable changed;
  std::size_t done = 0;
  std::exception_ptr failure;
  auto work = [&] {
    while (!stop) {
      const std::size_t k = next++;
      if (k >= todo.size())
        break;
      try {
        results.write_point(todo[k], run_point(spec, todo[k], evaluate));
      } catch (...) {  // an internal error, or a disk that refuses: the sweep stops
        std::lock_guard lock(mutex);
        if (!failure)
          failure = std::current_exception();
        stop = true;
      }
      std::lock_guard lock(mutex);
      ++done;
      changed.notify_one();
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < workers; ++t)
    threads.emplace_back(work);
  {
    std::unique_lock lock(mutex);
    std::size_t drawn = 0;
    while (done < todo.size() && !stop) {
      changed.wait_for(lock, std::chrono::milliseconds(250));
      progress.advance(done - drawn);
      drawn = done;
    }
  }
  for (auto& t : threads)
    t.join();
  progress.finish();
  if (failure)
    std::rethrow_exception(failure);
  return finish(spec, results, todo.size(), workers);
}

}  // namespace mozart::sweep
