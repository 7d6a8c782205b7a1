#include "mozart/core/error.hpp"

#include <fmt/format.h>

namespace mozart::core {
namespace {

std::string describe(const InputLocation& where, const std::string& value,
                     const std::string& expected) {
  std::string place = where.file;
  if (where.line > 0)
    place += fmt::format(":{}", where.line);
  if (!where.field.empty())
    place += fmt::format(": field '{}'", where.field);
  return fmt::format("{}: got '{}', expected {}", place, value, expected);
}

}  // namespace

InputError::InputError(InputLocation where, std::string value, std::string expected)
    : std::runtime_error(describe(where, value, expected)), where_(std::move(where)) {}

InputError::InputError(std::string file, std::string message)
    : std::runtime_error(fmt::format("{}: {}", file, message)), where_{std::move(file), "", 0} {}

}  // namespace mozart::core
