#include "mozart/core/io.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"

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

}  // namespace
}  // namespace mozart::core
