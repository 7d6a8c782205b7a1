// `mozart net calibrate CASES.yaml`: fits the efficiency classes of the network (link, endpoint
// port, switch traversal) to measured times of reference cases, and prints every case's
// residual.
//
// The fit minimises the sum of squared log residuals (model / measured) over the cases marked
// `fit` (the default); the others are held out and only reported. First one efficiency common to
// every channel, then, in turns, each class that changes some fitted case's time; a class that
// no fitted case depends on keeps the common value (packet-level losses, arbitration and flow
// control, act on every channel a packet crosses, and nothing measured says otherwise): the
// link and endpoint classes that value, the switch class 1, since a channel out of a switch
// takes the link's efficiency already.
// Each one-dimensional fit is a golden-section search on log(efficiency) over [0.01, 1].
#include <cmath>
#include <filesystem>

#include "commands.hpp"
#include "net_run.hpp"
#include "output.hpp"
#include <fmt/format.h>

#include "mozart/core/config.hpp"
#include "mozart/core/error.hpp"
#include "mozart/core/units.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/net/traffic.hpp"

namespace mozart::cli {
namespace {

struct Case {
  std::string name;
  hw::HwSpec hw;
  std::string kind = "all-to-all";  // or "flows"
  double bytes = 0;
  std::vector<double> weight;
  net::Traffic traffic;
  net::NetworkOptions options;
  double measured_s = 0;
  bool fit = true;
  double ideal_s = 0;
};

// The fit's range of every efficiency class: [kMinEfficiency, 1].
constexpr double kMinEfficiency = 0.01;

// A path in the cases file, relative to the file's folder when it names a file there.
std::string beside(const std::string& cases_path, const std::string& name) {
  const std::filesystem::path near = std::filesystem::path(cases_path).parent_path() / name;
  return std::filesystem::exists(near) ? near.string() : name;
}

// The file a case's `hw` or `traffic` names, found beside the cases file first; one that is
// neither there, nor from the working directory, nor (for `hw`) a preset is refused at its field.
std::string case_file(const core::ConfigNode& field, const std::string& cases_path,
                      bool preset_allowed) {
  const std::string path = beside(cases_path, field.as_string());
  if (std::filesystem::exists(path) || (preset_allowed && hw::preset_text(path)))
    return path;
  field.fail(fmt::format("{}a file beside {} or from the working directory",
                         preset_allowed ? fmt::format("a hardware preset ({}) or ",
                                                      fmt::join(hw::preset_names(), ", "))
                                        : "",
                         cases_path));
}

// The hot destinations of an all-to-all case: chiplets each named once, with a weight.
void read_hot(const core::ConfigNode& node, Case& c) {
  std::vector<std::string> hot;
  std::vector<core::ConfigNode> items;
  if (auto list = node.find("hot")) {
    items = list->items();
    for (const core::ConfigNode& h : items)
      hot.push_back(h.as_string());
  }
  if (!hot.empty() && c.kind != "all-to-all")
    node.at("hot").fail("hot destinations with collective: all-to-all only");
  if (const auto problem = hot_problem(c.hw, hot))
    items[problem->index].fail(problem->expected);
  double weight = 4;
  if (auto w = node.find("hot_weight")) {
    if (hot.empty())
      w->fail("hot destinations as well (hot: [...]): the weight is theirs");
    weight = w->as_quantity(core::Dimension::count, true);
    if (!(weight > 0 && weight <= kMaxHotWeight))  // as --hot-weight
      w->fail(fmt::format("a finite number in (0, {:g}]", kMaxHotWeight));
  }
  c.weight = destination_weights(c.hw, hot, weight);
}

Case read_case(const core::ConfigNode& node, const std::string& cases_path) {
  node.expect_keys({"name", "hw", "collective", "bytes", "hot", "hot_weight", "traffic", "routing",
                    "multipath", "measured", "fit"});
  Case c;
  c.name = node.at("name").as_string();
  c.hw = hw::load_hw(case_file(node.at("hw"), cases_path, true));
  c.fit = node.get_bool("fit", true);
  c.measured_s = node.at("measured").as_quantity(core::Dimension::seconds);
  const std::string routing = node.get_string("routing", "xy");
  const std::string multipath = node.get_string("multipath", "split");
  if (routing != "xy" && routing != "yx" && routing != "adaptive")
    node.at("routing").fail("one of: xy, yx, adaptive");
  if (multipath != "split" && multipath != "hash" && multipath != "single")
    node.at("multipath").fail("one of: split, hash, single");
  if (node.has("routing") && !routing_problem(c.hw).empty())
    node.at("routing").fail(routing_problem(c.hw));
  if (node.has("multipath") && !multipath_problem(c.hw).empty())
    node.at("multipath").fail(multipath_problem(c.hw));
  c.options = network_options(routing, multipath, 1.0);
  if (auto traffic = node.find("traffic")) {
    // The traffic file says what moves: a collective's settings beside it would be ignored.
    for (const char* key : {"collective", "bytes", "hot", "hot_weight"})
      if (node.has(key))
        node.at(key).fail(
            "no collective settings in a case with traffic (the traffic file says "
            "what moves): either traffic or collective");
    c.kind = "flows";
    c.traffic = net::read_traffic(case_file(*traffic, cases_path, false), c.hw);
    return c;
  }
  c.kind = node.get_string("collective", "all-to-all");
  if (!is_collective_kind(c.kind))
    node.at("collective").fail(fmt::format("one of: {}", fmt::join(collective_kinds(), ", ")));
  c.bytes = node.at("bytes").as_quantity(core::Dimension::bytes);
  read_hot(node, c);
  return c;
}

double simulate(const Case& c, const hw::Efficiency& e) {
  hw::HwSpec hw = c.hw;
  hw.topology.efficiency = e;
  const net::Network net(hw, c.options);
  if (c.kind == "flows") {
    std::vector<double> start;
    for (const net::TrafficFlow& f : c.traffic.flows)
      start.push_back(f.start_s);
    return run_plan(net, net::plan_traffic(net, c.traffic), start).makespan_s;
  }
  return run_plan(net, collective_plan(net, c.kind, c.bytes, c.weight), {}).makespan_s;
}

double objective(const std::vector<Case>& cases, const hw::Efficiency& e) {
  double sum = 0;
  for (const Case& c : cases)
    if (c.fit) {
      const double r = std::log(simulate(c, e) / c.measured_s);
      sum += r * r;
    }
  return sum;
}

// The efficiency in [kMinEfficiency, 1] that minimises f, by golden section on its logarithm.
template <typename F>
double golden(F&& f) {
  const double phi = (std::sqrt(5.0) - 1) / 2;
  double a = std::log(kMinEfficiency), b = 0;
  double x1 = b - phi * (b - a), x2 = a + phi * (b - a);
  double f1 = f(std::exp(x1)), f2 = f(std::exp(x2));
  for (int i = 0; i < 28; ++i) {  // to 1e-5 of the logarithm
    if (f1 <= f2) {
      b = x2, x2 = x1, f2 = f1;
      x1 = b - phi * (b - a);
      f1 = f(std::exp(x1));
    } else {
      a = x1, x1 = x2, f1 = f2;
      x2 = a + phi * (b - a);
      f2 = f(std::exp(x2));
    }
  }
  const double best = std::exp((a + b) / 2);
  return f(1.0) <= f(best) ? 1.0 : best;  // the bound itself when the optimum is there
}

double& member(hw::Efficiency& e, int k) {
  return k == 0 ? e.link : k == 1 ? e.endpoint : e.switch_traversal;
}
constexpr const char* kClassNames[] = {"link", "endpoint", "switch"};

struct Fit {
  hw::Efficiency efficiency;
  double common = 1;
  bool constrained[3] = {false, false, false};
};

Fit fit(const std::vector<Case>& cases) {
  Fit out;
  // Common: every channel at the same efficiency, so a switch's channels (which take both the
  // link and the switch class) have the switch class at 1.
  out.common = golden([&](double x) { return objective(cases, {x, x, 1}); });
  out.efficiency = {out.common, out.common, 1};
  // A class is constrained when lowering it alone changes some fitted case's time.
  for (int k = 0; k < 3; ++k) {
    hw::Efficiency lower = out.efficiency;
    member(lower, k) *= 0.9;
    for (const Case& c : cases)
      if (c.fit && std::abs(simulate(c, lower) / simulate(c, out.efficiency) - 1) > 1e-6)
        out.constrained[k] = true;
  }
  for (int round = 0; round < 2; ++round)
    for (int k = 0; k < 3; ++k) {
      if (!out.constrained[k])
        continue;
      member(out.efficiency, k) = golden([&](double x) {
        hw::Efficiency e = out.efficiency;
        member(e, k) = x;
        return objective(cases, e);
      });
    }
  return out;
}

// A case's time must lie where some efficiencies in the fit's range put it: no lower than with
// every class at 1 (the ideal), no higher than with every class at kMinEfficiency.
void check_reachable(const core::ConfigNode& node, const std::string& path, Case& c) {
  c.ideal_s = simulate(c, {});
  const core::ConfigNode measured = node.at("measured");
  const std::string got = core::format_quantity(c.measured_s, core::Dimension::seconds);
  if (c.measured_s < c.ideal_s * (1 - 1e-9)) {
    throw core::InputError(
        core::InputLocation{path, measured.path(), measured.line()}, got,
        fmt::format("at least the ideal time {}: no efficiency in (0, 1] fits a measurement "
                    "faster than the network's bandwidth allows",
                    core::format_quantity(c.ideal_s, core::Dimension::seconds)));
  }
  const double slowest_s = simulate(c, {kMinEfficiency, kMinEfficiency, kMinEfficiency});
  if (c.measured_s > slowest_s * (1 + 1e-9)) {
    throw core::InputError(
        core::InputLocation{path, measured.path(), measured.line()}, got,
        fmt::format("at most {}, the time with every efficiency class at {:g} (the lowest the "
                    "fit allows; ideal {}): check the unit",
                    core::format_quantity(slowest_s, core::Dimension::seconds), kMinEfficiency,
                    core::format_quantity(c.ideal_s, core::Dimension::seconds)));
  }
}

// An error about one case, with the case named after it (in parentheses) so that a file of
// many cases says which one.
class CaseError : public core::InputError {
 public:
  CaseError(const core::InputError& error, const std::string& context)
      : core::InputError(error), message_(fmt::format("{} ({})", error.what(), context)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// Reads and checks one case; an error about it, in the cases file or in a file it names, says
// which case.
Case read_case_in_context(const core::ConfigNode& node, const std::string& path) {
  const std::string name =
      node.is_map() && node.has("name") ? node.at("name").as_string() : std::string();
  try {
    Case c = read_case(node, path);
    check_reachable(node, path, c);
    return c;
  } catch (const core::InputError& e) {
    if (name.empty())
      throw;
    throw CaseError(
        e, e.where().file == path
               ? fmt::format("case '{}'", core::quote_user_text(name))
               : fmt::format("case '{}' of {}:{}", core::quote_user_text(name), path, node.line()));
  }
}

void run_calibrate(const std::string& path, bool json) {
  const core::ConfigNode root = core::ConfigNode::load_file(path);
  root.expect_keys({"cases"});
  std::vector<Case> cases;
  for (const core::ConfigNode& node : root.at("cases").items()) {
    cases.push_back(read_case_in_context(node, path));
    const Case& c = cases.back();
    for (std::size_t i = 0; i + 1 < cases.size(); ++i)
      if (cases[i].name == c.name)
        node.at("name").fail(fmt::format("a name no other case has (cases[{}] has it too)", i));
  }
  if (std::none_of(cases.begin(), cases.end(), [](const Case& c) { return c.fit; }))
    root.at("cases").fail("at least one case with fit: true");
  const Fit f = fit(cases);
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const Case& c : cases) {
    const double model = simulate(c, f.efficiency);
    rows.push_back({{"name", c.name},
                    {"fit", c.fit},
                    {"measured_s", c.measured_s},
                    {"ideal_s", c.ideal_s},
                    {"model_s", model},
                    {"residual", model / c.measured_s - 1}});
  }
  nlohmann::ordered_json classes = nlohmann::ordered_json::object();
  for (int k = 0; k < 3; ++k) {
    hw::Efficiency e = f.efficiency;
    classes[kClassNames[k]] = {{"efficiency", member(e, k)}, {"fitted", f.constrained[k]}};
  }
  if (json) {
    print_json({{"cases_file", path}, {"common", f.common}, {"classes", classes}, {"cases", rows}});
    return;
  }
  fmt::print("calibration on {} ({} cases)\n", path, cases.size());
  fmt::print("  common efficiency {:.4f}\n", f.common);
  for (int k = 0; k < 3; ++k) {
    hw::Efficiency e = f.efficiency;
    fmt::print("  {:<9} {:.4f}{}\n", kClassNames[k], member(e, k),
               f.constrained[k] ? "" : "  (no fitted case depends on it: kept at the common fit)");
  }
  fmt::print("\n  {:<28} {:>8} {:>14} {:>14} {:>14} {:>9}\n", "case", "", "measured", "ideal",
             "model", "residual");
  for (const auto& r : rows) {
    fmt::print("  {:<28} {:>8} {:>14.6g} {:>14.6g} {:>14.6g} {:>+8.1f}%\n",
               r["name"].get<std::string>(), r["fit"].get<bool>() ? "fit" : "held out",
               r["measured_s"].get<double>(), r["ideal_s"].get<double>(),
               r["model_s"].get<double>(), 100 * r["residual"].get<double>());
  }
  fmt::print(
      "\n  in the hardware YAML, under topology:\n    efficiency: {{link: {:.4f}, "
      "endpoint: {:.4f}, switch: {:.4f}}}\n",
      f.efficiency.link, f.efficiency.endpoint, f.efficiency.switch_traversal);
}

}  // namespace

void add_net_calibrate_command(CLI::App& net_cmd) {
  auto* calibrate = net_cmd.add_subcommand(
      "calibrate", "Fit the network's efficiency classes to measured times of reference cases");
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  calibrate->add_option("cases", *path, "Cases YAML (hw, traffic, measured time per case)")
      ->required();
  calibrate->add_flag("--json", *json, "Print JSON");
  calibrate->callback([path, json] { run_calibrate(*path, *json); });
}

}  // namespace mozart::cli
