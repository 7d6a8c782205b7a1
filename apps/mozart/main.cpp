// The `mozart` command: wires the library modules to subcommands. Exit codes: 0 on success,
// 2 on bad input (one line on stderr naming the file, field, value and what was expected),
// 1 on an internal error. A run that fails, or is interrupted, leaves existing outputs as
// they were (core::OutputPlan, core::TempFile).
#include <cstdio>

#include "commands.hpp"
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/heap.hpp"
#include "mozart/core/progress.hpp"
#include "mozart/core/temp_file.hpp"

namespace {

// Every error is one line, however long or strange the text it quotes.
constexpr std::size_t kMaxMessageChars = 1000;

int report(const char* kind, const std::string& message, int code) {
  fmt::print(stderr, "mozart: {}: {}\n", kind,
             mozart::core::quote_user_text(message, kMaxMessageChars));
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  mozart::core::keep_freed_memory();  // runs free and rebuild large arrays again and again
  mozart::core::install_temp_file_cleanup();
  CLI::App app{
      "mozart: plan and simulate Mixture-of-Experts training and inference on "
      "wafer-scale and chiplet hardware"};
  app.set_version_flag("--version", std::string("mozart 0.1.0"));
  app.require_subcommand(1);
  app.fallthrough();  // --quiet anywhere on the line
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "No progress line on stderr (it is shown only on a terminal)")
      ->each([](const std::string&) { mozart::core::set_progress_enabled(false); });
  mozart::cli::add_model_commands(app);
  mozart::cli::add_hw_commands(app);
  mozart::cli::add_trace_commands(app);
  mozart::cli::add_place_commands(app);
  mozart::cli::add_net_commands(app);
  mozart::cli::add_simulate_commands(app);
  mozart::cli::add_serve_commands(app);
  mozart::cli::add_sweep_commands(app);
  mozart::cli::add_report_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return report("error", std::string(e.what()) + " (see --help)", 2);
  } catch (const mozart::core::InputError& e) {
    return report("error", e.what(), 2);
  } catch (const std::exception& e) {
    return report("internal error", e.what(), 1);
  }
  return 0;
}
