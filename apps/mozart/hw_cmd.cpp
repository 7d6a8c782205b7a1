// `mozart hw list | show | check`.
#include <map>

#include "commands.hpp"
#include "output.hpp"
#include <fmt/format.h>

#include "mozart/core/config.hpp"
#include "mozart/core/error.hpp"
#include "mozart/hw/spec.hpp"
#include "mozart/hw/zoo.hpp"

namespace mozart::cli {
namespace {

using core::Dimension;
using core::format_quantity;
using hw::HwSpec;

struct Totals {
  double peak_flops = 0;  // in the first data type of each chiplet's kind
  double memory_bytes = 0;
  double memory_bytes_per_s = 0;
};

Totals totals_of(const HwSpec& hw) {
  Totals t;
  for (const hw::Chiplet& c : hw.chiplets) {
    t.peak_flops += hw.kinds[c.kind].peak_flops_per_s.front().second;
  }
  for (const hw::MemoryStack& m : hw.memories) {
    t.memory_bytes += m.bytes;
    t.memory_bytes_per_s += m.bytes_per_s;
  }
  return t;
}

std::string names_of(const HwSpec& hw, const std::vector<int>& chiplets) {
  std::string out;
  for (int c : chiplets)
    out += (out.empty() ? "" : ", ") + hw.chiplets[c].name;
  return out;
}

void print_hw(const HwSpec& hw) {
  fmt::print("{}: {}\n", hw.name, hw.description);
  fmt::print("  clock {}\n", format_quantity(hw.clock_hz, Dimension::hertz));
  fmt::print("  chiplet kinds:\n");
  for (const hw::ChipletKind& k : hw.kinds) {
    std::string peaks;
    for (const auto& [type, flops] : k.peak_flops_per_s) {
      peaks += fmt::format("{}{} {}", peaks.empty() ? "" : ", ", core::to_string(type),
                           format_quantity(flops, Dimension::flops_per_s));
    }
    fmt::print("    {:<10} {}; {} arrays of {}x{}; SRAM {} at {}{}; {}/FLOP\n", k.name, peaks,
               k.array.count, k.array.rows, k.array.cols,
               format_quantity(k.sram.bytes, Dimension::bytes),
               format_quantity(k.sram.bytes_per_s, Dimension::bytes_per_s),
               k.sram.stacked_3d ? " (3D-stacked)" : "",
               format_quantity(k.energy_per_flop_j, Dimension::joules));
  }
  fmt::print("  chiplets ({}):\n", hw.chiplets.size());
  for (size_t i = 0; i < hw.chiplets.size();) {
    const hw::Chiplet& first = hw.chiplets[i];
    size_t j = i;
    while (j < hw.chiplets.size() && hw.chiplets[j].group == first.group)
      ++j;
    std::string range =
        j - i == 1 ? first.name : fmt::format("{} .. {}", first.name, hw.chiplets[j - 1].name);
    fmt::print("    {:<22} kind {}, role {}{}\n", range, hw.kinds[first.kind].name,
               to_string(first.role), first.holds_weights ? ", holds weights" : "");
    i = j;
  }
  fmt::print("  memories ({}):\n", hw.memories.size());
  for (const hw::MemoryStack& m : hw.memories) {
    fmt::print("    {:<22} {} {} at {}, {}/bit -> {}\n", m.name, to_string(m.kind),
               format_quantity(m.bytes, Dimension::bytes),
               format_quantity(m.bytes_per_s, Dimension::bytes_per_s),
               format_quantity(m.energy_per_bit_j, Dimension::joules), names_of(hw, m.chiplets));
  }
  fmt::print("  switches ({}):\n", hw.switches.size());
  for (const hw::Switch& s : hw.switches) {
    fmt::print("    {:<22} ports {}, multicast {}, aggregate {}, hop {}\n", s.name,
               s.ports > 0 ? std::to_string(s.ports) : "auto", s.multicast ? "yes" : "no",
               s.aggregate ? "yes" : "no", format_quantity(s.hop_latency_s, Dimension::seconds));
  }
  fmt::print("  links ({}, bandwidth per direction):\n", hw.links.size());
  for (const hw::Link& l : hw.links) {
    fmt::print("    {:<10} {:>14} <-> {:<14} {} , {}, {}/bit\n", l.label, hw.node_name(l.a),
               hw.node_name(l.b), format_quantity(l.spec.bytes_per_s, Dimension::bytes_per_s),
               format_quantity(l.spec.latency_s, Dimension::seconds),
               format_quantity(l.spec.energy_per_bit_j, Dimension::joules));
  }
  std::string shape = hw.topology.kind;
  if (!hw.topology.fanouts.empty()) {
    shape += " fan-outs";
    for (int f : hw.topology.fanouts)
      shape += fmt::format(" {}", f);
  }
  if (hw.topology.rows > 0)
    shape += fmt::format(" {}x{}", hw.topology.rows, hw.topology.cols);
  if (hw.topology.nodes_per_group > 0) {
    shape += fmt::format(", {} per node", hw.topology.nodes_per_group);
  }
  Totals t = totals_of(hw);
  fmt::print("  topology {}\n", shape);
  fmt::print("  totals: peak {}, memory {} at {}\n",
             format_quantity(t.peak_flops, Dimension::flops_per_s),
             format_quantity(t.memory_bytes, Dimension::bytes),
             format_quantity(t.memory_bytes_per_s, Dimension::bytes_per_s));
}

void run_list(bool json) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  if (!json)
    fmt::print("{:<24}{:>9}{:>10}{:>7}  {}\n", "name", "chiplets", "switches", "links",
               "description");
  for (const std::string& name : hw::preset_names()) {
    HwSpec hw = *hw::find_preset(name);
    if (json) {
      out.push_back({{"name", name},
                     {"description", hw.description},
                     {"chiplets", hw.chiplets.size()},
                     {"switches", hw.switches.size()},
                     {"links", hw.links.size()}});
    } else {
      fmt::print("{:<24}{:>9}{:>10}{:>7}  {}\n", name, hw.chiplets.size(), hw.switches.size(),
                 hw.links.size(), hw.description);
    }
  }
  if (json)
    print_json(out);
}

}  // namespace

void add_hw_commands(CLI::App& app) {
  CLI::App* hw_cmd = app.add_subcommand("hw", "Hardware specs: list, show, check");
  hw_cmd->require_subcommand(1);

  auto* list = hw_cmd->add_subcommand("list", "List the built-in hardware presets");
  auto list_json = std::make_shared<bool>(false);
  list->add_flag("--json", *list_json, "Print JSON");
  list->callback([list_json] { run_list(*list_json); });

  auto* show = hw_cmd->add_subcommand("show", "Show a hardware spec: preset name or YAML file");
  auto show_name = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  auto show_yaml = std::make_shared<bool>(false);
  show->add_option("hw", *show_name, "Preset name or YAML file")->required();
  show->add_flag("--json", *show_json, "Print the expanded spec as JSON");
  show->add_flag("--yaml", *show_yaml, "Print a preset's YAML source, to copy and edit");
  show->callback([show_name, show_json, show_yaml] {
    if (*show_yaml) {
      std::optional<std::string> text = hw::preset_text(*show_name);
      if (!text) {
        throw core::InputError(core::InputLocation{"hw show --yaml", "", 0}, *show_name,
                               "the name of a preset");
      }
      fmt::print("{}", *text);
      return;
    }
    HwSpec hw = hw::load_hw(*show_name);
    if (*show_json) {
      print_json(hw::to_json(hw));
    } else {
      print_hw(hw);
    }
  });

  auto* check = hw_cmd->add_subcommand("check", "Validate a hardware YAML file");
  auto check_path = std::make_shared<std::string>();
  auto check_json = std::make_shared<bool>(false);
  check->add_option("file", *check_path, "YAML file (or preset name)")->required();
  check->add_flag("--json", *check_json, "Print JSON");
  check->callback([check_path, check_json] {
    HwSpec hw = hw::load_hw(*check_path);  // throws InputError on any problem
    if (*check_json) {
      print_json({{"file", *check_path},
                  {"ok", true},
                  {"chiplets", hw.chiplets.size()},
                  {"switches", hw.switches.size()},
                  {"links", hw.links.size()},
                  {"memories", hw.memories.size()}});
    } else {
      fmt::print("{}: ok ({} chiplets, {} switches, {} links, {} memory stacks; connected)\n",
                 *check_path, hw.chiplets.size(), hw.switches.size(), hw.links.size(),
                 hw.memories.size());
    }
  });
}

}  // namespace mozart::cli
