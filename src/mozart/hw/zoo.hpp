// Hardware presets (configs/hw/*.yaml compiled into the binary) and loading by name or file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mozart/hw/spec.hpp"

namespace mozart::hw {

std::vector<std::string> preset_names();
// The preset's YAML text as shipped, comments and all.
std::optional<std::string> preset_text(const std::string& name);
std::optional<HwSpec> find_preset(const std::string& name);
// A preset name or a YAML file path.
HwSpec load_hw(const std::string& name_or_path);

}  // namespace mozart::hw
