// What `mozart net collective`, `net flows` and `net calibrate` share: network options from the
// command line, collective plans, hot-spot weights, and running a plan through the engine.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "mozart/net/collectives.hpp"
#include "mozart/sim/engine.hpp"

namespace mozart::cli {

net::NetworkOptions network_options(const std::string& routing, const std::string& multipath,
                                    double efficiency);
// One weight per chiplet: `hot_weight` for the chiplets named in `hot`, 1 for the others.
std::vector<double> destination_weights(const hw::HwSpec& hw, const std::vector<std::string>& hot,
                                        double hot_weight);
// The collective `kind` (as `net collective --kind`) among all chiplets; weights apply to the
// all-to-all only.
net::CollectivePlan collective_plan(const net::Network& net, const std::string& kind, double bytes,
                                    const std::vector<double>& weight);
// Runs the plan's flows, each no earlier than its start time (none: all at 0).
sim::RunResult run_plan(const net::Network& net, const net::CollectivePlan& plan,
                        const std::vector<double>& start_s, sim::Timeline* timeline = nullptr);

// A run's measures as `net collective --json` prints them: flows, time, payload, bytes on
// links, the busiest channel and its utilisation.
nlohmann::ordered_json run_json(const net::Network& net, const net::CollectivePlan& plan,
                                const sim::RunResult& r);

void add_net_calibrate_command(CLI::App& net_cmd);

}  // namespace mozart::cli
