// `mozart report RUN_DIR`: the HTML page of a run directory (src/mozart/report).
#include <filesystem>

#include "commands.hpp"
#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/output_plan.hpp"
#include "mozart/report/report.hpp"

namespace mozart::cli {
namespace {

struct ReportFlags {
  std::string dir;
  std::string output;
};

void run_report(const ReportFlags& f) {
  std::error_code ec;
  if (!std::filesystem::is_directory(f.dir, ec))
    throw core::InputError(f.dir, "is not a directory: expected the --out-dir of a run");
  const std::string output = f.output.empty() ? f.dir + "/report.html" : f.output;
  core::OutputPlan outputs("mozart report");
  outputs.output("-o", output, {".html"}).check();
  report::FigureMaker figures(report::default_figure_tool());
  const std::string html = report::make_report(f.dir, figures);
  outputs.stage(output, html);
  outputs.commit();
  fmt::print("report written to {}\n", output);
  if (!figures.unavailable().empty())
    fmt::print(stderr, "mozart report: warning: figures left out: {}\n", figures.unavailable());
}

}  // namespace

void add_report_commands(CLI::App& app) {
  auto f = std::make_shared<ReportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "report",
      "One self-contained HTML page from the --out-dir of simulate, serve, place, "
      "reproduce or sweep (docs/report.md)");
  cmd->add_option("run_dir", f->dir, "The run's directory")->required();
  cmd->add_option("-o,--output", f->output, "The page (.html; default RUN_DIR/report.html)");
  cmd->callback([f] { run_report(*f); });
}

}  // namespace mozart::cli
