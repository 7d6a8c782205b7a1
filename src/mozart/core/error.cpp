#include "mozart/core/error.hpp"

#include <fmt/format.h>

namespace mozart::core {
namespace {

// File names are user text too, but longer ones are still useful in full.
constexpr std::size_t kMaxFileChars = 240;

std::string describe(const InputLocation& where, const std::string& value,
                     const std::string& expected) {
  std::string place = quote_user_text(where.file, kMaxFileChars);
  if (where.line > 0)
    place += fmt::format(":{}", where.line);
  if (!where.field.empty())
    place += fmt::format(": field '{}'", quote_user_text(where.field));
  return fmt::format("{}: got '{}', expected {}", place, quote_user_text(value), expected);
}

void append_escaped(std::string& out, unsigned char c) {
  switch (c) {
    case '\n':
      out += "\\n";
      return;
    case '\r':
      out += "\\r";
      return;
    case '\t':
      out += "\\t";
      return;
    default:
      break;
  }
  // UTF-8 continuation and lead bytes pass: names and messages may be non-ASCII.
  if (c < 0x20 || c == 0x7f)
    out += fmt::format("\\x{:02x}", c);
  else
    out += static_cast<char>(c);
}

}  // namespace

std::string quote_user_text(std::string_view text, std::size_t max_chars) {
  std::string out;
  std::size_t kept = 0;
  for (; kept < text.size() && out.size() < max_chars; ++kept)
    append_escaped(out, static_cast<unsigned char>(text[kept]));
  if (kept < text.size())
    out += fmt::format("... ({} bytes in all)", text.size());
  return out;
}

InputError::InputError(InputLocation where, std::string value, std::string expected)
    : std::runtime_error(describe(where, value, expected)), where_(std::move(where)) {}

InputError::InputError(std::string file, std::string message)
    : std::runtime_error(fmt::format("{}: {}", quote_user_text(file, kMaxFileChars), message)),
      where_{std::move(file), "", 0} {}

}  // namespace mozart::core
