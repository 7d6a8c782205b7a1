// Named documents compiled into the binary (configs/*/*.yaml via cmake/embed.cmake), and the
// rule every loader follows: a preset name first, else a file path.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mozart::core {

using EmbeddedFiles = std::vector<std::pair<std::string_view, std::string_view>>;

struct Document {
  std::string text;
  std::string source;  // the file path, or "<preset NAME>"
};

class PresetTable {
 public:
  explicit PresetTable(const EmbeddedFiles& files) : files_(files) {}

  std::vector<std::string> names() const;
  std::optional<Document> preset(std::string_view name) const;
  // The preset of that name, else the file at that path; an InputError naming the presets
  // when it is neither. `what` says what was asked for ("model", "hardware").
  Document open(const std::string& name_or_path, std::string_view what) const;

 private:
  const EmbeddedFiles& files_;
};

}  // namespace mozart::core
