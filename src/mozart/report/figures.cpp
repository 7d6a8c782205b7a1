#include "mozart/report/figures.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mozart/core/error.hpp"

extern char** environ;

namespace mozart::report {
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

// Runs argv with stdout and stderr into `log`; the exit status, or -1 when it cannot start.
int run(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int spawned = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0)
    return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

FigureTool default_figure_tool() {
  FigureTool tool{MOZART_PYTHON, MOZART_FIGURES_SCRIPT};
  if (const char* python = std::getenv("MOZART_PYTHON"))
    tool.python = python;
  if (const char* script = std::getenv("MOZART_FIGURES"))
    tool.script = script;
  return tool;
}

FigureMaker::FigureMaker(FigureTool tool) : tool_(std::move(tool)) {
  std::string pattern = (fs::temp_directory_path() / "mozart-report-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("cannot create a scratch directory for the figures");
  scratch_ = pattern;
  std::error_code ec;
  if (!fs::is_regular_file(tool_.script, ec))
    unavailable_ = "the figure script " + tool_.script + " is missing (set MOZART_FIGURES)";
}

FigureMaker::~FigureMaker() {
  std::error_code ec;
  fs::remove_all(scratch_, ec);
}

std::vector<std::string> FigureMaker::draw(const std::vector<Figure>& figures) {
  if (!unavailable_.empty() || figures.empty())
    return {};
  const std::string jobs = scratch_ + "/jobs.jsonl";
  const std::string log = scratch_ + "/figures.log";
  {
    std::ofstream out(jobs);
    for (std::size_t i = 0; i < figures.size(); ++i) {
      nlohmann::json job = nlohmann::json::array({figures[i].kind});
      for (const auto& a : figures[i].args)
        job.push_back(a);
      job.push_back("-o");
      job.push_back(fmt::format("{}/figure{}", scratch_, i));
      out << job.dump() << "\n";
    }
  }
  const int status = run({tool_.python, tool_.script, "--batch", jobs}, log);
  if (status == 2)  // the script's own one line about an input it does not understand
    throw core::InputError("mozart report", first_line(slurp(log)));
  if (status != 0) {
    unavailable_ = status == 3 ? first_line(slurp(log))
                               : fmt::format("{} {} could not run (status {}): {}", tool_.python,
                                             tool_.script, status, first_line(slurp(log)));
    return {};
  }
  std::vector<std::string> png;
  for (std::size_t i = 0; i < figures.size(); ++i)
    png.push_back(slurp(fmt::format("{}/figure{}.png", scratch_, i)));
  return png;
}

}  // namespace mozart::report
