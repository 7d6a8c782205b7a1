// `mozart hw list | show | check | cost`.
#include <map>
#include <optional>

#include "commands.hpp"
#include "default_step.hpp"
#include "output.hpp"
#include <fmt/format.h>

#include "mozart/core/config.hpp"
#include "mozart/core/error.hpp"
#include "mozart/hw/cost.hpp"
#include "mozart/hw/paper.hpp"
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
  if (hw.technology)
    fmt::print("  technology {} (`mozart hw cost` for area and power)\n", hw.technology->node);
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
    std::string via;
    if (m.networked()) {
      via = fmt::format(" via {}", hw.node_name(m.node));
      if (m.port)
        via +=
            fmt::format(" (port {})", format_quantity(m.port->bytes_per_s, Dimension::bytes_per_s));
    }
    fmt::print("    {:<22} {} {} at {}, {}/bit{} -> {}\n", m.name, to_string(m.kind),
               format_quantity(m.bytes, Dimension::bytes),
               format_quantity(m.bytes_per_s, Dimension::bytes_per_s),
               format_quantity(m.energy_per_bit_j, Dimension::joules), via,
               names_of(hw, m.chiplets));
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

// "+1.2%": ours against the paper's figure.
std::string deviation(double ours, double paper) {
  return fmt::format("{:+.2f}%", 100 * (ours - paper) / paper);
}

nlohmann::ordered_json technology_json(const hw::Technology& t) {
  return {{"node", t.node},
          {"pe_area_um2", t.pe_area_um2},
          {"sram_area_mm2_per_mb", t.sram_area_mm2_per_mb},
          {"sram_leakage_w_per_mb", t.sram_leakage_w_per_mb},
          {"logic_leakage_w_per_mm2", t.logic_leakage_w_per_mm2},
          {"wire_pitch_um", t.wire_pitch_um},
          {"wire_bytes_per_s", t.wire_bytes_per_s},
          {"switch_port_area_mm2", t.switch_port_area_mm2},
          {"hbm_package_area_mm2", t.hbm_package_area_mm2}};
}

nlohmann::ordered_json area_json(const hw::Area& a) {
  nlohmann::ordered_json kinds = nlohmann::ordered_json::array();
  for (const hw::KindArea& k : a.kinds) {
    kinds.push_back({{"kind", k.kind},
                     {"chiplets", k.chiplets},
                     {"compute_mm2_each", k.compute_mm2},
                     {"sram_mm2_each", k.sram_mm2},
                     {"footprint_mm2_each", k.footprint_mm2},
                     {"phy_mm2", k.phy_mm2},
                     {"silicon_mm2", k.silicon_mm2}});
  }
  return {{"kinds", kinds},
          {"chiplets_mm2", a.chiplets_mm2},
          {"switches_mm2", a.switches_mm2},
          {"memory_mm2", a.memory_mm2},
          {"total_mm2", a.total_mm2},
          {"logic_mm2", a.logic_mm2},
          {"sram_mb", a.sram_mb}};
}

nlohmann::ordered_json power_json(const hw::Power& p) {
  return {{"compute_w", p.compute_w},
          {"sram_w", p.sram_w},
          {"memory_w", p.memory_w},
          {"link_w", p.link_w},
          {"dynamic_w", p.dynamic_w},
          {"logic_leakage_w", p.logic_leakage_w},
          {"sram_leakage_w", p.sram_leakage_w},
          {"static_w", p.static_w},
          {"total_w", p.total_w}};
}

void print_cost_json(const HwSpec& hw, const hw::Area& a, const hw::Power& peak,
                     const nlohmann::ordered_json& at_step) {
  nlohmann::ordered_json out = {{"name", hw.name},
                                {"technology", technology_json(*hw.technology)},
                                {"area", area_json(a)},
                                {"power_at_peak_rates", power_json(peak)}};
  if (!at_step.is_null())
    out["power_at_step"] = at_step;
  if (auto paper = hw::paper::table2_for_preset(hw.name)) {
    out["paper_table2"] = {
        {"model", paper->model},
        {"area_mm2", paper->area_mm2},
        {"power_w", paper->power_w},
        {"note", "for comparison only; the paper's power is typical, ours at peak"}};
  }
  print_json(out);
}

void print_cost_text(const HwSpec& hw, const hw::Area& a, const hw::Power& peak) {
  std::optional<hw::paper::Table2> paper = hw::paper::table2_for_preset(hw.name);
  fmt::print("{}: area and power in {}\n", hw.name, hw.technology->node);
  fmt::print("  area (mm2):\n");
  for (const hw::KindArea& k : a.kinds) {
    fmt::print(
        "    {:<10} x{:<3} compute {:.1f}, SRAM {:.1f}, footprint {:.1f} each; PHYs {:.1f}; "
        "silicon {:.1f}\n",
        k.kind, k.chiplets, k.compute_mm2, k.sram_mm2, k.footprint_mm2, k.phy_mm2, k.silicon_mm2);
  }
  fmt::print("    switches   x{:<3} {:.1f}\n", hw.switches.size(), a.switches_mm2);
  fmt::print("    memory packages {:.1f}\n", a.memory_mm2);
  fmt::print("    total      {:.1f}", a.total_mm2);
  if (paper) {
    fmt::print("   (paper Table 2: {:.0f}; ours {})", paper->area_mm2,
               deviation(a.total_mm2, paper->area_mm2));
  }
  fmt::print("\n  power (W):\n");
  fmt::print(
      "    static     {:.1f} (logic leakage {:.1f} over {:.1f} mm2, SRAM leakage {:.1f} over "
      "{:.1f} MB)\n",
      peak.static_w, peak.logic_leakage_w, a.logic_mm2, peak.sram_leakage_w, a.sram_mb);
  fmt::print(
      "    dynamic at peak rates {:.1f} (compute {:.1f}, SRAM {:.1f}, memory {:.1f}, links "
      "{:.1f})\n",
      peak.dynamic_w, peak.compute_w, peak.sram_w, peak.memory_w, peak.link_w);
  fmt::print("    total at peak rates {:.1f}", peak.total_w);
  if (paper) {
    fmt::print("   (paper Table 2, typical: {:.0f}; ours at peak {})", paper->power_w,
               deviation(peak.total_w, paper->power_w));
  }
  fmt::print("\n");
}

// Dynamic power at a simulated step's rates: each part's energy over the step (the step's
// energies are the spec's energy per FLOP and per bit times what it measured), plus leakage.
struct StepPower {
  workload::StepResult step;
  hw::Power power;
  double energy_j = 0;  // dynamic + static x step time
};

StepPower power_at_step(const HwSpec& hw, const std::string& model, const std::string& policy,
                        bool weights_may_overflow) {
  StepPower s{simulate_default_step(model, hw, policy, weights_may_overflow), {}, 0};
  const double t = s.step.step_s;
  const workload::Energy& e = s.step.energy;
  hw::Power& p = s.power;
  p = hw::power(hw, hw::Rates{});  // static only
  p.compute_w = e.compute_j / t;
  p.sram_w = e.sram_j / t;
  p.memory_w = e.memory_j / t;
  p.link_w = e.network_j / t;
  p.dynamic_w = p.compute_w + p.sram_w + p.memory_w + p.link_w;
  p.total_w = p.dynamic_w + p.static_w;
  s.energy_j = e.total_j();  // the step's energy counts leakage already
  return s;
}

void print_step_power(const StepPower& s) {
  const hw::Power& p = s.power;
  fmt::print("  at a simulated step ({}, policy {}, {} tokens): {:.4f} s\n", s.step.model,
             s.step.policy.name, s.step.tokens, s.step.step_s);
  fmt::print(
      "    dynamic at the step's rates {:.1f} W (compute {:.1f}, SRAM {:.1f}, memory {:.1f}, "
      "links {:.1f})\n",
      p.dynamic_w, p.compute_w, p.sram_w, p.memory_w, p.link_w);
  fmt::print("    total {:.1f} W; step energy {:.1f} J ({:.1f} J of it static)\n", p.total_w,
             s.energy_j, p.static_w * s.step.step_s);
  if (const std::string note = memory_note(s.step); !note.empty())
    fmt::print("    note: {}\n", note);
}

nlohmann::ordered_json step_power_json(const StepPower& s) {
  return {{"model", s.step.model},
          {"policy", s.step.policy.name},
          {"tokens", s.step.tokens},
          {"step_s", s.step.step_s},
          {"memory_fits", s.step.memory_fits},
          {"power", power_json(s.power)},
          {"energy_j", s.energy_j}};
}

void run_cost(const std::string& name, bool json, const std::string& model,
              const std::string& policy, bool weights_may_overflow) {
  HwSpec hw = hw::load_hw(name);
  if (!hw.technology) {
    throw core::InputError(name,
                           "has no `technology` block; area and power need one (e.g. "
                           "technology: {node: 28nm}, see docs/hardware.md)");
  }
  const hw::Area a = hw::area(hw);
  const hw::Power peak = hw::power(hw, hw::peak_rates(hw));
  std::optional<StepPower> step;
  if (!model.empty())
    step = power_at_step(hw, model, policy, weights_may_overflow);
  if (json) {
    print_cost_json(hw, a, peak, step ? step_power_json(*step) : nlohmann::ordered_json());
  } else {
    print_cost_text(hw, a, peak);
    if (step)
      print_step_power(*step);
  }
}

}  // namespace

void add_hw_commands(CLI::App& app) {
  CLI::App* hw_cmd = app.add_subcommand("hw", "Hardware specs: list, show, check, cost");
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

  auto* cost = hw_cmd->add_subcommand(
      "cost", "Area and power of a hardware spec in its technology (needs a technology block)");
  auto cost_name = std::make_shared<std::string>();
  auto cost_json = std::make_shared<bool>(false);
  cost->add_option("hw", *cost_name, "Preset name or YAML file")->required();
  auto cost_model = std::make_shared<std::string>();
  auto cost_policy = std::make_shared<std::string>("C");
  cost->add_flag("--json", *cost_json, "Print JSON");
  CLI::Option* model_option =
      cost->add_option("--model", *cost_model,
                       "Also report power at a simulated training step of this model (the defaults "
                       "of `mozart simulate`)");
  cost->add_option("--policy", *cost_policy, "The step's policy (with --model)")
      ->capture_default_str()
      ->needs(model_option);
  auto cost_overflow = std::make_shared<bool>(false);
  cost->add_flag("--weights-may-overflow", *cost_overflow,
                 "Simulate the step even when the weights overfill their memory stacks (as "
                 "`mozart simulate --weights-may-overflow`; reported as memory_fits: false)")
      ->needs(model_option);
  cost->callback([cost_name, cost_json, cost_model, cost_policy, cost_overflow] {
    run_cost(*cost_name, *cost_json, *cost_model, *cost_policy, *cost_overflow);
  });
}

}  // namespace mozart::cli
