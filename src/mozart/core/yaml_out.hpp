// Writes JSON values as block YAML, so every JSON summary has a YAML twin that the strict
// config reader accepts.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mozart::core {

std::string json_to_yaml(const nlohmann::ordered_json& value);

}  // namespace mozart::core
