// `mozart net collective`: run one collective on a hardware spec through the flow-level
// network and report its time, traffic and link utilisation; optionally a Perfetto timeline.
#include <map>

#include "commands.hpp"
#include "options.hpp"
#include "output.hpp"
#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/output_plan.hpp"
#include "mozart/core/units.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/net/collectives.hpp"
#include "mozart/sim/engine.hpp"

namespace mozart::cli {
namespace {

struct NetOptions {
  std::string hw;
  std::string kind = "all-to-all";
  std::string bytes = "1 MB";
  std::string routing = "xy";
  double efficiency = 1.0;
  std::string timeline;
  bool json = false;
};

net::CollectivePlan plan_for(const NetOptions& o, const net::Network& net, double bytes) {
  std::vector<int> nodes;
  for (size_t c = 0; c < net.hw().chiplets.size(); ++c)
    nodes.push_back(int(c));
  if (o.kind == "all-to-all")
    return net::all_to_all(net, nodes, bytes);
  if (o.kind == "all-gather")
    return net::all_gather(net, nodes, bytes);
  if (o.kind == "reduce-scatter")
    return net::reduce_scatter(net, nodes, bytes);
  if (o.kind == "broadcast")
    return net::broadcast(net, nodes, bytes);
  const std::map<std::string, net::AllReduceAlgorithm> all_reduce = {
      {"all-reduce-ring", net::AllReduceAlgorithm::ring},
      {"all-reduce-tree", net::AllReduceAlgorithm::tree},
      {"all-reduce-in-network", net::AllReduceAlgorithm::in_network},
      {"all-reduce-mesh-2d", net::AllReduceAlgorithm::mesh_2d}};
  return net::all_reduce(net, nodes, bytes, all_reduce.at(o.kind));
}

void run_collective(const NetOptions& o) {
  std::optional<double> bytes = core::parse_quantity(o.bytes, core::Dimension::bytes);
  if (!bytes || *bytes <= 0) {
    throw core::InputError(core::InputLocation{"--bytes", "", 0}, o.bytes,
                           fmt::format("a positive size {}, e.g. '1 MB' or '4096'",
                                       core::range_of(core::Dimension::bytes)));
  }
  core::OutputPlan outputs("mozart net collective");
  outputs.input(o.hw).output("--timeline", o.timeline, {".json"}).check();
  net::NetworkOptions options;
  options.efficiency = o.efficiency;
  options.mesh_routing = o.routing == "yx"         ? net::MeshRouting::yx
                         : o.routing == "adaptive" ? net::MeshRouting::adaptive
                                                   : net::MeshRouting::xy;
  hw::HwSpec hw = hw::load_hw(o.hw);
  net::Network net(hw, options);
  net::CollectivePlan plan = plan_for(o, net, *bytes);
  sim::TaskGraph graph;
  graph.add_collective(plan);
  sim::Timeline timeline;
  sim::RunOptions run_options;
  if (!o.timeline.empty()) {
    run_options.timeline = &timeline;
    for (const net::Channel& c : net.channels()) {
      run_options.channel_names.push_back(
          fmt::format("{}->{}", hw.node_name(c.from), hw.node_name(c.to)));
    }
  }
  sim::RunResult r = sim::run(graph, net.capacities(), run_options);
  if (!o.timeline.empty()) {
    outputs.stage(o.timeline, timeline.to_chrome_json());
    outputs.commit();
  }

  double wire_bytes = 0, busiest = 0;
  int busiest_channel = 0;
  for (size_t c = 0; c < r.channels.size(); ++c) {
    wire_bytes += r.channels[c].bytes;
    if (r.channels[c].bytes > busiest) {
      busiest = r.channels[c].bytes;
      busiest_channel = int(c);
    }
  }
  // A spec without links (one chiplet) has no channel: its collectives are empty.
  const net::Channel hot =
      net.channels().empty() ? net::Channel{} : net.channels()[busiest_channel];
  const double utilisation = r.makespan_s > 0 ? busiest / (hot.bytes_per_s * r.makespan_s) : 0;
  if (o.json) {
    print_json({{"hw", hw.name},
                {"collective", o.kind},
                {"bytes", *bytes},
                {"flows", plan.flows.size()},
                {"time_s", r.makespan_s},
                {"payload_bytes", plan.payload_bytes},
                {"wire_bytes", wire_bytes},
                {"busiest_channel",
                 {{"from", hw.node_name(hot.from)},
                  {"to", hw.node_name(hot.to)},
                  {"bytes", busiest},
                  {"utilisation", utilisation}}},
                {"network_solves", r.network_solves}});
    return;
  }
  fmt::print("{} of {} on {} ({} chiplets, {} flows)\n", o.kind,
             core::format_quantity(*bytes, core::Dimension::bytes), hw.name, hw.chiplets.size(),
             plan.flows.size());
  fmt::print("  time             {}\n",
             core::format_quantity(r.makespan_s, core::Dimension::seconds));
  fmt::print("  payload          {}\n",
             core::format_quantity(plan.payload_bytes, core::Dimension::bytes));
  fmt::print("  bytes on links   {}\n", core::format_quantity(wire_bytes, core::Dimension::bytes));
  fmt::print("  busiest channel  {} -> {}: {}, {:.1f}% utilised over the collective\n",
             hw.node_name(hot.from), hw.node_name(hot.to),
             core::format_quantity(busiest, core::Dimension::bytes), 100 * utilisation);
  if (!o.timeline.empty())
    fmt::print("  timeline         {} (open in ui.perfetto.dev)\n", o.timeline);
}

}  // namespace

void add_net_commands(CLI::App& app) {
  CLI::App* net_cmd = app.add_subcommand("net", "Flow-level network: run collectives");
  net_cmd->require_subcommand(1);
  auto* collective = net_cmd->add_subcommand(
      "collective", "Run one collective among all chiplets of a hardware spec");
  auto o = std::make_shared<NetOptions>();
  collective->add_option("hw", o->hw, "Hardware preset or YAML file")->required();
  collective
      ->add_option("--kind", o->kind,
                   "all-to-all (bytes per pair), all-gather, reduce-scatter, broadcast, "
                   "all-reduce-ring, all-reduce-tree, all-reduce-in-network, all-reduce-mesh-2d")
      ->check(CLI::IsMember({"all-to-all", "all-gather", "reduce-scatter", "broadcast",
                             "all-reduce-ring", "all-reduce-tree", "all-reduce-in-network",
                             "all-reduce-mesh-2d"}))
      ->capture_default_str();
  collective->add_option("--bytes", o->bytes, "Buffer size, e.g. '1 MB'")->capture_default_str();
  collective->add_option("--routing", o->routing, "Mesh routing")
      ->check(CLI::IsMember({"xy", "yx", "adaptive"}))
      ->capture_default_str();
  collective->add_option("--efficiency", o->efficiency, "Link efficiency in (0, 1]")
      ->check(finite(0.0, 1.0, true))
      ->capture_default_str();
  collective->add_option("--timeline", o->timeline,
                         "Write a Perfetto / Chrome trace JSON here (.json)");
  collective->add_flag("--json", o->json, "Print JSON");
  collective->callback([o] { run_collective(*o); });
}

}  // namespace mozart::cli
