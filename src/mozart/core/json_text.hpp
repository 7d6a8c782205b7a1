// A JSON value as an error message shows it: scalars as written (long ones cut), lists and
// objects by their size, so a message stays one short line whatever the input holds (and a
// deeply nested value is never dumped recursively). Bytes that are not UTF-8 (a string cut from
// a longer one) are written as U+FFFD rather than raising nlohmann's type_error.
#pragma once

#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace mozart::core {

inline std::string json_value_text(const nlohmann::json& value) {
  if (value.is_array())
    return fmt::format("a list of {}", value.size());
  if (value.is_object())
    return fmt::format("an object of {} keys", value.size());
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 60)
    text = text.substr(0, 57) + "...";
  return text;
}

}  // namespace mozart::core
