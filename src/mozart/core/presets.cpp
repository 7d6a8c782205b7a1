#include "mozart/core/presets.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"

namespace mozart::core {

std::vector<std::string> PresetTable::names() const {
  std::vector<std::string> out;
  for (const auto& [name, text] : files_)
    out.emplace_back(name);
  return out;
}

std::optional<Document> PresetTable::preset(std::string_view name) const {
  for (const auto& [preset, text] : files_) {
    if (preset == name)
      return Document{std::string(text), fmt::format("<preset {}>", name)};
  }
  return std::nullopt;
}

Document PresetTable::open(const std::string& name_or_path, std::string_view what) const {
  if (std::optional<Document> doc = preset(name_or_path))
    return *doc;
  std::error_code ec;
  if (!std::filesystem::exists(name_or_path, ec)) {
    throw InputError(InputLocation{std::string(what), "", 0}, name_or_path,
                     fmt::format("a preset ({}) or a file", fmt::join(names(), ", ")));
  }
  return Document{read_text_file(name_or_path), name_or_path};
}

}  // namespace mozart::core
