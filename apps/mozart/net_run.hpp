// What `mozart net collective`, `net flows` and `net calibrate` share: network options from the
// command line, collective plans, hot-spot weights, and running a plan through the engine.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "mozart/net/collectives.hpp"
#include "mozart/sim/engine.hpp"

namespace mozart::cli {

net::NetworkOptions network_options(const std::string& routing, const std::string& multipath,
                                    double efficiency);
// What a routing or multipath setting given for `hw` is refused for (empty: it applies): each
// is refused where it cannot change a route (net::mesh_routing_applies, multipath_applies).
std::string routing_problem(const hw::HwSpec& hw);
std::string multipath_problem(const hw::HwSpec& hw);

// The collectives `net collective --kind` and a cases file's `collective` name.
const std::vector<std::string>& collective_kinds();
bool is_collective_kind(const std::string& kind);

// Hot destinations: a weight in (0, kMaxHotWeight], chiplets each named once.
inline constexpr double kMaxHotWeight = 1e6;
struct HotProblem {
  std::size_t index = 0;  // the first bad name in the list
  std::string expected;
};
std::optional<HotProblem> hot_problem(const hw::HwSpec& hw, const std::vector<std::string>& hot);
// One weight per chiplet: `hot_weight` for the chiplets named in `hot` (checked by
// hot_problem()), 1 for the others.
std::vector<double> destination_weights(const hw::HwSpec& hw, const std::vector<std::string>& hot,
                                        double hot_weight);
// The collective `kind` (one of collective_kinds()) among all chiplets; weights apply to the
// all-to-all only.
net::CollectivePlan collective_plan(const net::Network& net, const std::string& kind, double bytes,
                                    const std::vector<double>& weight);
// Runs the plan's flows, each no earlier than its start time (none: all at 0).
sim::RunResult run_plan(const net::Network& net, const net::CollectivePlan& plan,
                        const std::vector<double>& start_s, sim::Timeline* timeline = nullptr,
                        std::function<void(std::size_t, std::size_t)> progress = {});

// The same, with a progress line of finished flows on a terminal (core::Progress) while it runs.
sim::RunResult run_plan_with_progress(const std::string& label, const net::Network& net,
                                      const net::CollectivePlan& plan,
                                      const std::vector<double>& start_s,
                                      sim::Timeline* timeline = nullptr);

// A run's measures as `net collective --json` prints them: flows, time, payload, bytes on
// links, the busiest channel and its utilisation.
nlohmann::ordered_json run_json(const net::Network& net, const net::CollectivePlan& plan,
                                const sim::RunResult& r);

void add_net_calibrate_command(CLI::App& net_cmd);

}  // namespace mozart::cli
