// Errors that mozart reports to its user.
//
// Bad input stops at the boundary with one InputError naming where (file, line, field), what
// was found and what was expected; the command turns it into one line and exit code 2. Code
// past the boundary assumes validated data.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mozart::core {

struct InputLocation {
  std::string file;   // file name, or a label such as "<preset mozart-nop-tree-ucie>"
  std::string field;  // dotted path, e.g. "chiplet_kinds.expert.sram.bytes"
  int line = 0;       // 1-based; 0 when unknown
};

// User text as an error may quote it: non-printable bytes escaped (\n, \xNN) and at most
// `max_chars` characters kept, so that a binary file or a huge value still gives one short line.
std::string quote_user_text(std::string_view text, std::size_t max_chars = 80);

class InputError : public std::runtime_error {
 public:
  InputError(InputLocation where, std::string value, std::string expected);
  // For errors that are not about one field (a missing file, a disconnected topology).
  InputError(std::string file, std::string message);

  const InputLocation& where() const { return where_; }

 private:
  InputLocation where_;
};

}  // namespace mozart::core
