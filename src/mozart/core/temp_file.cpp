#include "mozart/core/temp_file.hpp"

#include <array>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "mozart/core/error.hpp"

namespace mozart::core {
namespace {

// The signal handler may only read plain memory and call async-signal-safe functions
// (unlink, signal, raise), so live temporaries sit in a fixed table of NUL-terminated paths;
// a slot's state says whether its path is complete.
constexpr int kSlots = 64;
constexpr std::size_t kPathBytes = 4096;
enum SlotState : int { kFree = 0, kFilling = 1, kLive = 2 };

std::array<std::atomic<int>, kSlots> slot_state{};
char slot_path[kSlots][kPathBytes];

int claim_slot(const std::string& path) {
  if (path.size() >= kPathBytes)
    return -1;
  for (int s = 0; s < kSlots; ++s) {
    int expected = kFree;
    if (slot_state[s].compare_exchange_strong(expected, kFilling)) {
      std::memcpy(slot_path[s], path.c_str(), path.size() + 1);
      slot_state[s].store(kLive);
      return s;
    }
  }
  return -1;  // more than kSlots at once: still removed on failure, not on a signal
}

void release_slot(int slot) {
  if (slot >= 0)
    slot_state[slot].store(kFree);
}

extern "C" void remove_temporaries_and_reraise(int signal) {
  for (int s = 0; s < kSlots; ++s)
    if (slot_state[s].load() == kLive)
      ::unlink(slot_path[s]);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

int write_all(int fd, std::string_view content) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return 0;
}

}  // namespace

void install_temp_file_cleanup() {
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction action {};
    if (::sigaction(signal, nullptr, &action) == 0 && action.sa_handler == SIG_IGN)
      continue;  // started with the signal ignored (nohup): keep it so
    action = {};
    action.sa_handler = remove_temporaries_and_reraise;
    sigemptyset(&action.sa_mask);
    ::sigaction(signal, &action, nullptr);
  }
}

TempFile::TempFile(std::string target)
    : target_(std::move(target)), path_(target_ + ".tmp." + std::to_string(::getpid())) {
  slot_ = claim_slot(path_);
}

TempFile::~TempFile() {
  if (!committed_)
    ::unlink(path_.c_str());
  release_slot(slot_);
}

void TempFile::write(std::string_view content) {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    throw InputError(target_, std::string("cannot write: ") + std::strerror(errno));
  const bool written = write_all(fd, content) == 0;
  const int saved = errno;
  const bool closed = ::close(fd) == 0;
  if (!written || !closed)
    throw InputError(target_,
                     std::string("write failed: ") + std::strerror(written ? errno : saved));
}

void TempFile::commit() {
  if (std::rename(path_.c_str(), target_.c_str()) != 0)
    throw InputError(target_, std::string("cannot replace: ") + std::strerror(errno));
  committed_ = true;
  release_slot(slot_);  // a signal now must not touch the name: it is gone
  slot_ = -1;
}

}  // namespace mozart::core
