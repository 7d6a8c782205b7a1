#include "mozart/core/output_plan.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mozart/core/error.hpp"

namespace mozart::core {
namespace {

namespace fs = std::filesystem;

bool same_file(const std::string& a, const std::string& b) {
  struct stat x {
  }, y{};
  return ::stat(a.c_str(), &x) == 0 && ::stat(b.c_str(), &y) == 0 && x.st_dev == y.st_dev &&
         x.st_ino == y.st_ino;
}

std::string directory_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

std::string extension_list(const std::vector<std::string>& extensions) {
  std::string out;
  for (std::size_t i = 0; i < extensions.size(); ++i)
    out += (i == 0 ? "" : i + 1 == extensions.size() ? " or " : ", ") + extensions[i];
  return out;
}

}  // namespace

std::string extension_of(const std::string& path) {
  return fs::path(path).extension().string();
}

OutputPlan::OutputPlan(std::string command) : command_(std::move(command)) {}

OutputPlan& OutputPlan::input(const std::string& path) {
  struct stat info {};
  if (!path.empty() && ::stat(path.c_str(), &info) == 0)
    inputs_.push_back(path);
  return *this;
}

OutputPlan& OutputPlan::output(const std::string& option, const std::string& path,
                               std::vector<std::string> extensions) {
  if (!path.empty())
    outputs_.push_back({option, path, std::move(extensions)});
  return *this;
}

void OutputPlan::check() const {
  for (const Output& out : outputs_)
    check_output(out);
}

void OutputPlan::check_output(const Output& out) const {
  const InputLocation where{command_, out.option, 0};
  const auto& allowed = out.extensions;
  if (!allowed.empty() &&
      std::find(allowed.begin(), allowed.end(), extension_of(out.path)) == allowed.end())
    throw InputError(where, out.path,
                     fmt::format("a file ending in {} (the format follows the extension)",
                                 extension_list(allowed)));
  struct stat info {};
  if (::stat(out.path.c_str(), &info) == 0 && !S_ISREG(info.st_mode))
    throw InputError(where, out.path, "a regular file to write (it is a directory or device)");
  const std::string dir = directory_of(out.path);
  struct stat dir_info {};
  if (::stat(dir.c_str(), &dir_info) != 0 || !S_ISDIR(dir_info.st_mode))
    throw InputError(where, out.path, fmt::format("a path in an existing directory ({})", dir));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw InputError(where, out.path, fmt::format("a path in a writable directory ({})", dir));
  for (const std::string& in : inputs_)
    if (same_file(out.path, in))
      throw InputError(where, out.path,
                       fmt::format("a file other than the input {} (it would be overwritten)", in));
  for (const Output& other : outputs_)
    if (&other != &out && (other.path == out.path || same_file(other.path, out.path)))
      throw InputError(where, out.path, fmt::format("a file other than {}'s", other.option));
}

const OutputPlan::Output& OutputPlan::declared(const std::string& path) const {
  for (const Output& out : outputs_)
    if (out.path == path)
      return out;
  throw std::logic_error(fmt::format("{}: output {} was not declared", command_, path));
}

TempFile& OutputPlan::temp_for(const std::string& path) {
  declared(path);
  for (auto& temp : staged_)
    if (temp->target() == path)
      return *temp;
  staged_.push_back(std::make_unique<TempFile>(path));
  return *staged_.back();
}

void OutputPlan::stage(const std::string& path, std::string_view content) {
  temp_for(path).write(content);
}

void OutputPlan::commit() {
  for (auto& temp : staged_)
    temp->commit();
  staged_.clear();
}

}  // namespace mozart::core
