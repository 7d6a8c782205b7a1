#include "mozart/core/progress.hpp"

#include <cstdio>

#include <fmt/format.h>
#include <unistd.h>

namespace mozart::core {
namespace {

bool enabled = true;

// A quarter second between redraws: fast enough to look alive, too slow to cost anything.
constexpr auto kRedraw = std::chrono::milliseconds(250);

std::string duration_text(double seconds) {
  if (seconds < 90)
    return fmt::format("{:.0f} s", seconds);
  if (seconds < 5400)
    return fmt::format("{:.0f} min", seconds / 60);
  return fmt::format("{:.1f} h", seconds / 3600);
}

}  // namespace

void set_progress_enabled(bool on) {
  enabled = on;
}

bool progress_enabled() {
  return enabled && ::isatty(STDERR_FILENO) == 1;
}

std::string progress_line(const std::string& label, std::size_t done, std::size_t total,
                          double elapsed_s, bool estimate) {
  std::string line = label;
  if (total > 0)
    line += fmt::format("  {}/{} ({:.0f}%)", done, total, 100.0 * double(done) / double(total));
  if (estimate && done > 0 && total > done)
    line += "  ETA " + duration_text(elapsed_s / double(done) * double(total - done));
  else
    line += "  " + duration_text(elapsed_s) + " so far";
  return line;
}

Progress::Progress(std::string label, std::size_t total, bool equal_units)
    : label_(std::move(label)),
      total_(total),
      estimate_(equal_units),
      shown_(progress_enabled()),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {
  draw(true);
}

Progress::~Progress() {
  finish();
}

void Progress::clear() {
  if (drawn_)
    std::fputs("\r\033[K", stderr);
  drawn_ = false;
}

void Progress::finish() {
  clear();
  shown_ = false;
}

void Progress::set_label(std::string label) {
  label_ = std::move(label);
  draw(true);
}

void Progress::advance(std::size_t units) {
  done_ += units;
  draw(false);
}

void Progress::draw(bool force) {
  if (!shown_)
    return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < kRedraw)
    return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::fputs(("\r\033[K" + progress_line(label_, done_, total_, elapsed, estimate_)).c_str(),
             stderr);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace mozart::core
