// Temporary files beside an output, renamed over it once complete, and removed when the run
// fails or is interrupted: an output is either its old self or wholly new.
#pragma once

#include <string>
#include <string_view>

namespace mozart::core {

// Installs SIGINT, SIGTERM and SIGHUP handlers that unlink every live TempFile and then
// re-raise the signal with its default action (the exit status still says "killed by").
// Call once, early in main.
void install_temp_file_cleanup();

// "<target>.tmp.<pid>", registered for removal on a signal while it lives. Not copyable:
// exactly one owner removes it.
class TempFile {
 public:
  explicit TempFile(std::string target);
  ~TempFile();  // removes the temporary unless committed
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  const std::string& target() const { return target_; }
  // Where a streaming writer may write; commit() moves it to target().
  const std::string& path() const { return path_; }

  // Writes `content` to path(); an InputError naming the target if the disk refuses.
  void write(std::string_view content);
  // Renames path() over target(); an InputError naming the target when that fails.
  void commit();

 private:
  std::string target_;
  std::string path_;
  int slot_ = -1;  // in the signal handler's table; -1 when the table was full
  bool committed_ = false;
};

}  // namespace mozart::core
