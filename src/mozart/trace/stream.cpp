#include "mozart/trace/stream.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"

namespace mozart::trace::detail {
namespace {

std::string system_error(const char* what) {
  return fmt::format("{}: {}", what, std::strerror(errno));
}

// An open file descriptor for reading `path` and its size; errors name the path, and
// anything but a regular file (a directory, /dev/zero, a FIFO) is refused.
int open_input(const std::string& path, std::uint64_t& size) {
  std::size_t bytes = 0;
  const int fd = core::open_regular_file(path, bytes);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);  // advice only
  size = bytes;
  return fd;
}

}  // namespace

FileSink::FileSink(std::string path) : temp_(std::move(path)) {
  fd_ = ::open(temp_.path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0)
    throw core::InputError(temp_.target(), system_error("cannot write"));
}

FileSink::~FileSink() {
  if (fd_ >= 0)  // not committed: an error stopped the writer; temp_ removes the file
    ::close(fd_);
}

void FileSink::write(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      throw core::InputError(temp_.target(), system_error("write failed"));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void FileSink::commit() {
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0)
    throw core::InputError(temp_.target(), system_error("write failed"));
  temp_.commit();
}

Input Input::of_bytes(std::string_view bytes, std::string source) {
  Input input(std::move(source), bytes.size());
  input.memory_ = bytes;
  return input;
}

Input Input::of_file(const std::string& path) {
  std::uint64_t size = 0;
  const int fd = open_input(path, size);
  Input input(path, size);
  input.fd_ = fd;
  return input;
}

Input::Input(Input&& other) noexcept
    : source_(std::move(other.source_)),
      memory_(other.memory_),
      fd_(other.fd_),
      size_(other.size_),
      position_(other.position_) {
  other.fd_ = -1;
}

Input::~Input() {
  if (fd_ >= 0)
    ::close(fd_);
}

std::size_t Input::read_some(char* into, std::size_t capacity) {
  if (fd_ < 0) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(capacity, size_ - position_));
    if (n > 0)  // an empty view may have no data pointer at all
      std::memcpy(into, memory_.data() + position_, n);
    position_ += n;
    return n;
  }
  std::size_t filled = 0;
  while (filled < capacity) {
    const ssize_t n = ::read(fd_, into + filled, capacity - filled);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      throw core::InputError(source_, system_error("read failed"));
    if (n == 0)
      break;
    filled += static_cast<std::size_t>(n);
  }
  position_ += filled;
  return filled;
}

void Input::read(void* into, std::size_t n) {
  if (read_some(static_cast<char*>(into), n) != n)
    throw core::InputError(source_, "file shrank while being read");
}

std::string_view LineChunks::next() {
  if (buffer_.empty()) {
    // Small inputs (tests, fuzzing) get a small buffer; a file gets the longest line's worth.
    const std::size_t capacity =
        input_.from_memory() ? std::min<std::uint64_t>(input_.size() + 1, kMaxLine) : kMaxLine;
    buffer_.resize(capacity + kPadding);
  }
  const std::size_t capacity = buffer_.size() - kPadding;
  std::memmove(buffer_.data(), buffer_.data() + start_, carried_);
  std::size_t filled = carried_;
  if (!eof_) {
    const std::size_t wanted = capacity - filled;
    const std::size_t got = input_.read_some(buffer_.data() + filled, wanted);
    filled += got;
    eof_ = got < wanted || input_.position() == input_.size();
  }
  std::memset(buffer_.data() + filled, 0, kPadding);
  std::size_t end = filled;
  if (!eof_) {
    const void* newline = ::memrchr(buffer_.data(), '\n', filled);
    if (newline == nullptr)
      throw core::InputError({input_.source(), "line", static_cast<int>(next_line_)},
                             fmt::format("a line over {} MiB", kMaxLine >> 20),
                             "one record per line");
    end = static_cast<std::size_t>(static_cast<const char*>(newline) - buffer_.data()) + 1;
  }
  carried_ = filled - end;
  start_ = end;
  const std::string_view chunk(buffer_.data(), end);
  first_line_ = next_line_;
  next_line_ += count_lines(chunk);
  done_ += end;
  return chunk;
}

namespace {

// The `n` decimal digits of `v` (no fewer than it has) at `at`, two at a time from the last.
void write_digits(char* at, std::uint32_t v, int n) {
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char* p = at + n;
  while (v >= 100) {
    p -= 2;
    std::memcpy(p, kPairs + 2 * (v % 100), 2);
    v /= 100;
  }
  if (v >= 10) {
    p -= 2;
    std::memcpy(p, kPairs + 2 * v, 2);
  } else {
    *--p = static_cast<char>('0' + v);
  }
}

int digit_count(std::uint32_t v) {  // v < 10^9, without a branch
  return 1 + (v >= 10) + (v >= 100) + (v >= 1000) + (v >= 10000) + (v >= 100000) + (v >= 1000000) +
         (v >= 10000000) + (v >= 100000000);
}

// The eight decimal digits of `v` < 10^8, leading zeros included, as the bytes of a word (the
// first digit in the lowest byte): four lanes of two digits, then eight of one, by multiplying
// by reciprocals exact over each lane's range.
std::uint64_t eight_digits(std::uint32_t v) {
  const std::uint64_t halves = (v / 10000) | (static_cast<std::uint64_t>(v % 10000) << 32);
  const std::uint64_t hundreds = ((halves * 10486) >> 20) & 0x0000007F0000007Full;
  const std::uint64_t pairs = hundreds | ((halves - hundreds * 100) << 16);
  const std::uint64_t tens = ((pairs * 103) >> 10) & 0x000F000F000F000Full;
  return (tens | ((pairs - tens * 10) << 8)) + 0x3030303030303030ull;
}

// The `n` digits of `v` at `at` (write_digits' text), storing a whole word: up to eight bytes
// from `at` are written.
void put_digits(char* at, std::uint32_t v, int n) {
  if (n > 8) {
    write_digits(at, v, n);
    return;
  }
  const std::uint64_t word = eight_digits(v) >> (8 * (8 - n));
  std::memcpy(at, &word, sizeof word);
}

}  // namespace

char* write_float(char* at, float x) {
  // fmt writes fixed notation for decimal exponents in [-4, 16); this covers [-4, 8), where at
  // most three zeros follow the point and eight digits precede it.
  if (x > 0 && x < 1e8f) {
    const auto decimal = fmt::detail::dragonbox::to_decimal(x);
    const int n = digit_count(decimal.significand);
    const int exponent = decimal.exponent + n - 1;  // of the first digit
    if (exponent >= -4) {
      if (decimal.exponent >= 0) {  // an integer: the digits, then zeros
        put_digits(at, decimal.significand, n);
        std::memset(at + n, '0', static_cast<std::size_t>(decimal.exponent));
        return at + n + decimal.exponent;
      }
      if (exponent >= 0) {  // digits before and after the point: written one place on, and
                            // the whole part moved back
        const auto whole = static_cast<std::size_t>(exponent + 1);
        put_digits(at + 1, decimal.significand, n);
        std::memmove(at, at + 1, whole);
        at[whole] = '.';
        return at + n + 1;
      }
      const int zeros = -exponent - 1;  // "0." and up to three zeros, then the digits
      std::memcpy(at, "0.000", 5);
      put_digits(at + 2 + zeros, decimal.significand, n);
      return at + 2 + zeros + n;
    }
  }
  return fmt::format_to(at, FMT_COMPILE("{}"), x);
}

std::uint64_t count_lines(std::string_view text) {
  std::uint64_t lines = 0;
  const char* p = text.data();
  const char* const end = p + text.size();
  while (p < end) {
    const void* newline = std::memchr(p, '\n', static_cast<std::size_t>(end - p));
    if (newline == nullptr)
      break;
    ++lines;
    p = static_cast<const char*>(newline) + 1;
  }
  return lines;
}

}  // namespace mozart::trace::detail
