#include "mozart/core/yaml_out.hpp"

#include <yaml-cpp/yaml.h>

namespace mozart::core {
namespace {

void emit(YAML::Emitter& out, const nlohmann::ordered_json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, item] : value.items()) {
      out << YAML::Key << key << YAML::Value;
      emit(out, item);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    bool scalars_only =
        std::none_of(value.begin(), value.end(), [](const auto& v) { return v.is_structured(); });
    if (scalars_only)
      out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& item : value)
      emit(out, item);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    out << value.get<std::string>();
  } else if (value.is_boolean()) {
    out << value.get<bool>();
  } else if (value.is_null()) {
    out << YAML::Null;
  } else {
    out << value.dump();  // numbers as JSON prints them: shortest round-trip form
  }
}

}  // namespace

std::string json_to_yaml(const nlohmann::ordered_json& value) {
  YAML::Emitter out;
  emit(out, value);
  return std::string(out.c_str()) + "\n";
}

}  // namespace mozart::core
