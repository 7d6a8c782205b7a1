#include "mozart/core/io.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mozart/core/error.hpp"

namespace mozart::core {
namespace {

std::string fmt_errno(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

}  // namespace

MappedFile::MappedFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(path, "is a directory, expected a file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw InputError(path, fmt_errno("cannot open"));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    throw InputError(path, fmt_errno("cannot stat"));
  }
  size_ = static_cast<std::size_t>(info.st_size);
  if (size_ > 0) {
    // Populated up front: the readers touch every byte, and one batched fault beats many.
    void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (mapped == MAP_FAILED) {
      ::close(fd);
      throw InputError(path, fmt_errno("cannot map"));
    }
    ::madvise(mapped, size_, MADV_SEQUENTIAL);
    data_ = static_cast<const char*>(mapped);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr)
    ::munmap(const_cast<char*>(data_), size_);
}

std::string read_text_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw InputError(path, "is a directory, expected a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw InputError(path, fmt_errno("cannot open"));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad())
    throw InputError(path, "read failed");
  return buffer.str();
}

void write_file_atomically(const std::string& path, std::string_view content) {
  namespace fs = std::filesystem;
  fs::path target(path);
  fs::path temp = target;
  temp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw InputError(path, fmt_errno("cannot write"));
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      std::error_code ignored;
      fs::remove(temp, ignored);
      throw InputError(path, "write failed (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(temp, target, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw InputError(path, "cannot replace: " + ec.message());
  }
}

}  // namespace mozart::core
