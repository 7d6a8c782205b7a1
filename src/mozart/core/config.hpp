// A strict reader for YAML (and JSON, which YAML reads too) configuration documents.
//
// Every accessor knows the file, line and dotted field path of its node, so any mistake is
// reported as an InputError naming them. Maps must declare their allowed keys with
// expect_keys(), which turns typos into errors instead of silently ignored settings.
#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "mozart/core/units.hpp"

namespace mozart::core {

class ConfigNode {
 public:
  // Parses a document; a syntax error becomes an InputError with the source and line.
  static ConfigNode parse(std::string_view text, std::string source);
  static ConfigNode load_file(const std::string& path);

  const std::string& source() const { return *source_; }
  const std::string& path() const { return path_; }
  int line() const;

  bool is_map() const { return node_.IsMap(); }
  bool is_sequence() const { return node_.IsSequence(); }
  bool is_scalar() const { return node_.IsScalar(); }
  bool is_null() const { return node_.IsNull(); }

  bool has(std::string_view key) const;
  ConfigNode at(std::string_view key) const;  // required key
  std::optional<ConfigNode> find(std::string_view key) const;

  // Errors on any key outside `allowed`, with a suggestion when one is close.
  void expect_keys(std::initializer_list<std::string_view> allowed) const;

  std::vector<ConfigNode> items() const;                            // a sequence
  std::vector<std::pair<std::string, ConfigNode>> entries() const;  // a map, in document order

  std::string as_string() const;
  bool as_bool() const;
  long long as_int(long long min, long long max) const;
  // A positive (or, with allow_zero, non-negative) quantity, with or without a unit.
  double as_quantity(Dimension dimension, bool allow_zero = false) const;

  // Typed shortcuts for optional keys.
  std::string get_string(std::string_view key, std::string fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  long long get_int(std::string_view key, long long fallback, long long min, long long max) const;
  double get_quantity(std::string_view key, Dimension dimension, double fallback,
                      bool allow_zero = false) const;

  // The text of this node as written, for error messages.
  std::string text() const;
  [[noreturn]] void fail(std::string_view expected) const;
  [[noreturn]] void fail(std::string_view value, std::string_view expected) const;

 private:
  ConfigNode(YAML::Node node, std::shared_ptr<const std::string> source, std::string path);
  ConfigNode child(const YAML::Node& node, std::string_view name) const;

  YAML::Node node_;
  std::shared_ptr<const std::string> source_;
  std::string path_;
};

}  // namespace mozart::core
