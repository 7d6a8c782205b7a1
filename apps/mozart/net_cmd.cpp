// `mozart net collective` and `mozart net flows`: run one collective, or a traffic file, on a
// hardware spec through the flow-level network and report its time, traffic and link
// utilisation; optionally a Perfetto timeline. `mozart net calibrate` is in net_calibrate.cpp.
#include <algorithm>
#include <map>
#include <stdexcept>

#include "commands.hpp"
#include "loop_progress.hpp"
#include "net_run.hpp"
#include "options.hpp"
#include "output.hpp"
#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/output_plan.hpp"
#include "mozart/core/progress.hpp"
#include "mozart/core/units.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/net/traffic.hpp"
#include "mozart/sim/engine.hpp"

namespace mozart::cli {

const std::vector<std::string>& collective_kinds() {
  static const std::vector<std::string> kinds = {
      "all-to-all",      "all-gather",      "reduce-scatter",        "broadcast",
      "all-reduce-ring", "all-reduce-tree", "all-reduce-in-network", "all-reduce-mesh-2d"};
  return kinds;
}

bool is_collective_kind(const std::string& kind) {
  const auto& kinds = collective_kinds();
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

std::optional<HotProblem> hot_problem(const hw::HwSpec& hw, const std::vector<std::string>& hot) {
  for (std::size_t i = 0; i < hot.size(); ++i) {
    const std::optional<int> node = hw.find_node(hot[i]);
    if (!node || hw.is_switch(*node))
      return HotProblem{i, fmt::format("a chiplet of {}", hw.name)};
    if (std::find(hot.begin(), hot.begin() + long(i), hot[i]) != hot.begin() + long(i))
      return HotProblem{i, "each hot destination once"};
  }
  return std::nullopt;
}

std::vector<double> destination_weights(const hw::HwSpec& hw, const std::vector<std::string>& hot,
                                        double hot_weight) {
  std::vector<double> weight(hw.chiplets.size(), 1.0);
  for (const std::string& name : hot)
    weight[static_cast<size_t>(*hw.find_node(name))] = hot_weight;
  return weight;
}

net::CollectivePlan collective_plan(const net::Network& net, const std::string& kind, double bytes,
                                    const std::vector<double>& weight) {
  std::vector<int> nodes;
  for (size_t c = 0; c < net.hw().chiplets.size(); ++c)
    nodes.push_back(int(c));
  if (kind == "all-to-all")
    return net::all_to_all(net, nodes, bytes, weight);
  if (kind == "all-gather")
    return net::all_gather(net, nodes, bytes);
  if (kind == "reduce-scatter")
    return net::reduce_scatter(net, nodes, bytes);
  if (kind == "broadcast")
    return net::broadcast(net, nodes, bytes);
  const std::map<std::string, net::AllReduceAlgorithm> all_reduce = {
      {"all-reduce-ring", net::AllReduceAlgorithm::ring},
      {"all-reduce-tree", net::AllReduceAlgorithm::tree},
      {"all-reduce-in-network", net::AllReduceAlgorithm::in_network},
      {"all-reduce-mesh-2d", net::AllReduceAlgorithm::mesh_2d}};
  const auto algorithm = all_reduce.find(kind);
  if (algorithm == all_reduce.end())  // the readers check the kind: this is a bug
    throw std::logic_error(fmt::format("collective_plan: unknown kind '{}'", kind));
  return net::all_reduce(net, nodes, bytes, algorithm->second);
}

std::string routing_problem(const hw::HwSpec& hw) {
  if (net::mesh_routing_applies(hw))
    return {};
  return fmt::format(
      "no routing setting for {}, a {} topology: it orders the hops on a mesh or torus grid, "
      "and every pair here takes the least-cost paths",
      hw.name, hw.topology.kind);
}

std::string multipath_problem(const hw::HwSpec& hw) {
  if (net::multipath_applies(hw))
    return {};
  return fmt::format(
      "no multipath setting for {}: every node is on its {} grid, routed in dimension order "
      "on one path",
      hw.name, hw.topology.kind);
}

net::NetworkOptions network_options(const std::string& routing, const std::string& multipath,
                                    double efficiency) {
  net::NetworkOptions options;
  options.efficiency = efficiency;
  options.mesh_routing = routing == "yx"         ? net::MeshRouting::yx
                         : routing == "adaptive" ? net::MeshRouting::adaptive
                                                 : net::MeshRouting::xy;
  options.multipath = multipath == "hash"     ? net::Multipath::hash
                      : multipath == "single" ? net::Multipath::single
                                              : net::Multipath::split;
  return options;
}

sim::RunResult run_plan(const net::Network& net, const net::CollectivePlan& plan,
                        const std::vector<double>& start_s, sim::Timeline* timeline,
                        std::function<void(std::size_t, std::size_t)> progress) {
  sim::TaskGraph graph;
  std::vector<sim::TaskId> ids;
  ids.reserve(plan.flows.size());
  for (size_t i = 0; i < plan.flows.size(); ++i) {
    const net::PlannedFlow& f = plan.flows[i];
    std::vector<sim::TaskId> after;
    for (int a : f.after)
      after.push_back(ids.at(static_cast<size_t>(a)));
    if (i < start_s.size() && start_s[i] > 0)
      after.push_back(graph.add_delay(f.label + " start", start_s[i]));
    ids.push_back(graph.add_flow(f.label, f.spec, std::move(after)));
  }
  sim::RunOptions options;
  options.progress = std::move(progress);
  if (timeline != nullptr) {
    options.timeline = timeline;
    for (size_t c = 0; c < net.channels().size(); ++c)
      options.channel_names.push_back(net.channel_name(static_cast<net::ChannelId>(c)));
  }
  return sim::run(graph, net.capacities(), options);
}

sim::RunResult run_plan_with_progress(const std::string& label, const net::Network& net,
                                      const net::CollectivePlan& plan,
                                      const std::vector<double>& start_s, sim::Timeline* timeline) {
  LoopProgress progress(label);
  return run_plan(net, plan, start_s, timeline, progress.callback());
}

nlohmann::ordered_json run_json(const net::Network& net, const net::CollectivePlan& plan,
                                const sim::RunResult& r) {
  double wire_bytes = 0, busiest = 0;
  int busiest_channel = 0;
  for (size_t c = 0; c < net.channels().size(); ++c) {
    if (net.channels()[c].kind == net::ChannelKind::link)  // ports are not links
      wire_bytes += r.channels[c].bytes;
    if (r.channels[c].bytes > busiest) {
      busiest = r.channels[c].bytes;
      busiest_channel = int(c);
    }
  }
  // A spec without links (one chiplet) has no channel: its collectives are empty.
  const std::string hot_name = net.channels().empty() ? "-" : net.channel_name(busiest_channel);
  const double hot_capacity =
      net.channels().empty() ? 0 : net.capacities()[static_cast<size_t>(busiest_channel)];
  const double utilisation = r.makespan_s > 0 ? busiest / (hot_capacity * r.makespan_s) : 0;
  return {
      {"flows", plan.flows.size()},
      {"time_s", r.makespan_s},
      {"payload_bytes", plan.payload_bytes},
      {"wire_bytes", wire_bytes},
      {"busiest_channel", {{"name", hot_name}, {"bytes", busiest}, {"utilisation", utilisation}}},
      {"network_solves", r.network_solves},
      {"network_flows_resolved", r.network_flows_resolved},
      {"network_flows_moved", r.network_flows_moved}};
}

namespace {

struct NetOptions {
  std::string hw;
  std::string traffic;  // net flows: the traffic file
  std::string kind = "all-to-all";
  std::string bytes = "1 MB";
  std::vector<std::string> hot;
  double hot_weight = 4;
  std::string routing = "xy";
  std::string multipath = "split";
  double efficiency = 1.0;
  std::string timeline;
  bool json = false;
  // Given on the command line, not defaults: each is refused where it cannot apply.
  bool routing_given = false, multipath_given = false, hot_weight_given = false;
};

// The --hot names: comma-separated, in one or several --hot options; an empty name (a
// doubled or trailing comma) is refused rather than dropped.
std::vector<std::string> hot_names(const std::vector<std::string>& options) {
  std::vector<std::string> names;
  for (const std::string& text : options) {
    std::size_t begin = 0;
    while (true) {
      const std::size_t end = std::min(text.find(',', begin), text.size());
      names.push_back(text.substr(begin, end - begin));
      if (names.back().empty()) {
        throw core::InputError(core::InputLocation{"--hot", "", 0}, text,
                               "chiplet names separated by single commas");
      }
      if (end == text.size())
        break;
      begin = end + 1;
    }
  }
  return names;
}

// Refuses a --routing or --multipath given for a spec where it changes no route.
void check_network_settings(const NetOptions& o, const hw::HwSpec& hw) {
  if (o.routing_given) {
    if (const std::string problem = routing_problem(hw); !problem.empty())
      throw core::InputError(core::InputLocation{"--routing", "", 0}, o.routing, problem);
  }
  if (o.multipath_given) {
    if (const std::string problem = multipath_problem(hw); !problem.empty())
      throw core::InputError(core::InputLocation{"--multipath", "", 0}, o.multipath, problem);
  }
}

void report(const NetOptions& o, core::OutputPlan& outputs, const net::Network& net,
            const net::CollectivePlan& plan, const std::vector<double>& start_s,
            std::optional<double> bytes) {
  if (o.json)
    core::set_progress_enabled(false);  // as every command: no progress line beside JSON
  sim::Timeline timeline;
  const sim::RunResult r =
      run_plan_with_progress(o.traffic.empty() ? "net collective" : "net flows", net, plan, start_s,
                             o.timeline.empty() ? nullptr : &timeline);
  if (!o.timeline.empty()) {
    outputs.stage(o.timeline, timeline.to_chrome_json());
    outputs.commit();
  }
  const hw::HwSpec& hw = net.hw();
  const nlohmann::ordered_json measured = run_json(net, plan, r);
  const double wire_bytes = measured["wire_bytes"];
  const std::string hot_name = measured["busiest_channel"]["name"];
  const double busiest = measured["busiest_channel"]["bytes"];
  const double utilisation = measured["busiest_channel"]["utilisation"];
  const std::string what = o.traffic.empty() ? o.kind : "traffic " + o.traffic;
  if (o.json) {
    nlohmann::ordered_json j = {{"hw", hw.name}};
    if (o.traffic.empty()) {
      j["collective"] = o.kind;
      j["bytes"] = *bytes;
      if (!o.hot.empty())
        j["hot"] = {{"nodes", o.hot}, {"weight", o.hot_weight}};
    } else {
      j["traffic"] = o.traffic;
    }
    j.update(measured);
    print_json(j);
    return;
  }
  fmt::print("{}{} on {} ({} chiplets, {} flows)\n", what,
             bytes ? " of " + core::format_quantity(*bytes, core::Dimension::bytes) : "", hw.name,
             hw.chiplets.size(), plan.flows.size());
  if (!o.hot.empty())
    fmt::print("  hot destinations {} (x{:g})\n", fmt::join(o.hot, ", "), o.hot_weight);
  fmt::print("  time             {}\n",
             core::format_quantity(r.makespan_s, core::Dimension::seconds));
  fmt::print("  payload          {}\n",
             core::format_quantity(plan.payload_bytes, core::Dimension::bytes));
  fmt::print("  bytes on links   {}\n", core::format_quantity(wire_bytes, core::Dimension::bytes));
  fmt::print("  busiest channel  {}: {}, {:.1f}% utilised over the run\n", hot_name,
             core::format_quantity(busiest, core::Dimension::bytes), 100 * utilisation);
  if (!o.timeline.empty())
    fmt::print("  timeline         {} (open in ui.perfetto.dev)\n", o.timeline);
}

double parse_bytes(const std::string& text) {
  std::optional<double> bytes = core::parse_quantity(text, core::Dimension::bytes);
  if (!bytes || *bytes <= 0) {
    throw core::InputError(core::InputLocation{"--bytes", "", 0}, text,
                           fmt::format("a positive size {}, e.g. '1 MB' or '4096'",
                                       core::range_of(core::Dimension::bytes)));
  }
  return *bytes;
}

void run_collective(const NetOptions& o) {
  const double bytes = parse_bytes(o.bytes);
  const std::vector<std::string> hot = hot_names(o.hot);
  core::OutputPlan outputs("mozart net collective");
  outputs.input(o.hw).output("--timeline", o.timeline, {".json"}).check();
  if (!hot.empty() && o.kind != "all-to-all") {
    throw core::InputError(core::InputLocation{"--hot", "", 0}, o.kind,
                           "--kind all-to-all (weights are per destination)");
  }
  if (o.hot_weight_given && hot.empty()) {
    throw core::InputError(core::InputLocation{"--hot-weight", "", 0},
                           fmt::format("{:g}", o.hot_weight),
                           "--hot as well (it weights the --hot destinations)");
  }
  const hw::HwSpec hw = hw::load_hw(o.hw);
  check_network_settings(o, hw);
  if (const auto problem = hot_problem(hw, hot)) {
    throw core::InputError(core::InputLocation{"--hot", "", 0}, hot[problem->index],
                           problem->expected);
  }
  const net::Network net(hw, network_options(o.routing, o.multipath, o.efficiency));
  const net::CollectivePlan plan =
      collective_plan(net, o.kind, bytes, destination_weights(hw, hot, o.hot_weight));
  report(o, outputs, net, plan, {}, bytes);
}

void run_flows(const NetOptions& o) {
  core::OutputPlan outputs("mozart net flows");
  outputs.input(o.hw).input(o.traffic).output("--timeline", o.timeline, {".json"}).check();
  const hw::HwSpec hw = hw::load_hw(o.hw);
  check_network_settings(o, hw);
  const net::Network net(hw, network_options(o.routing, o.multipath, o.efficiency));
  const net::Traffic traffic = net::read_traffic(o.traffic, hw);
  std::vector<double> start;
  for (const net::TrafficFlow& f : traffic.flows)
    start.push_back(f.start_s);
  report(o, outputs, net, net::plan_traffic(net, traffic), start, std::nullopt);
}

// Which of the settings checked where they apply were given on the command line.
void note_given(CLI::App* cmd, NetOptions& o) {
  o.routing_given = cmd->get_option("--routing")->count() > 0;
  o.multipath_given = cmd->get_option("--multipath")->count() > 0;
  if (CLI::Option* weight = cmd->get_option_no_throw("--hot-weight"))
    o.hot_weight_given = weight->count() > 0;
}

// The options both commands share.
void add_network_options(CLI::App* cmd, NetOptions& o) {
  cmd->add_option("hw", o.hw, "Hardware preset or YAML file")->required();
  cmd->add_option("--routing", o.routing,
                  "Mesh routing (mesh and torus specs only: refused where it changes no route)")
      ->check(CLI::IsMember({"xy", "yx", "adaptive"}))
      ->capture_default_str();
  cmd->add_option("--multipath", o.multipath,
                  "Equal-cost paths: split (fractional ECMP), hash (per-flow), single (refused "
                  "where every node is on a mesh grid)")
      ->check(CLI::IsMember({"split", "hash", "single"}))
      ->capture_default_str();
  cmd->add_option("--efficiency", o.efficiency,
                  "Extra factor on every channel, in (0, 1] (the spec's efficiency classes apply "
                  "first)")
      ->check(finite(0.0, 1.0, true))
      ->capture_default_str();
  cmd->add_option("--timeline", o.timeline, "Write a Perfetto / Chrome trace JSON here (.json)");
  cmd->add_flag("--json", o.json, "Print JSON");
}

}  // namespace

void add_net_commands(CLI::App& app) {
  CLI::App* net_cmd =
      app.add_subcommand("net", "Flow-level network: run collectives and traffic, calibrate");
  net_cmd->require_subcommand(1);
  auto* collective = net_cmd->add_subcommand(
      "collective", "Run one collective among all chiplets of a hardware spec");
  auto o = std::make_shared<NetOptions>();
  add_network_options(collective, *o);
  collective
      ->add_option("--kind", o->kind,
                   "all-to-all (bytes per pair), all-gather, reduce-scatter, broadcast, "
                   "all-reduce-ring, all-reduce-tree, all-reduce-in-network, all-reduce-mesh-2d")
      ->check(CLI::IsMember(collective_kinds()))
      ->capture_default_str();
  collective->add_option("--bytes", o->bytes, "Buffer size, e.g. '1 MB'")->capture_default_str();
  collective->add_option(
      "--hot", o->hot,
      "All-to-all: chiplets (comma-separated) that receive --hot-weight times the bytes of the "
      "others");
  collective
      ->add_option("--hot-weight", o->hot_weight, "Weight of the --hot destinations (needs --hot)")
      ->check(finite(0.0, kMaxHotWeight, true))
      ->capture_default_str();
  collective->callback([o, collective] {
    note_given(collective, *o);
    run_collective(*o);
  });

  auto* flows = net_cmd->add_subcommand(
      "flows", "Run a traffic file (CSV or JSON: source, destination, bytes, start, after, id)");
  auto f = std::make_shared<NetOptions>();
  add_network_options(flows, *f);
  flows->add_option("traffic", f->traffic, "Traffic file (.csv, .json or .yaml)")->required();
  flows->callback([f, flows] {
    note_given(flows, *f);
    run_flows(*f);
  });
  add_net_calibrate_command(*net_cmd);
}

}  // namespace mozart::cli
