#include "mozart/sim/timeline.hpp"

#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mozart/core/io.hpp"

namespace mozart::sim {
namespace {

std::string quoted(const std::string& s) {
  return nlohmann::json(s).dump();
}
double micros(double seconds) {
  return seconds * 1e6;
}

}  // namespace

int Timeline::add_track(std::string name, std::string group) {
  tracks_.push_back(Track{std::move(name), std::move(group)});
  return int(tracks_.size()) - 1;
}

void Timeline::add_slice(int track, std::string name, double start_s, double end_s) {
  slices_.push_back(Slice{track, std::move(name), start_s, end_s});
}

void Timeline::add_async(std::string name, std::string group, double start_s, double end_s) {
  asyncs_.push_back(Async{std::move(name), std::move(group), start_s, end_s});
}

void Timeline::add_counter(int track, double time_s, double value) {
  counters_.push_back(Counter{track, time_s, value});
}

std::string Timeline::to_chrome_json() const {
  // Groups become processes, tracks threads; ids follow first appearance.
  std::map<std::string, int> pids;
  auto pid_of = [&](const std::string& group) {
    return pids.emplace(group, int(pids.size()) + 1).first->second;
  };
  std::string out = "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n";
  bool first = true;
  auto emit = [&](const std::string& event) {
    if (!first)
      out += ",\n";
    first = false;
    out += event;
  };
  for (size_t t = 0; t < tracks_.size(); ++t) {
    int pid = pid_of(tracks_[t].group);
    emit(fmt::format(R"({{"ph":"M","name":"process_name","pid":{},"args":{{"name":{}}}}})", pid,
                     quoted(tracks_[t].group)));
    emit(fmt::format(R"({{"ph":"M","name":"thread_name","pid":{},"tid":{},"args":{{"name":{}}}}})",
                     pid, t, quoted(tracks_[t].name)));
  }
  for (const Slice& s : slices_) {
    emit(fmt::format(R"({{"ph":"X","name":{},"pid":{},"tid":{},"ts":{:.6f},"dur":{:.6f}}})",
                     quoted(s.name), pid_of(tracks_[s.track].group), s.track, micros(s.start_s),
                     micros(s.end_s - s.start_s)));
  }
  for (size_t i = 0; i < asyncs_.size(); ++i) {
    const Async& a = asyncs_[i];
    int pid = pid_of(a.group);
    emit(fmt::format(R"({{"ph":"b","cat":"flow","name":{},"pid":{},"id":{},"ts":{:.6f}}})",
                     quoted(a.name), pid, i, micros(a.start_s)));
    emit(fmt::format(R"({{"ph":"e","cat":"flow","name":{},"pid":{},"id":{},"ts":{:.6f}}})",
                     quoted(a.name), pid, i, micros(a.end_s)));
  }
  for (const Counter& c : counters_) {
    emit(fmt::format(
        R"({{"ph":"C","name":{},"pid":{},"ts":{:.6f},"args":{{"bytes_per_s":{:.9g}}}}})",
        quoted(tracks_[c.track].name), pid_of(tracks_[c.track].group), micros(c.time_s), c.value));
  }
  out += "\n]}\n";
  return out;
}

void Timeline::write(const std::string& path) const {
  core::write_file_atomically(path, to_chrome_json());
}

}  // namespace mozart::sim
