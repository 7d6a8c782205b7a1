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
// the done ones did, and is left out before the first unit is done.
std::string progress_line(const std::string& label, std::size_t done, std::size_t total,
                          double elapsed_s);

class Progress {
 public:
  Progress(std::string label, std::size_t total);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void set_label(std::string label);  // what is running now, e.g. "simulate: placing"
  void advance(std::size_t units = 1);

 private:
  void draw(bool force);

  std::string label_;
  std::size_t total_;
  std::size_t done_ = 0;
  bool shown_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace mozart::core
