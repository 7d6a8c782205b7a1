// Internal to the trace module: streamed input and output, so that reading or writing a trace
// holds the trace and a few megabytes, never the whole file text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/compile.h>
#include <fmt/format.h>

#include "mozart/core/bulk_allocator.hpp"
#include "mozart/core/temp_file.hpp"

namespace mozart::trace::detail {

// Where a writer's bytes go.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void write(std::string_view bytes) = 0;
};

class StringSink final : public Sink {
 public:
  explicit StringSink(std::string& out) : out_(out) {}
  void write(std::string_view bytes) override { out_.append(bytes); }

 private:
  std::string& out_;
};

// Writes `path`.tmp.<pid> and renames it over `path` at commit(), so a reader never sees a
// partial file and a failed write leaves the old file in place; an uncommitted temporary is
// removed, also on SIGINT/SIGTERM (core::TempFile). Failures are InputErrors naming `path`.
class FileSink final : public Sink {
 public:
  explicit FileSink(std::string path);
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  void write(std::string_view bytes) override;
  void commit();

 private:
  core::TempFile temp_;
  int fd_ = -1;
};

// Text formatted into a buffer and handed to a sink in blocks of about a megabyte.
class BufferedWriter {
 public:
  explicit BufferedWriter(Sink& sink) : sink_(sink) {}

  fmt::appender out() { return fmt::appender(buffer_); }
  void append(std::string_view text) { buffer_.append(text.data(), text.data() + text.size()); }
  // Room for `bytes` more, to fill through a pointer; commit() says where the text ended.
  char* reserve(std::size_t bytes) {
    const std::size_t size = buffer_.size();
    buffer_.resize(size + bytes);
    return buffer_.data() + size;
  }
  void commit(const char* end) { buffer_.resize(static_cast<std::size_t>(end - buffer_.data())); }
  void flush_if_full() {
    if (buffer_.size() >= kBlock)
      flush();
  }
  void flush() {
    sink_.write({buffer_.data(), buffer_.size()});
    buffer_.clear();
  }

 private:
  static constexpr std::size_t kBlock = std::size_t{1} << 20;
  Sink& sink_;
  fmt::memory_buffer buffer_;
};

// Bytes read in order, from memory or from a file with read(2) (never mapped, so a file read
// once does not stay in the process's memory): binary columns are read straight into the trace.
class Input {
 public:
  static Input of_bytes(std::string_view bytes, std::string source);
  static Input of_file(const std::string& path);
  ~Input();
  Input(Input&& other) noexcept;
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;
  Input& operator=(Input&&) = delete;

  std::uint64_t size() const { return size_; }
  std::uint64_t position() const { return position_; }
  bool from_memory() const { return fd_ < 0; }
  const std::string& source() const { return source_; }
  // Up to `capacity` bytes; fewer only at the end of the input.
  std::size_t read_some(char* into, std::size_t capacity);
  // The next `n` bytes; fewer left (the file shrank while read) is an InputError.
  void read(void* into, std::size_t n);

 private:
  Input(std::string source, std::uint64_t size) : source_(std::move(source)), size_(size) {}

  std::string source_;
  std::string_view memory_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t position_ = 0;
};

// `x` as "{}" formats it (the shortest text that reads back as `x`) at `at`, using at most
// kMaxFloatText bytes of room there; returns the end of the text. Fixed notation, the common case
// of gates, is written here from the shortest digits; the rest goes through fmt.
char* write_float(char* at, float x);

// Text written through a raw pointer into room reserved beforehand (BufferedWriter::reserve):
// no bounds check per character, and numbers through fmt's compiled formats, whose output is
// the same as "{}" at run time. Formatting is most of what a text writer costs.
class Cursor {
 public:
  explicit Cursor(char* at) : at_(at) {}

  void text(std::string_view s) {
    std::memcpy(at_, s.data(), s.size());
    at_ += s.size();
  }
  void integer(std::uint64_t n) {
    const fmt::format_int digits(n);
    text({digits.data(), digits.size()});
  }
  void number(float x) { at_ = write_float(at_, x); }
  // The values with `separator` (a literal, so its copy is inlined) between them, each written
  // by `put(cursor, value)`.
  template <typename T, std::size_t N, typename Put>
  void joined(const T* values, std::size_t n, const char (&separator)[N], Put put) {
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) {
        std::memcpy(at_, separator, N - 1);
        at_ += N - 1;
      }
      put(*this, values[i]);
    }
  }
  const char* end() const { return at_; }

 private:
  char* at_;
};

// The most bytes "{}" writes for a float: fixed notation up to 10^16 ("-1001005000000000").
inline constexpr std::size_t kMaxFloatText = 17;

// Text in chunks of whole lines: a reader holds one chunk (at most kMaxLine bytes) at a time.
// Each chunk is followed in memory by at least kPadding readable bytes (simdjson reads ahead).
class LineChunks {
 public:
  static constexpr std::size_t kPadding = 64;
  static constexpr std::size_t kMaxLine = std::size_t{4} << 20;

  explicit LineChunks(Input input) : input_(std::move(input)) {}

  // The next chunk of whole lines (the input's last line may lack its newline); empty at the
  // end. A line over kMaxLine bytes is an InputError.
  std::string_view next();
  // The 1-based line number where the current chunk begins.
  std::uint64_t first_line() const { return first_line_; }
  std::uint64_t total_bytes() const { return input_.size(); }
  std::uint64_t bytes_done() const { return done_; }
  const std::string& source() const { return input_.source(); }

 private:
  Input input_;
  std::uint64_t done_ = 0;
  std::uint64_t first_line_ = 1;
  std::uint64_t next_line_ = 1;
  core::Column<char> buffer_;
  std::size_t carried_ = 0;  // bytes of an unfinished line kept from the last read
  std::size_t start_ = 0;    // where those bytes begin in buffer_
  bool eof_ = false;
};

// Newlines in `text` (memchr runs at memory speed).
std::uint64_t count_lines(std::string_view text);

}  // namespace mozart::trace::detail
