// The `mozart` command: wires the library modules to subcommands. Exit codes: 0 on success,
// 2 on bad input (one line on stderr naming the file, field, value and what was expected),
// 1 on an internal error.
#include <cstdio>

#include "commands.hpp"
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "mozart/core/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "mozart: plan and simulate Mixture-of-Experts training and inference on "
      "wafer-scale and chiplet hardware"};
  app.set_version_flag("--version", std::string("mozart 0.1.0"));
  app.require_subcommand(1);
  mozart::cli::add_model_commands(app);
  mozart::cli::add_hw_commands(app);
  mozart::cli::add_trace_commands(app);
  mozart::cli::add_place_commands(app);
  mozart::cli::add_net_commands(app);
  mozart::cli::add_simulate_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "mozart: error: {}\nRun with --help for usage.\n", e.what());
    return 2;
  } catch (const mozart::core::InputError& e) {
    fmt::print(stderr, "mozart: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "mozart: internal error: {}\n", e.what());
    return 1;
  }
  return 0;
}
