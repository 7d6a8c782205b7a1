// Subcommand registration for the `mozart` command. Each command module adds its subcommands
// to the CLI11 app; main() runs them and maps errors to exit codes.
#pragma once

#include <CLI/CLI.hpp>

namespace mozart::cli {

void add_model_commands(CLI::App& app);
void add_hw_commands(CLI::App& app);
void add_net_commands(CLI::App& app);
void add_trace_commands(CLI::App& app);
void add_place_commands(CLI::App& app);
void add_simulate_commands(CLI::App& app);
void add_serve_commands(CLI::App& app);
// `reproduce moentwine`, under the `reproduce` command that add_simulate_commands made.
void add_moentwine_command(CLI::App& reproduce);
void add_sweep_commands(CLI::App& app);
void add_report_commands(CLI::App& app);

}  // namespace mozart::cli
