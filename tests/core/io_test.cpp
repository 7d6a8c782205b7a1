#include "mozart/core/io.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mozart/core/error.hpp"
#include "mozart/core/output_plan.hpp"
#include "mozart/core/progress.hpp"
#include "mozart/core/temp_file.hpp"

namespace mozart::core {
namespace {

TEST(Io, AtomicWriteReplacesWholeFileAndLeavesNoTemporary) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "mozart_io_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string path = (dir / "out.txt").string();
  write_file_atomically(path, "first version, longer");
  write_file_atomically(path, "second");
  EXPECT_EQ(read_text_file(path), "second");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

TEST(Io, UnwritableAndMissingPathsAreInputErrors) {
  EXPECT_THROW(write_file_atomically("/nonexistent-dir/x.txt", "x"), InputError);
  EXPECT_THROW(read_text_file("/nonexistent-dir/x.txt"), InputError);
  EXPECT_THROW(read_text_file("/tmp"), InputError);
}

namespace fs = std::filesystem;

// A fresh directory per test, removed at the end.
struct TempDir {
  fs::path dir;
  explicit TempDir(const std::string& name)
      : dir(fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string operator/(const std::string& file) const { return (dir / file).string(); }
  std::size_t entries() const {
    return std::size_t(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
  }
};

void write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Io, NonRegularInputsAreRefusedWithoutReading) {
  // /dev/zero would read forever; a FIFO would block in open().
  EXPECT_NE(message_of([] { read_text_file("/dev/zero"); }).find("a device"), std::string::npos);
  EXPECT_NE(message_of([] { MappedFile("/dev/zero"); }).find("a device"), std::string::npos);
  TempDir tmp("mozart_io_fifo");
  const std::string fifo = tmp / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(message_of([&] { read_text_file(fifo); }).find("a pipe"), std::string::npos);
  EXPECT_NE(message_of([&] { read_text_file(tmp.dir.string()); }).find("a directory"),
            std::string::npos);
}

TEST(Io, TextInputsAreCapped) {
  TempDir tmp("mozart_io_cap");
  const std::string path = tmp / "big.yaml";
  write(path, std::string(1000, 'x'));
  EXPECT_EQ(read_text_file(path, 1000).size(), 1000u);
  EXPECT_NE(message_of([&] { read_text_file(path, 999); }).find("at most 999"), std::string::npos);
}

TEST(Io, QuotedUserTextIsOneShortLine) {
  EXPECT_EQ(quote_user_text("plain"), "plain");
  EXPECT_EQ(quote_user_text("a\nb\x01"), "a\\nb\\x01");
  const std::string long_text(5000, 'y');
  const std::string quoted = quote_user_text(long_text);
  EXPECT_EQ(quoted, std::string(80, 'y') + "... (5000 bytes in all)");
  // Through InputError: the value is capped, the message stays one line.
  const InputError e({"f.yaml", "name", 3}, std::string(4096, '\n'), "a name");
  EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  EXPECT_LT(std::string(e.what()).size(), 200u);
}

TEST(OutputPlan, RefusesBadOutputsBeforeAnyWork) {
  TempDir tmp("mozart_plan_refuse");
  const std::string input = tmp / "in.mzt";
  write(input, "trace");
  const std::string link = tmp / "same.json";
  fs::create_symlink(input, link);
  auto refusal = [&](const std::string& path, std::vector<std::string> extensions) {
    return message_of([&] {
      OutputPlan plan("mozart test");
      plan.input(input).input("olmoe-1b-7b").output("-o", path, std::move(extensions)).check();
    });
  };
  EXPECT_NE(refusal(tmp / "out.txt", {".json"}).find("ending in .json"), std::string::npos);
  EXPECT_NE(refusal(tmp / "out.txt", {".json", ".csv"}).find(".json or .csv"), std::string::npos);
  EXPECT_NE(refusal(tmp / "missing/out.json", {".json"}).find("existing directory"),
            std::string::npos);
  EXPECT_NE(refusal(tmp.dir.string(), {}).find("regular file"), std::string::npos);
  EXPECT_NE(refusal("/dev/null", {}).find("regular file"), std::string::npos);
  EXPECT_NE(refusal(input, {}).find("other than the input"), std::string::npos);
  EXPECT_NE(refusal(link, {".json"}).find("other than the input"), std::string::npos);  // inode
  EXPECT_EQ(refusal(tmp / "out.json", {".json"}), "(no error)");
  const std::string twice = message_of([&] {
    OutputPlan plan("mozart test");
    plan.output("-o", tmp / "a.json", {}).output("--timeline", tmp / "a.json", {}).check();
  });
  EXPECT_NE(twice.find("other than --timeline's"), std::string::npos);
  if (::geteuid() != 0) {  // root writes anywhere
    const std::string locked = tmp / "locked";
    fs::create_directories(locked);
    fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_NE(refusal(locked + "/out.json", {".json"}).find("writable"), std::string::npos);
    fs::permissions(locked, fs::perms::owner_all);
  }
}

TEST(OutputPlan, CommitsAllOrLeavesEverythingAsItWas) {
  TempDir tmp("mozart_plan_commit");
  const std::string a = tmp / "a.json";
  const std::string b = tmp / "b.md";
  write(a, "old a");
  {
    OutputPlan plan("mozart test");
    plan.output("-o", a, {".json"}).output("--markdown", b, {".md"}).check();
    plan.stage(a, "new a");
    EXPECT_EQ(read_text_file(a), "old a");  // staged beside it, not over it
    // The run fails here: the plan goes out of scope uncommitted.
  }
  EXPECT_EQ(read_text_file(a), "old a");
  EXPECT_EQ(tmp.entries(), 1u);  // no temporary left, b never created
  OutputPlan plan("mozart test");
  plan.output("-o", a, {".json"}).output("--markdown", b, {".md"}).check();
  plan.stage(a, "new a");
  plan.stage(b, "new b");
  plan.commit();
  EXPECT_EQ(read_text_file(a), "new a");
  EXPECT_EQ(read_text_file(b), "new b");
  EXPECT_EQ(tmp.entries(), 2u);
}

TEST(TempFile, ASignalRemovesLiveTemporariesAndStillKills) {
  TempDir tmp("mozart_temp_signal");
  const std::string target = tmp / "out.mzt";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    install_temp_file_cleanup();
    TempFile temp(target);
    temp.write("partial output");
    std::raise(SIGTERM);  // as a user's kill while the output is being written
    ::_exit(0);           // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_EQ(tmp.entries(), 0u);  // the temporary is gone
}

TEST(Progress, LineCountsAndEstimatesTheRest) {
  EXPECT_EQ(progress_line("reproduce", 1, 4, 10.0), "reproduce  1/4 (25%)  ETA 30 s");
  EXPECT_EQ(progress_line("reproduce", 0, 4, 2.0), "reproduce  0/4 (0%)  2 s so far");
  EXPECT_EQ(progress_line("simulate", 2, 3, 300.0), "simulate  2/3 (67%)  ETA 2 min");
  EXPECT_EQ(progress_line("study", 1, 2, 7200.0), "study  1/2 (50%)  ETA 2.0 h");
  EXPECT_EQ(progress_line("gen", 1, 2, 5.0, false), "gen  1/2 (50%)  5 s so far");
  // Not a terminal under the test runner: nothing is drawn.
  if (::isatty(STDERR_FILENO) == 0) {
    EXPECT_FALSE(progress_enabled());
  }
  set_progress_enabled(false);
  EXPECT_FALSE(progress_enabled());
  set_progress_enabled(true);
}

}  // namespace
}  // namespace mozart::core
