// The model zoo: built-in presets (configs/models/*.yaml compiled into the binary) and loading
// a model by preset name or file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mozart/model/spec.hpp"

namespace mozart::model {

std::vector<std::string> preset_names();
std::optional<MoeModel> find_preset(const std::string& name);

// A preset name, a file in mozart's model format (YAML or JSON), or a Hugging Face
// config.json (recognised by its "model_type" or "architectures" key).
MoeModel load_model(const std::string& name_or_path);

}  // namespace mozart::model
