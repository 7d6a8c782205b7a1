#include "mozart/model/zoo.hpp"

#include "mozart/core/presets.hpp"
#include "mozart/model/hf_import.hpp"

namespace mozart::model {

// Generated from configs/models/*.yaml by cmake/embed.cmake.
const core::EmbeddedFiles& embedded_model_presets();

namespace {

core::PresetTable presets() {
  return core::PresetTable(embedded_model_presets());
}

}  // namespace

std::vector<std::string> preset_names() {
  return presets().names();
}

std::optional<MoeModel> find_preset(const std::string& name) {
  std::optional<core::Document> doc = presets().preset(name);
  if (!doc)
    return std::nullopt;
  return read_model(core::ConfigNode::parse(doc->text, doc->source));
}

MoeModel load_model(const std::string& name_or_path) {
  core::Document doc = presets().open(name_or_path, "model");
  core::ConfigNode root = core::ConfigNode::parse(doc.text, doc.source);
  if (root.is_map() && (root.has("model_type") || root.has("architectures"))) {
    return import_hf_config(doc.text, doc.source);
  }
  return read_model(root);
}

}  // namespace mozart::model
