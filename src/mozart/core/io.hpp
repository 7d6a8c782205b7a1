// File input and output with mozart's error conventions.
//
// Inputs must be regular files: a device, FIFO or directory is refused before it is opened
// (`hw check /dev/zero` would otherwise read forever). Text inputs (YAML and JSON configs,
// placements, generator parameters) are capped at kMaxTextFileBytes; binary traces are mapped
// whole and limited only by memory.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace mozart::core {

// 64 MiB: the largest config or placement mozart writes is a few MB.
inline constexpr std::size_t kMaxTextFileBytes = std::size_t{64} << 20;

// A file mapped read-only into memory: large binary inputs are parsed in place, without a
// copy. An unreadable or non-regular file is an InputError naming it.
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

// Opens `path` for reading and returns its descriptor (the caller closes it) and size:
// anything but a regular file is an InputError naming it, and a FIFO is refused without
// blocking in open().
int open_regular_file(const std::string& path, std::size_t& size);

// The whole file; an unreadable or non-regular file, or one over `max_bytes`, is an
// InputError naming it.
std::string read_text_file(const std::string& path, std::size_t max_bytes = kMaxTextFileBytes);

// Writes to a temporary file beside `path` and renames it over `path`, so a reader never sees
// a partial file and a failed or interrupted run leaves the old one in place (see TempFile).
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace mozart::core
