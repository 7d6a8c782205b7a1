// Progress of a long command on stderr: "label  3/12 (25%)  ETA 41 s", rewritten in place.
//
// Shown only when stderr is a terminal and progress is enabled (the commands turn it off for
// --quiet and --json), at most a few updates per second, and the line is cleared when the
// Progress ends: stdout and files never see it, so outputs stay byte-identical.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace mozart::core {

// Off for the rest of the run (--quiet, --json).
void set_progress_enabled(bool enabled);
bool progress_enabled();  // enabled and stderr is a terminal

// "label  3/12 (25%)  ETA 41 s"; the ETA assumes the remaining units take as long each as
// the done ones did. Before the first unit is done, or when the units are phases of unequal
// length (`estimate` false), the time so far instead: "label  1/3 (33%)  12 s so far".
std::string progress_line(const std::string& label, std::size_t done, std::size_t total,
                          double elapsed_s, bool estimate = true);

class Progress {
 public:
  // `equal_units`: the units take about as long each (results, placers), so an ETA means
  // something; false for a command's phases.
  Progress(std::string label, std::size_t total, bool equal_units = true);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set_label(std::string label);  // what is running now, e.g. "simulate: placing"
  void advance(std::size_t units = 1);
  // Erases the line before the command prints to stdout on the same terminal; the next
  // update draws it again.
  void clear();
  // Erases the line for good: the command's results follow.
  void finish();

 private:
  void draw(bool force);

  std::string label_;
  std::size_t total_;
  bool estimate_;
  std::size_t done_ = 0;
  bool shown_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace mozart::core
