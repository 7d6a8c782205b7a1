#include "mozart/core/io.hpp"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mozart/core/error.hpp"
#include "mozart/core/temp_file.hpp"

namespace mozart::core {
namespace {

std::string fmt_errno(const char* what) {
  return std::string(what) + ": " + std::strerror(errno);
}

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode))
    return "a device";
  if (S_ISFIFO(mode))
    return "a pipe";
  if (S_ISSOCK(mode))
    return "a socket";
  return "not a regular file";
}

void require_regular(const std::string& path, const struct stat& info) {
  if (!S_ISREG(info.st_mode))
    throw InputError(path, fmt::format("is {}, expected a regular file", kind_of(info.st_mode)));
}

// A descriptor that closes itself.
struct ReadableFile {
  std::size_t size = 0;  // before fd: open_regular_file sets it while fd is initialised
  int fd = -1;

  explicit ReadableFile(const std::string& path) : fd(open_regular_file(path, size)) {}
  ~ReadableFile() { ::close(fd); }
  ReadableFile(const ReadableFile&) = delete;
  ReadableFile& operator=(const ReadableFile&) = delete;
};

}  // namespace

// Checked by name first, so that a FIFO is refused instead of blocking in open(), and by
// descriptor after, for what open() found.
int open_regular_file(const std::string& path, std::size_t& size) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    throw InputError(path, fmt_errno("cannot open"));
  require_regular(path, info);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw InputError(path, fmt_errno("cannot open"));
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    const std::string error = fmt_errno("cannot stat");
    ::close(fd);
    if (S_ISREG(info.st_mode))
      throw InputError(path, error);
    require_regular(path, info);
  }
  size = static_cast<std::size_t>(info.st_size);
  return fd;
}

MappedFile::MappedFile(const std::string& path) {
  const ReadableFile file(path);
  size_ = file.size;
  if (size_ > 0) {
    // Populated up front: the readers touch every byte, and one batched fault beats many.
    void* mapped = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, file.fd, 0);
    if (mapped == MAP_FAILED)
      throw InputError(path, fmt_errno("cannot map"));
    ::madvise(mapped, size_, MADV_SEQUENTIAL);
    data_ = static_cast<const char*>(mapped);
  }
}

MappedFile::~MappedFile() {
  if (data_ != nullptr)
    ::munmap(const_cast<char*>(data_), size_);
}

std::string read_text_file(const std::string& path, std::size_t max_bytes) {
  const ReadableFile file(path);
  if (file.size > max_bytes)
    throw InputError(path, fmt::format("is {} bytes, expected at most {} for a text input",
                                       file.size, max_bytes));
  std::string text(file.size, '\0');
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::read(file.fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw InputError(path, fmt_errno("read failed"));
    if (n == 0)
      break;  // shrank while we read: what is there
    done += static_cast<std::size_t>(n);
  }
  text.resize(done);
  return text;
}

void write_file_atomically(const std::string& path, std::string_view content) {
  TempFile temp(path);
  temp.write(content);
  temp.commit();
}

}  // namespace mozart::core
