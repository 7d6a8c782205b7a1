#include "mozart/core/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"

namespace mozart::core {
namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string join(std::initializer_list<std::string_view> words) {
  std::string out;
  for (std::string_view w : words) {
    if (!out.empty())
      out += ", ";
    out += w;
  }
  return out;
}

// The offset of the first byte that breaks UTF-8 (RFC 3629: no overlong forms, no surrogates,
// nothing past U+10FFFF), or npos. YAML is UTF-8, and names read from it reach JSON output,
// which refuses anything else.
std::size_t invalid_utf8_at(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char lead = byte(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF)
      length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      low = lead == 0xE0 ? 0xA0 : 0x80;
      high = lead == 0xED ? 0x9F : 0xBF;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      low = lead == 0xF0 ? 0x90 : 0x80;
      high = lead == 0xF4 ? 0x8F : 0xBF;
    } else {
      return i;
    }
    if (i + length > text.size() || byte(i + 1) < low || byte(i + 1) > high)
      return i;
    for (std::size_t k = 2; k < length; ++k)
      if (byte(i + k) < 0x80 || byte(i + k) > 0xBF)
        return i;
    i += length;
  }
  return std::string_view::npos;
}

std::string child_path(const std::string& parent, std::string_view name) {
  return parent.empty() ? std::string(name) : fmt::format("{}.{}", parent, name);
}

// yaml-cpp keeps every entry of a map whose key repeats, and a lookup sees only the first: the
// second value would be silently ignored. `visited` holds the collections already walked (an
// alias shares its anchor's node, and its mark), so a document of aliases is walked once.
void refuse_duplicate_keys(const YAML::Node& node, const std::string& source,
                           const std::string& path, std::set<std::size_t>& visited) {
  if (!node.IsMap() && !node.IsSequence())
    return;
  if (!visited.insert(static_cast<std::size_t>(node.Mark().pos) * 2 + node.IsMap()).second)
    return;
  if (node.IsSequence()) {
    std::size_t index = 0;
    for (const auto& item : node)
      refuse_duplicate_keys(item, source, fmt::format("{}[{}]", path, index++), visited);
    return;
  }
  std::map<std::string, int> first_line;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {  // `? [a, b]: x` or an empty key: no reader could name it
      throw InputError(InputLocation{source, path, entry.first.Mark().line + 1},
                       "a key that is a list, a map or empty", "keys that are plain names");
    }
    const std::string& key = entry.first.Scalar();
    const int line = entry.first.Mark().line + 1;
    const auto [first, inserted] = first_line.emplace(key, line);
    if (!inserted) {
      throw InputError(InputLocation{source, child_path(path, key), line},
                       fmt::format("key '{}' again (first on line {})", key, first->second),
                       "each key once per map");
    }
    refuse_duplicate_keys(entry.second, source, child_path(path, key), visited);
  }
}

// The offset of the first byte that is not text a spec can carry into names, reports and JSON:
// one that breaks UTF-8, or a control character other than tab, newline and carriage return
// (YAML allows no other in a stream, and a double-quoted escape such as "\0" can still make
// one). npos when there is none.
std::size_t unfit_text_at(std::string_view text) {
  const std::size_t bad = invalid_utf8_at(text);
  for (std::size_t i = 0; i < std::min(bad, text.size()); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
      return i;
  }
  return bad;
}

}  // namespace

ConfigNode::ConfigNode(YAML::Node node, std::shared_ptr<const std::string> source, std::string path)
    : node_(std::move(node)), source_(std::move(source)), path_(std::move(path)) {}

ConfigNode ConfigNode::parse(std::string_view text, std::string source) {
  auto shared_source = std::make_shared<const std::string>(std::move(source));
  if (const std::size_t bad = unfit_text_at(text); bad != std::string_view::npos) {
    const auto line =
        1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
    throw InputError(
        InputLocation{*shared_source, "", static_cast<int>(line)},
        fmt::format("byte 0x{:02X} at offset {}", static_cast<unsigned char>(text[bad]), bad),
        "UTF-8 text without control characters");
  }
  try {
    YAML::Node root = YAML::Load(std::string(text));
    std::set<std::size_t> visited;
    refuse_duplicate_keys(root, *shared_source, "", visited);
    return ConfigNode(root, shared_source, "");
  } catch (const YAML::Exception& e) {
    throw InputError(InputLocation{*shared_source, "", e.mark.line + 1}, "malformed document",
                     fmt::format("valid YAML or JSON ({})", e.msg));
  }
}

ConfigNode ConfigNode::load_file(const std::string& path) {
  return parse(read_text_file(path), path);
}

int ConfigNode::line() const {
  YAML::Mark mark = node_.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

ConfigNode ConfigNode::child(const YAML::Node& node, std::string_view name) const {
  return ConfigNode(node, source_, child_path(path_, name));
}

bool ConfigNode::has(std::string_view key) const {
  return node_.IsMap() && node_[std::string(key)].IsDefined();
}

std::optional<ConfigNode> ConfigNode::find(std::string_view key) const {
  if (!node_.IsMap())
    fail("a map");
  YAML::Node value = node_[std::string(key)];
  if (!value.IsDefined())
    return std::nullopt;
  return child(value, key);
}

ConfigNode ConfigNode::at(std::string_view key) const {
  std::optional<ConfigNode> value = find(key);
  if (!value) {
    throw InputError(InputLocation{*source_, child_path(path_, key), line()}, "nothing",
                     "this required field to be present");
  }
  return *value;
}

void ConfigNode::expect_keys(std::initializer_list<std::string_view> allowed) const {
  if (!node_.IsMap())
    fail("a map with keys: " + join(allowed));
  for (const auto& entry : node_) {
    std::string key = entry.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end())
      continue;
    std::string_view closest;
    size_t best = 3;  // suggest only near misses
    for (std::string_view candidate : allowed) {
      size_t d = edit_distance(key, candidate);
      if (d < best) {
        best = d;
        closest = candidate;
      }
    }
    std::string expected = closest.empty()
                               ? "one of: " + join(allowed)
                               : fmt::format("'{}' (one of: {})", closest, join(allowed));
    throw InputError(InputLocation{*source_, path_, entry.first.Mark().line + 1},
                     fmt::format("unknown key '{}'", key), expected);
  }
}

std::vector<ConfigNode> ConfigNode::items() const {
  if (!node_.IsSequence())
    fail("a list");
  std::vector<ConfigNode> out;
  size_t index = 0;
  for (const auto& item : node_) {
    out.push_back(ConfigNode(item, source_, fmt::format("{}[{}]", path_, index++)));
  }
  return out;
}

std::vector<std::pair<std::string, ConfigNode>> ConfigNode::entries() const {
  if (!node_.IsMap())
    fail("a map");
  std::vector<std::pair<std::string, ConfigNode>> out;
  for (const auto& entry : node_) {
    std::string key = entry.first.as<std::string>();
    out.emplace_back(key, child(entry.second, key));
  }
  return out;
}

std::string ConfigNode::text() const {
  if (node_.IsScalar())
    return node_.Scalar();
  if (node_.IsNull())
    return "null";
  if (node_.IsSequence())
    return "a list";
  if (node_.IsMap())
    return "a map";
  return "nothing";
}

void ConfigNode::fail(std::string_view expected) const {
  fail(text(), expected);
}

void ConfigNode::fail(std::string_view value, std::string_view expected) const {
  throw InputError(InputLocation{*source_, path_, line()}, std::string(value),
                   std::string(expected));
}

std::string ConfigNode::as_string() const {
  if (!node_.IsScalar())
    fail("a string");
  const std::string& text = node_.Scalar();
  // Made by an escape (the file itself was checked when parsed); InputError quotes it escaped.
  if (unfit_text_at(text) != std::string_view::npos)
    fail(text, "UTF-8 text without control characters");
  return text;
}

bool ConfigNode::as_bool() const {
  if (node_.IsScalar()) {
    const std::string& s = node_.Scalar();
    if (s == "true")
      return true;
    if (s == "false")
      return false;
  }
  fail("true or false");
}

long long ConfigNode::as_int(long long min, long long max) const {
  std::string expected = fmt::format("an integer in [{}, {}]", min, max);
  if (!node_.IsScalar())
    fail(expected);
  const std::string& s = node_.Scalar();
  long long value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value < min || value > max) {
    fail(expected);
  }
  return value;
}

double ConfigNode::as_quantity(Dimension dimension, bool allow_zero) const {
  std::string expected = fmt::format("a {} number, optionally with a unit ({}), {}",
                                     allow_zero ? "non-negative" : "positive", units_of(dimension),
                                     range_of(dimension));
  if (!node_.IsScalar())
    fail(expected);
  std::optional<double> value = parse_quantity(node_.Scalar(), dimension);
  if (!value || *value < 0 || (*value == 0 && !allow_zero))
    fail(expected);
  return *value;
}

std::string ConfigNode::get_string(std::string_view key, std::string fallback) const {
  std::optional<ConfigNode> value = find(key);
  return value ? value->as_string() : std::move(fallback);
}

bool ConfigNode::get_bool(std::string_view key, bool fallback) const {
  std::optional<ConfigNode> value = find(key);
  return value ? value->as_bool() : fallback;
}

long long ConfigNode::get_int(std::string_view key, long long fallback, long long min,
                              long long max) const {
  std::optional<ConfigNode> value = find(key);
  return value ? value->as_int(min, max) : fallback;
}

double ConfigNode::get_quantity(std::string_view key, Dimension dimension, double fallback,
                                bool allow_zero) const {
  std::optional<ConfigNode> value = find(key);
  return value ? value->as_quantity(dimension, allow_zero) : fallback;
}

}  // namespace mozart::core
