#include "mozart/hw/zoo.hpp"

#include "mozart/core/presets.hpp"

namespace mozart::hw {

// Generated from configs/hw/*.yaml by cmake/embed.cmake.
const core::EmbeddedFiles& embedded_hw_presets();

namespace {

core::PresetTable presets() {
  return core::PresetTable(embedded_hw_presets());
}

HwSpec read(const core::Document& doc) {
  return read_hw(core::ConfigNode::parse(doc.text, doc.source));
}

}  // namespace

std::vector<std::string> preset_names() {
  return presets().names();
}

std::optional<std::string> preset_text(const std::string& name) {
  std::optional<core::Document> doc = presets().preset(name);
  if (!doc)
    return std::nullopt;
  return doc->text;
}

std::optional<HwSpec> find_preset(const std::string& name) {
  std::optional<core::Document> doc = presets().preset(name);
  if (!doc)
    return std::nullopt;
  return read(*doc);
}

HwSpec load_hw(const std::string& name_or_path) {
  return read(presets().open(name_or_path, "hardware"));
}

}  // namespace mozart::hw
