// File input and output with mozart's error conventions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mozart::core {

// A file mapped read-only into memory: large binary inputs are parsed in place, without a
// copy. An unreadable file is an InputError naming it.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::string_view bytes() const { return {data_, size_}; }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// The whole file; an unreadable file is an InputError naming it.
std::string read_text_file(const std::string& path);

// Writes to a temporary file beside `path` and renames it over `path`, so a reader never sees
// a partial file and a failed run leaves the old one in place.
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace mozart::core
