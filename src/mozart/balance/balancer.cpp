#include "mozart/balance/balancer.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mozart/balance/strategies.hpp"
#include "mozart/core/error.hpp"

namespace mozart::balance {

void check_options(const BalancerOptions& o, int iterations, const std::string& command) {
  if (!(o.alpha > 0))
    throw core::InputError({command, "--alpha", 0}, fmt::format("{}", o.alpha),
                           "a predicted imbalance above 0 (max / mean device load - 1)");
  if (o.window < 1 || o.window > iterations)
    throw core::InputError({command, "--window", 0}, std::to_string(o.window),
                           fmt::format("1 to the {} iterations of the run (--iterations; the "
                                       "window's default is 10)",
                                       iterations));
  if (o.period < 1)
    throw core::InputError({command, "--period", 0}, std::to_string(o.period),
                           "at least 1 iteration");
  if (o.moves < 1)
    throw core::InputError({command, "--moves", 0}, std::to_string(o.moves), "at least 1 copy");
}

std::vector<std::string> balancer_names() {
  return {"none", "eplb", "ni"};
}

std::unique_ptr<Balancer> make_balancer(const std::string& name, const BalancerOptions& options,
                                        const std::string& command) {
  if (name == "none")
    return std::make_unique<NoBalancer>();
  if (name == "eplb")
    return std::make_unique<InvasiveBalancer>(options);
  if (name == "ni")
    return std::make_unique<NonInvasiveBalancer>(options);
  throw core::InputError({command, "", 0}, name, "one of none, eplb, ni");
}

std::vector<double> predicted_load(const std::vector<std::vector<std::vector<double>>>& history,
                                   int layer, int window) {
  std::vector<double> out;
  const std::size_t n = std::min(history.size(), std::size_t(std::max(window, 1)));
  for (std::size_t i = history.size() - n; i < history.size(); ++i) {
    const std::vector<double>& loads = history[i][std::size_t(layer)];
    out.resize(loads.size(), 0.0);
    for (std::size_t e = 0; e < loads.size(); ++e)
      out[e] += loads[e] / double(n);
  }
  return out;
}

std::vector<double> device_loads(const placement::LayerPlacement& layer,
                                 const std::vector<double>& expert_load, int devices) {
  std::vector<double> out(std::size_t(devices), 0.0);
  for (std::size_t e = 0; e < layer.chiplets_of.size() && e < expert_load.size(); ++e) {
    const auto& holders = layer.chiplets_of[e];
    for (int d : holders)
      out[std::size_t(d)] += expert_load[e] / double(holders.size());
  }
  return out;
}

std::vector<Copy> copies_between(int layer, const placement::LayerPlacement& before,
                                 const placement::LayerPlacement& after,
                                 const std::vector<std::vector<int>>& hops) {
  std::vector<Copy> out;
  for (std::size_t e = 0; e < after.chiplets_of.size(); ++e) {
    const auto& had = before.chiplets_of[e];
    for (int to : after.chiplets_of[e]) {
      if (std::find(had.begin(), had.end(), to) != had.end())
        continue;
      int from = had.front();
      for (int d : had)
        if (hops[std::size_t(d)][std::size_t(to)] < hops[std::size_t(from)][std::size_t(to)] ||
            (hops[std::size_t(d)][std::size_t(to)] == hops[std::size_t(from)][std::size_t(to)] &&
             d < from))
          from = d;
      out.push_back({layer, int(e), from, to});
    }
  }
  return out;
}

}  // namespace mozart::balance
