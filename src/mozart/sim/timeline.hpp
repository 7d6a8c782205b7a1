// A timeline of a run, written as Chrome trace JSON that ui.perfetto.dev and chrome://tracing
// open: one track per compute resource (slices), flows as async slices (they overlap), and one
// counter per channel (its load in bytes per second).
#pragma once

#include <string>
#include <vector>

namespace mozart::sim {

class Timeline {
 public:
  int add_track(std::string name, std::string group);
  void add_slice(int track, std::string name, double start_s, double end_s);
  void add_async(std::string name, std::string group, double start_s, double end_s);
  void add_counter(int track, double time_s, double value);

  size_t slice_count() const { return slices_.size() + asyncs_.size(); }
  std::string to_chrome_json() const;
  void write(const std::string& path) const;  // whole or not at all

 private:
  struct Track {
    std::string name;
    std::string group;
  };
  struct Slice {
    int track;
    std::string name;
    double start_s, end_s;
  };
  struct Async {
    std::string name, group;
    double start_s, end_s;
  };
  struct Counter {
    int track;
    double time_s, value;
  };
  std::vector<Track> tracks_;
  std::vector<Slice> slices_;
  std::vector<Async> asyncs_;
  std::vector<Counter> counters_;
};

}  // namespace mozart::sim
