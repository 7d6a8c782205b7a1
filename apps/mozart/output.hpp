// Printing helpers shared by the commands.
#pragma once

#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "mozart/core/output_plan.hpp"
#include "mozart/sim/timeline.hpp"

namespace mozart::cli {

// A run's outputs, written together: its summary JSON at `output` and its Perfetto timeline at
// `timeline_path`, each only when asked for (empty path: not asked).
inline void commit_run_outputs(core::OutputPlan& outputs, const std::string& output,
                               const nlohmann::ordered_json& summary,
                               const std::string& timeline_path, const sim::Timeline& timeline) {
  if (!output.empty())
    outputs.stage(output, summary.dump(1) + "\n");
  if (!timeline_path.empty())
    outputs.stage(timeline_path, timeline.to_chrome_json());
  outputs.commit();
}

inline void print_json(const nlohmann::ordered_json& value) {
  fmt::print("{}\n", value.dump(2));
}

// "6.92B", "37.6M": parameter counts for people.
inline std::string human_count(double value) {
  if (value >= 1e9)
    return fmt::format("{:.2f}B", value / 1e9);
  if (value >= 1e6)
    return fmt::format("{:.1f}M", value / 1e6);
  if (value >= 1e3)
    return fmt::format("{:.1f}K", value / 1e3);
  return fmt::format("{:g}", value);
}

// Scientific notation that keeps FLOP and byte totals readable in tables.
inline std::string sci(double value) {
  return fmt::format("{:.3e}", value);
}

}  // namespace mozart::cli
