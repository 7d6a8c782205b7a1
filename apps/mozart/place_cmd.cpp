// `mozart place`, `mozart place compare`, `mozart place eval`.
#include <chrono>
#include <filesystem>
#include <memory>

#include "commands.hpp"
#include "model_trace.hpp"
#include "options.hpp"
#include "output.hpp"
#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/output_plan.hpp"
#include "mozart/core/progress.hpp"
#include "mozart/core/units.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/model/params.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/placement/metrics.hpp"
#include "mozart/placement/placers.hpp"
#include "mozart/report/run_dir.hpp"
#include "mozart/trace/formats.hpp"
#include "mozart/trace/priors.hpp"

namespace mozart::cli {
namespace {

using nlohmann::ordered_json;

struct PlaceFlags {
  std::string trace;
  std::string eval;
  std::string hw;
  std::string model;
  std::string placer = "mozart";
  std::vector<std::string> placers;
  std::string output;
  std::string out_dir;  // a run directory for `mozart report`
  int slots = 0;
  int group_size = 0;
  placement::PlacerOptions options;
  bool json = false;
  ReadFlags read;  // of --trace and --eval
};

std::optional<model::MoeModel> model_of(const PlaceFlags& f, const trace::Trace& t) {
  if (!f.model.empty())
    return model::load_model(f.model);
  return model::find_preset(t.model);
}

// The trace at `path`, checked against --model when one is given.
trace::Trace load_trace(const std::string& path, const PlaceFlags& f) {
  return f.read.for_model(f.model).read(path);
}

double expert_bytes(const std::optional<model::MoeModel>& m) {
  if (!m)
    return 0;
  return static_cast<double>(model::routed_expert_params(*m)) * core::bytes_per_element(m->dtype);
}

placement::DeviceLayout layout_for(const PlaceFlags& f, const trace::Trace& t) {
  const auto hw = hw::load_hw(f.hw);
  return placement::layout_from_hw(hw, t.num_experts(), f.slots, f.group_size);
}

void print_metrics(const std::string& label, const placement::Metrics& m) {
  fmt::print(
      "{}: C_T {:.3f} chiplets, {:.3f} groups; load max/mean {:.3f} chiplets (worst layer "
      "{:.3f}, over the step {:.3f}), {:.3f} groups (over the step {:.3f}); hop-weighted copies "
      "{:.3f}\n",
      label, m.copies_chiplets, m.copies_groups, m.chiplet_imbalance, m.worst_chiplet_imbalance,
      m.step_chiplet_imbalance, m.group_imbalance, m.step_group_imbalance, m.hop_copies);
}

// The run directory: the placement, the command's JSON, the trace's full priors (co-activation
// for the report's heatmap) and what was read.
void stage_run_dir(core::OutputPlan& outputs, const PlaceFlags& f, const placement::Placement& p,
                   const trace::Trace& t, const ordered_json& out) {
  if (f.out_dir.empty())
    return;
  const auto priors = trace::compute_priors(t);
  const std::string placement_path =
      (std::filesystem::path(f.out_dir) / report::kPlacementFile).string();
  report::stage_run_dir(
      outputs, f.out_dir,
      {{report::kPlacementFile, placement::placement_file_text(p, placement_path)},
       {report::kPlaceFile, out.dump(1) + "\n"},
       {report::kPriorsFile, trace::to_json(priors, true).dump(1) + "\n"}},
      report::inputs_record(
          "place", {{"trace", f.trace}, {"eval", f.eval}, {"hw", f.hw}, {"model", f.model}},
          {{"placer", f.placer}, {"slots", f.slots}, {"group_size", f.group_size}}));
}

void run_place(const PlaceFlags& f) {
  core::OutputPlan outputs("mozart place");
  for (const std::string* in : {&f.trace, &f.eval, &f.hw, &f.model})
    outputs.input(*in);
  outputs.output("-o", f.output, {".json", ".csv"});
  report::declare_run_dir(
      outputs, f.out_dir,
      {report::kPlacementFile, report::kPlaceFile, report::kPriorsFile, report::kInputsFile});
  outputs.check();
  const auto t = load_trace(f.trace, f);
  const auto layout = layout_for(f, t);
  const auto start = std::chrono::steady_clock::now();
  const auto p = placement::place(t, layout, f.placer, f.options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto m = model_of(f, t);
  placement::check_expert_memory(p, expert_bytes(m));
  const auto on_trace = placement::evaluate(p, t, expert_bytes(m));
  std::optional<placement::Metrics> held_out;
  if (!f.eval.empty())
    held_out = placement::evaluate(p, load_trace(f.eval, f), expert_bytes(m));
  if (!f.output.empty())
    outputs.stage(f.output, placement::placement_file_text(p, f.output));
  ordered_json out{{"placement", f.output.empty() ? ordered_json() : ordered_json(f.output)},
                   {"placer", p.placer},
                   {"seconds", seconds},
                   {"on_trace", placement::to_json(on_trace, true)}};
  if (held_out)
    out["held_out"] = placement::to_json(*held_out, true);
  stage_run_dir(outputs, f, p, t, out);
  outputs.commit();
  if (f.json)
    return print_json(out);
  fmt::print(
      "{} placement of {} ({} layers) on {}: {} chiplets in {} groups, {} slots each; {:.3f} s\n",
      p.placer, t.model.empty() ? "the trace" : t.model, p.layers.size(), layout.hardware,
      layout.chiplet_count(), layout.group_count(), layout.slots, seconds);
  print_metrics("on the placement trace", on_trace);
  if (held_out)
    print_metrics("on " + f.eval, *held_out);
  for (std::size_t l = 0; l < p.solver.size(); ++l)
    if (p.solver[l] && l < 3)
      fmt::print("  layer {} solver: {}, objective {:.6g}, bound {:.6g}, gap {:.2g}, {:.3f} s\n",
                 p.layers[l].layer_id, p.solver[l]->status, p.solver[l]->objective,
                 p.solver[l]->bound, p.solver[l]->gap, p.solver[l]->seconds);
  if (!f.output.empty())
    fmt::print("written to {}\n", f.output);
}

void run_compare(const PlaceFlags& f) {
  if (f.json)
    core::set_progress_enabled(false);
  const auto t = load_trace(f.trace, f);
  const auto layout = layout_for(f, t);
  const auto eval_trace = f.eval.empty() ? std::optional<trace::Trace>() : load_trace(f.eval, f);
  const auto& measured = eval_trace ? *eval_trace : t;
  const auto names = f.placers.empty() ? placement::placer_names() : f.placers;
  ordered_json rows = ordered_json::array();
  if (!f.json)
    fmt::print(
        "{} on {} ({} chiplets, {} groups); measured on "
        "{}\n{:<18}{:>10}{:>10}{:>12}{:>12}{:>12}{:>10}{:>10}\n",
        t.model.empty() ? f.trace : t.model, layout.hardware, layout.chiplet_count(),
        layout.group_count(), f.eval.empty() ? f.trace : f.eval, "placer", "C_T chip", "C_T grp",
        "chip max/mn", "step max/mn", "grp max/mn", "hops", "seconds");
  core::Progress progress("place compare", names.size());
  for (const auto& name : names) {
    progress.set_label("place compare: " + name);
    const auto start = std::chrono::steady_clock::now();
    const auto p = placement::place(t, layout, name, f.options);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    placement::check_expert_memory(p, expert_bytes(model_of(f, t)));
    const auto m = placement::evaluate(p, measured);
    rows.push_back({{"placer", p.placer},
                    {"copies_chiplets", m.copies_chiplets},
                    {"copies_groups", m.copies_groups},
                    {"chiplet_imbalance", m.chiplet_imbalance},
                    {"step_chiplet_imbalance", m.step_chiplet_imbalance},
                    {"group_imbalance", m.group_imbalance},
                    {"hop_copies", m.hop_copies},
                    {"seconds", seconds}});
    progress.advance();
    progress.clear();
    if (!f.json)
      fmt::print("{:<18}{:>10.3f}{:>10.3f}{:>12.3f}{:>12.3f}{:>12.3f}{:>10.3f}{:>10.3f}\n",
                 p.placer, m.copies_chiplets, m.copies_groups, m.chiplet_imbalance,
                 m.step_chiplet_imbalance, m.group_imbalance, m.hop_copies, seconds);
  }
  if (f.json)
    print_json(rows);
}

void add_common(CLI::App* cmd, PlaceFlags& f, bool required) {
  cmd->add_option("--trace", f.trace, "Trace whose priors drive the placement")->required(required);
  cmd->add_option("--hw", f.hw, "Hardware preset or file")->required(required);
  cmd->add_option("--model", f.model, "Zoo model or file (default: the trace's model)");
  cmd->add_option("--eval", f.eval, "Also measure on this (held-out) trace");
  cmd->add_option("--slots", f.slots, "Experts one chiplet may hold per layer (default: ceil(E/C))")
      ->check(whole(1, 1 << 20));
  cmd->add_option("--group-size", f.group_size,
                  "Group chiplets contiguously in groups of N instead")
      ->check(whole(1, 1 << 20));
  cmd->add_option("--replicas", f.options.replicas, "balanced: redundant copies of hot experts")
      ->check(whole(0, 1 << 20));
  cmd->add_option("--group-balance", f.options.group_balance, "Bound on group max/mean load")
      ->check(finite(1.0, 100.0));
  cmd->add_option("--chiplet-balance", f.options.chiplet_balance,
                  "mozart, --refine: a bound on every layer's chiplet max/mean load (default "
                  "none: mozart aims at 2.0; metis: tolerance)")
      ->check(finite(0.0, 100.0));  // below 1: the placer's own one-line error
  cmd->add_option("--time-limit", f.options.solver.seconds,
                  "Seconds per integer program (safety net)")
      ->check(finite(0.001, 3600.0));
  cmd->add_option("--nodes", f.options.solver.nodes, "Branch-and-bound nodes per integer program")
      ->check(whole(0, 100000000));
  cmd->add_flag("--refine", f.options.refine, "Swap experts to lower C_T + lambda * imbalance");
  cmd->add_option("--lambda", f.options.lambda, "Weight of chiplet imbalance in --refine")
      ->check(finite(0.0, 1000.0));
  cmd->add_option("--seed", f.options.seed, "Seed (random, metis)")->check(whole(0));
  cmd->add_flag("--json", f.json, "Print JSON");
  f.read.add_to(cmd, false);  // --model is declared above
}

}  // namespace

void add_place_commands(CLI::App& app) {
  auto f = std::make_shared<PlaceFlags>();
  CLI::App* cmd = app.add_subcommand("place", "Place experts on chiplets from a trace's priors");
  add_common(cmd, *f, false);  // required only without a subcommand, checked below
  cmd->add_option("--placer", f->placer,
                  "contiguous, round-robin, random, balanced, occult, mozart, mozart-paper, metis");
  cmd->add_option("-o,--output", f->output,
                  "Placement to write (.json or .csv; not the trace it is made from; optional "
                  "with --json or --out-dir)");
  cmd->add_option("--out-dir", f->out_dir,
                  "Also write a run directory for `mozart report`: placement, priors, inputs");
  cmd->callback([cmd, f] {
    if (cmd->get_subcommands().empty()) {
      for (const auto& [value, flag] : {std::pair{f->trace, "--trace"}, {f->hw, "--hw"}})
        if (value.empty())
          throw core::InputError({"mozart place", flag, 0}, "(none)", "a value (see --help)");
      // The placement goes to -o; with --json or --out-dir the run may keep it elsewhere or
      // only print its figures.
      if (f->output.empty() && !f->json && f->out_dir.empty())
        throw core::InputError({"mozart place", "-o", 0}, "(none)",
                               "a placement file to write (or --json / --out-dir)");
      run_place(*f);
    }
  });

  auto c = std::make_shared<PlaceFlags>();
  auto* compare = cmd->add_subcommand("compare", "Every placer on one trace and hardware: a table");
  add_common(compare, *c, true);
  compare->add_option("--placers", c->placers, "Placers to compare (default: all)")
      ->delimiter(',')
      ->check(name_text());
  compare->callback([c] { run_compare(*c); });

  auto e = std::make_shared<std::pair<std::string, std::string>>();
  auto e_json = std::make_shared<bool>(false);
  auto e_read = std::make_shared<ReadFlags>();
  auto* eval = cmd->add_subcommand("eval", "Measure a placement file on a trace");
  eval->add_option("--placement", e->first, "Placement (.json or .csv)")->required();
  eval->add_option("--trace", e->second, "Trace")->required();
  eval->add_flag("--json", *e_json, "Print JSON");
  e_read->add_to(eval, false);  // the placement names no model to check the trace by
  eval->callback([e, e_json, e_read] {
    const auto p = placement::read_placement(e->first);
    const auto t = e_read->read(e->second);
    const auto m = placement::evaluate(p, t);
    if (*e_json)
      return print_json(placement::to_json(m, true));
    print_metrics(e->first + " on " + e->second, m);
  });
}

}  // namespace mozart::cli
