// A sweep: one kind of run (`simulate`, `collective`) with base settings, and the points to run,
// each a set of values for the swept fields. Read from a YAML file:
//
//   sweep: link-bandwidth           # a name for people
//   run: simulate                   # what each point runs
//   base: {model: olmoe-1b-7b, hw: mozart-paper-olmoe, policy: C, sequences: 8}
//   grid:                           # every combination; the first field varies slowest
//     hw.topology.link.bandwidth: [64 GB/s, 256 GB/s]
//     policy: [baseline, C]
//   points:                         # and/or a list; each listed point is crossed with the grid
//     - {model.experts.top_k: 4}
//
// A field is a run's option (`policy`, `seq-len`, `bytes`) or a dotted path into the hardware
// or model document (`hw.memories.0.bandwidth`, `model.experts.routed`).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mozart::sweep {

// One field's value, as YAML text ("256 GB/s", "[4, 4]").
struct Assignment {
  std::string field;
  std::string value;
};

struct SweepSpec {
  std::string source;  // the file, for messages
  std::string name;
  std::string run;
  std::vector<Assignment> base;
  std::vector<std::string> swept;  // the swept fields, in column order
  // Each point's values, one per swept field in that order ("" where a listed point leaves
  // the field at its base value).
  std::vector<std::vector<std::string>> points;
  std::string hash;  // 16 hex digits over run, base and points: names one sweep's results
};

// Reads and expands a sweep file; an InputError (one line) on bad YAML, an unknown top-level
// key, a field given twice, or an empty grid or list.
SweepSpec read_sweep(const std::string& path);
SweepSpec parse_sweep(const std::string& text, const std::string& source);

// The settings of point `index`: the base with the point's values over it.
std::vector<Assignment> point_settings(const SweepSpec& spec, std::size_t index);

// The value of `field` in `settings`, or `fallback` when it is not set.
std::string setting(const std::vector<Assignment>& settings, const std::string& field,
                    const std::string& fallback = "");

}  // namespace mozart::sweep
