// File input and output with mozart's error conventions.
#pragma once

#include <string>
#include <string_view>

namespace mozart::core {

// The whole file; an unreadable file is an InputError naming it.
std::string read_text_file(const std::string& path);

// Writes to a temporary file beside `path` and renames it over `path`, so a reader never sees
// a partial file and a failed run leaves the old one in place.
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace mozart::core
