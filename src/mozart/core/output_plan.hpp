// The outputs of one command, declared before its work starts and written together at its end.
//
// A run that fails must leave existing outputs alone, so a command first declares every path
// it will write and every file it reads; check() then refuses, before any work, an output
// whose directory is missing or not writable, that is a directory or a device, that has an
// extension the command does not write, or that is the same file (device and inode) as an
// input or another output. The work stages each output in a TempFile beside it; commit()
// renames them all at the end. Staged files of a run that throws, or is interrupted by
// SIGINT/SIGTERM (install_temp_file_cleanup), are removed.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "mozart/core/temp_file.hpp"

namespace mozart::core {

class OutputPlan {
 public:
  // `command` names the command in messages, e.g. "mozart simulate".
  explicit OutputPlan(std::string command);

  // A file the command reads. Names that are not files (a preset, a zoo model) are skipped.
  OutputPlan& input(const std::string& path);
  // An output given by `option` (e.g. "-o"), with the extensions it may have (".json").
  // An empty path means the output was not asked for.
  OutputPlan& output(const std::string& option, const std::string& path,
                     std::vector<std::string> extensions);

  // Throws an InputError, one line naming the option, path and what was expected, for the
  // first output that cannot be written.
  void check() const;

  // Writes an output's content to its temporary file (the path must have been declared).
  void stage(const std::string& path, std::string_view content);
  // The temporary file of a declared output, for writers that stream.
  TempFile& temp_for(const std::string& path);
  // Renames every staged output over its target.
  void commit();

 private:
  struct Output {
    std::string option;
    std::string path;
    std::vector<std::string> extensions;
  };
  void check_output(const Output& out) const;
  const Output& declared(const std::string& path) const;

  std::string command_;
  std::vector<std::string> inputs_;
  std::vector<Output> outputs_;
  std::vector<std::unique_ptr<TempFile>> staged_;
};

// A file's extension with its dot (".json"), as the readers match it: case counts.
std::string extension_of(const std::string& path);

}  // namespace mozart::core
