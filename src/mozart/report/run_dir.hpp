// `--out-dir DIR` of simulate, serve, place and reproduce: a directory `mozart report` reads.
// Each command writes its JSON under a fixed name beside inputs.json, the record of what the run
// read (each input's name, whether a preset or a file, and a hash of its content) and with
// which settings, so that a report says what its numbers came from.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/core/output_plan.hpp"

namespace mozart::report {

// What the run directory's files are called.
inline constexpr const char* kInputsFile = "inputs.json";
inline constexpr const char* kSummaryFile = "summary.json";  // simulate, serve
inline constexpr const char* kTimelineFile = "timeline.json";
inline constexpr const char* kPlacementFile = "placement.json";  // place
inline constexpr const char* kPlaceFile = "place.json";
inline constexpr const char* kPriorsFile = "priors.json";
inline constexpr const char* kStudyFile = "study.json";  // reproduce

// One input: its role ("model", "hw", "trace"), and the name or path given.
struct Input {
  std::string role;
  std::string name;
};

// "xxh3:0123456789abcdef" of a file's bytes, or, for a preset name, of the preset's canonical
// JSON (as the run read it); "" for an empty name.
std::string input_hash(const Input& input);

nlohmann::ordered_json inputs_record(const std::string& command, const std::vector<Input>& inputs,
                                     const nlohmann::ordered_json& settings);

// The run directory: created now (so that the plan can check it) and declared in the plan,
// with every file the command will write there. Returns the files' paths, in `files` order.
std::vector<std::string> declare_run_dir(core::OutputPlan& plan, const std::string& dir,
                                         const std::vector<std::string>& files);

// Stages each (file name, content) in the run directory, and the inputs record, in the plan
// (declared by declare_run_dir). Nothing when `dir` is empty.
void stage_run_dir(core::OutputPlan& plan, const std::string& dir,
                   const std::vector<std::pair<std::string, std::string>>& files,
                   const nlohmann::ordered_json& record);

}  // namespace mozart::report
