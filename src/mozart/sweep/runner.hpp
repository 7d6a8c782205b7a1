// Running a sweep's unfinished points: on threads of one process, or (mpi.hpp) on the ranks of
// an MPI job. Either way each finished point's record is written as soon as it is done, so an
// interrupted sweep loses only the points that were running, and the CSV is rebuilt at the end.
#pragma once

#include <cstddef>
#include <string>

#include "mozart/sweep/results.hpp"
#include "mozart/sweep/spec.hpp"

namespace mozart::sweep {

struct RunOptions {
  unsigned jobs = 0;     // worker threads; 0: one per hardware thread
  bool progress = true;  // the progress line on stderr (shown only on a terminal)
};

struct RunSummary {
  std::size_t points = 0;   // in the sweep
  std::size_t skipped = 0;  // finished by an earlier run
  std::size_t ran = 0;
  std::size_t failed = 0;  // points whose record holds an error (of every run)
  unsigned workers = 0;    // threads, or ranks times threads
  std::string csv;
};

inline std::string progress_label(const SweepSpec& spec) {
  return "sweep " + (spec.name.empty() ? spec.source : spec.name);
}

// The worker threads `options` asks for, for `points` points.
unsigned worker_count(const RunOptions& options, std::size_t points);

RunSummary run_threads(const SweepSpec& spec, ResultsDir& results, const Evaluate& evaluate,
                       const RunOptions& options);

// What every runner does last: the CSV and the counts.
RunSummary finish(const SweepSpec& spec, const ResultsDir& results, std::size_t ran,
                  unsigned workers);

}  // namespace mozart::sweep
