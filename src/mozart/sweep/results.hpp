// A sweep's results directory: sweep.json (which sweep: its hash), points/NNNNNN.json (one
// record per finished point, each written whole by a rename) and results.csv, rebuilt from
// the records so that it never depends on the order points finished in or on how many runs
// it took. A point whose record exists is finished: a rerun skips it.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/sweep/spec.hpp"

namespace mozart::sweep {

// A point's results (the run's JSON summary); an InputError it throws (a point the hardware
// cannot run, say) is recorded as the point's error, not the sweep's.
using Evaluate = std::function<nlohmann::ordered_json(const std::vector<Assignment>& settings)>;

// The record of point `index`: its settings and results or error, as JSON text.
std::string run_point(const SweepSpec& spec, std::size_t index, const Evaluate& evaluate);

class ResultsDir {
 public:
  // Creates `dir` (and records which sweep it holds) or opens one that holds this sweep's
  // results; an InputError for a directory holding another sweep or other files.
  ResultsDir(std::string dir, const SweepSpec& spec);

  // The points without a record, in order.
  std::vector<std::size_t> unfinished() const;
  void write_point(std::size_t index, const std::string& record) const;
  // Writes results.csv from the records (every point must have one) and returns its path.
  std::string write_csv() const;
  // How many records hold an error.
  std::size_t failed() const;

  const std::string& dir() const { return dir_; }

 private:
  std::string point_path(std::size_t index) const;
  bool finished(std::size_t index) const;

  std::string dir_;
  const SweepSpec& spec_;
};

}  // namespace mozart::sweep
