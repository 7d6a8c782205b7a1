// `mozart simulate` (one training step) and `mozart reproduce mozart` (the Mozart study).
#include <algorithm>
#include <chrono>
#include <optional>

#include "commands.hpp"
#include "default_step.hpp"
#include "loop_progress.hpp"
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
#include "mozart/net/network.hpp"
#include "mozart/placement/placement.hpp"
#include "mozart/report/run_dir.hpp"
#include "mozart/study/mozart_study.hpp"
#include "mozart/study/setup.hpp"
#include "mozart/trace/formats.hpp"
#include "mozart/workload/memory_plan.hpp"
#include "mozart/workload/step_result.hpp"
#include "mozart/workload/training.hpp"

namespace mozart::cli {
namespace {

using nlohmann::ordered_json;

workload::StepConfig step_config(const SimulateFlags& f) {
  if (f.micro_batches < 1 || f.sequences < 1 || f.sequences % f.micro_batches != 0)
    throw core::InputError({"mozart simulate", "--sequences", 0},
                           fmt::format("{} in {} micro-batches", f.sequences, f.micro_batches),
                           "a positive number of sequences divisible by --micro-batches");
  if (f.seq_len < 1)
    throw core::InputError({"mozart simulate", "--seq-len", 0}, std::to_string(f.seq_len),
                           "a positive sequence length");
  workload::StepConfig c;
  c.micro_batches = f.micro_batches;
  c.micro_batch.sequences = f.sequences / f.micro_batches;
  c.micro_batch.seq_len = f.seq_len;
  c.first_token = f.first_token;
  c.optimizer = f.optimizer != "none";
  c.optimizer_schedule = f.optimizer == "end-of-step" ? workload::OptimizerSchedule::end_of_step
                                                      : workload::OptimizerSchedule::per_layer;
  c.gradient_type = *core::parse_data_type(f.grad_precision);  // checked by the option
  c.weights_may_overflow = f.weights_may_overflow;
  return c;
}

std::size_t generated_tokens(const SimulateFlags& f) {
  return f.first_token + std::size_t(f.sequences) * std::size_t(f.seq_len);
}

// The step's trace: a file, or a sample of the default generator law (without gates: the step
// and the placer read the expert choices only).
trace::Trace step_trace(const SimulateFlags& f, const model::MoeModel& m, std::uint64_t seed,
                        const std::string& path) {
  if (!path.empty())
    return trace::read_trace(path, f.read.for_model(f.model).options());
  return study::generated_trace(m, generated_tokens(f), f.seq_len, seed, false);
}

// The step's placement: the file, or the policy's placer on the priors; `source` says which.
placement::Placement step_placement(const SimulateFlags& f, const model::MoeModel& m,
                                    const hw::HwSpec& hw, const trace::Trace& priors,
                                    const workload::Policy& policy, std::string& source) {
  placement::Placement placement;
  if (!f.placement.empty()) {
    placement = placement::read_placement(f.placement);
    const auto layout = placement::layout_from_hw(hw, m.routed_experts);
    placement::check_matches(placement, m.name, m.routed_experts, m.moe_layers(), &layout);
    source = f.placement;
  } else {
    placement = study::place_experts(m, hw, priors, policy.placer, f.seed);
    source = fmt::format("{} from the priors of {}", policy.placer,
                         f.priors.empty() ? "a generated trace (another seed)" : f.priors);
  }
  if (!f.weights_may_overflow)  // the rule of place and place compare
    placement::check_expert_memory(placement, static_cast<double>(model::routed_expert_params(m)) *
                                                  core::bytes_per_element(m.dtype));
  return placement;
}

// Every output checked, and every size that drives memory, before any trace is made; the
// plan then holds the outputs until the step is done.
core::OutputPlan check_before_work(const SimulateFlags& f, const model::MoeModel& m) {
  f.read.check_used(!f.trace.empty() || !f.priors.empty(), "mozart simulate",
                    "--trace or --priors");
  if (f.trace.empty() || f.priors.empty())
    check_generated_size(m, generated_tokens(f), {"mozart simulate", "--sequences", 0});
  core::OutputPlan plan("mozart simulate");
  for (const std::string* in : {&f.model, &f.hw, &f.trace, &f.priors, &f.placement})
    plan.input(*in);
  plan.output("-o", f.output, {".json"}).output("--timeline", f.timeline, {".json"});
  report::declare_run_dir(plan, f.out_dir,
                          {report::kSummaryFile, report::kTimelineFile, report::kInputsFile});
  plan.check();
  return plan;
}

// The run directory's files, staged in the plan: the summary, the timeline, what was read.
void stage_run_dir(core::OutputPlan& plan, const SimulateFlags& f, const ordered_json& summary,
                   const sim::Timeline& timeline) {
  if (f.out_dir.empty())
    return;
  const ordered_json settings = {{"policy", f.policy},
                                 {"sequences", f.sequences},
                                 {"seq_len", f.seq_len},
                                 {"micro_batches", f.micro_batches},
                                 {"first_token", f.first_token},
                                 {"optimizer", f.optimizer},
                                 {"grad_precision", f.grad_precision},
                                 {"seed", f.seed}};
  report::stage_run_dir(plan, f.out_dir,
                        {{report::kSummaryFile, summary.dump(1) + "\n"},
                         {report::kTimelineFile, timeline.to_chrome_json()}},
                        report::inputs_record("simulate",
                                              {{"model", f.model},
                                               {"hw", f.hw},
                                               {"trace", f.trace},
                                               {"priors", f.priors},
                                               {"placement", f.placement}},
                                              settings));
}

void print_losses(const workload::Losses& lost) {
  if (!lost.measured) {
    fmt::print("  lost to communication, memory, compute: not measured (--no-resimulate)\n");
    return;
  }
  fmt::print(
      "  lost to communication {:.4f} s, to memory {:.4f} s, to compute {:.4f} s (the step less "
      "the step re-simulated with links, memory or compute made free)\n",
      lost.communication.lost_s, lost.memory.lost_s, lost.compute.lost_s);
}

void print_summary(const workload::StepResult& r, const std::string& placement_source) {
  const auto& b = r.breakdown;
  const auto& lb = r.lower_bound;
  fmt::print("{} on {}, policy {} ({}), {} tokens ({} micro-batches of {} x {}); placement: {}\n",
             r.model, r.hardware, r.policy.name, workload::describe(r.policy), r.tokens,
             r.config.micro_batches, r.config.micro_batch.sequences, r.config.micro_batch.seq_len,
             placement_source);
  fmt::print("step {:.4f} s  ({:.0f} tokens/s)\n", r.step_s,
             r.step_s > 0 ? r.tokens / r.step_s : 0);
  fmt::print("  optimizer {}, gradients accumulated in {}; streaming priors: {}\n",
             r.config.optimizer
                 ? fmt::format("Adam {}", workload::to_string(r.config.optimizer_schedule))
                 : std::string("none"),
             core::to_string(r.config.gradient_type), r.priors);
  print_losses(r.lost);
  fmt::print(
      "  busy: compute {:.4f} s, memory {:.4f} s, communication {:.4f} s; of which with no "
      "chiplet computing: memory {:.4f} s, communication {:.4f} s; overlap {:.1f}%\n",
      b.compute_s, b.memory_s, b.communication_s, b.memory_without_compute_s,
      b.communication_without_compute_s, 100 * b.overlap_ratio);
  fmt::print(
      "  lower bound {:.4f} s ({}; compute {:.4f}, memory {:.4f}, network {:.4f}; before the "
      "optimizer {:.4f} + end-of-step optimizer {:.4f}); step / bound {:.2f}\n",
      lb.bound_s, lb.binding, lb.compute_s, lb.memory_s, lb.network_s, lb.before_optimizer_s,
      lb.optimizer_s, lb.bound_s > 0 ? r.step_s / lb.bound_s : 0);
  fmt::print("  C_T {:.3f} copies per token; S-MFU {:.2f}%, S-MBU {:.2f}%; energy {:.2f} J\n",
             r.copies_per_token, 100 * r.s_mfu, 100 * r.s_mbu, r.energy.total_j());
  double peak_sram = 0;
  std::string peak_sram_on;
  for (const auto& c : r.chiplets)
    if (c.sram_capacity > 0 && c.sram_peak / c.sram_capacity > peak_sram) {
      peak_sram = c.sram_peak / c.sram_capacity;
      peak_sram_on = c.name;
    }
  fmt::print("  peak SRAM {:.0f}% of capacity (on {}); memory stacks:", 100 * peak_sram,
             peak_sram_on);
  for (const auto& s : r.stacks)
    fmt::print(" {} {:.0f}% busy, needs {} of {}{};", s.name, 100 * s.utilisation,
               core::format_bytes(s.needed, core::byte_units_of(s.capacity)),
               core::format_bytes(s.capacity, core::byte_units_of(s.capacity)),
               s.needed > s.capacity ? " (DOES NOT FIT)" : "");
  fmt::print("\n");
  if (const std::string note = memory_note(r); !note.empty())
    fmt::print("  note: {}\n", note);
}

void run_simulate(const SimulateFlags& f) {
  if (f.json)
    core::set_progress_enabled(false);
  const auto m = model::load_model(f.model);
  const auto hw = hw::load_hw(f.hw);
  const auto policy = workload::parse_policy(f.policy);
  const auto config = step_config(f);
  auto outputs = check_before_work(f, m);
  // What the step's memory plan would refuse whatever the routing, before minutes of traces.
  workload::check_micro_batch(hw, m, config.micro_batch);
  core::Progress progress("simulate: reading and generating traces", 3, false);
  sim::Timeline timeline;
  std::string placement_source;
  StepHooks hooks;
  hooks.progress = &progress;
  hooks.timeline = f.timeline.empty() && f.out_dir.empty() ? nullptr : &timeline;
  hooks.placement_source = &placement_source;
  const auto r = simulate_step(f, m, hw, policy, hooks);
  progress.finish();
  const ordered_json summary = workload::to_json(r);
  stage_run_dir(outputs, f, summary, timeline);
  commit_run_outputs(outputs, f.output, summary, f.timeline, timeline);
  if (f.trace.empty() || f.priors.empty())  // routing drawn from the family's default law
    warn_of_family_law("simulate", m);
  if (f.json)
    return print_json(summary);
  print_summary(r, placement_source);
  if (!f.output.empty())
    fmt::print("summary written to {}\n", f.output);
  if (!f.timeline.empty())
    fmt::print("timeline written to {} (open in ui.perfetto.dev)\n", f.timeline);
}

struct ReproduceFlags {
  study::StudyOptions options;
  std::string output;
  std::string markdown;
  std::string out_dir;
  bool quick = false;
  bool json = false;
  unsigned jobs = 0;  // 0: one per hardware thread
};

// Hardware given with --hw must carry what the study's policies need (C's in-network multicast
// and aggregation above all): a one-sequence step of each model under C is built on it before
// the study's minutes of work, so that what it cannot run is refused at once, naming --hw.
void check_study_hardware(const study::StudyOptions& o) {
  if (o.hardware.empty())
    return;  // each model on its own paper preset
  const hw::HwSpec hw = hw::load_hw(o.hardware);
  const net::Network network(hw);
  const workload::Policy policy = workload::parse_policy("C");
  for (const std::string& name : o.models) {
    const model::MoeModel m = model::load_model(name);
    const trace::Trace t =
        study::generated_trace(m, std::size_t(o.seq_len), o.seq_len, o.seed, false);
    const placement::Placement p = study::place_experts(m, hw, t, "contiguous", o.seed);
    const workload::StepInputs inputs{m, network, p, t, "check", "check"};
    workload::StepConfig config;
    config.micro_batches = 1;
    config.micro_batch.sequences = 1;
    config.micro_batch.seq_len = o.seq_len;
    config.weights_may_overflow = true;  // as the study
    try {
      workload::build_training_step(inputs, policy, config);
    } catch (const core::InputError& e) {
      throw core::InputError(
          {"--hw", "hw", 0}, o.hardware,
          fmt::format("hardware the study's policy C runs on with {} ({})", name, e.what()));
    }
  }
}

void run_reproduce(const ReproduceFlags& f) {
  if (f.json)
    core::set_progress_enabled(false);
  auto options = f.options;
  if (f.quick) {
    options.ablations = false;
    options.sweeps = false;
  }
  core::OutputPlan outputs("mozart reproduce mozart");
  outputs.input(options.hardware);
  outputs.output("-o", f.output, {".json"}).output("--markdown", f.markdown, {".md"});
  report::declare_run_dir(outputs, f.out_dir, {report::kStudyFile, report::kInputsFile});
  outputs.check();
  check_study_hardware(options);
  const auto start = std::chrono::steady_clock::now();
  const auto result = run_models_with_progress<study::StudyResult>(
      "reproduce mozart", options, study::run_mozart_study,
      [](auto& all, const auto& part) {
        all.rows.insert(all.rows.end(), part.rows.begin(), part.rows.end());
      },
      f.jobs);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!f.output.empty())
    outputs.stage(f.output, study::to_json(result).dump(1) + "\n");
  const std::string table = study::to_markdown(result);
  if (!f.markdown.empty())
    outputs.stage(f.markdown, table);
  report::stage_run_dir(outputs, f.out_dir,
                        {{report::kStudyFile, study::to_json(result).dump(1) + "\n"}},
                        report::inputs_record("reproduce", {{"hw", options.hardware}},
                                              {{"models", options.models},
                                               {"seed", options.seed},
                                               {"quick", f.quick},
                                               {"resimulate", options.resimulate}}));
  outputs.commit();
  if (f.json)
    return print_json(study::to_json(result));
  fmt::print(
      "Mozart study: {} sequences of {} tokens in {} micro-batches per step, on {}; speed-ups "
      "over each model's baseline. Paper figures are for comparison only (docs/results.md).\n{}",
      options.sequences, options.seq_len, options.micro_batches,
      options.hardware.empty() ? "each model's mozart-paper-* preset" : options.hardware, table);
  fmt::print("\n{} results in {:.1f} s\n", result.rows.size(), seconds);
}

}  // namespace

workload::StepResult simulate_step(const SimulateFlags& f, const model::MoeModel& m,
                                   const hw::HwSpec& hw, const workload::Policy& policy,
                                   const StepHooks& hooks) {
  const auto config = step_config(f);
  // What the step's memory plan would refuse whatever the routing, before minutes of traces.
  workload::check_micro_batch(hw, m, config.micro_batch);
  const auto step = step_trace(f, m, f.seed, f.trace);
  // Priors from a trace the step does not run, as a deployment would have them.
  const auto priors = step_trace(f, m, f.seed + 1, f.priors);
  if (hooks.progress) {
    hooks.progress->advance();
    hooks.progress->set_label("simulate: placing experts");
  }
  std::string placement_source;
  const auto placement = step_placement(f, m, hw, priors, policy, placement_source);
  if (hooks.placement_source)
    *hooks.placement_source = placement_source;
  if (hooks.progress) {
    hooks.progress->advance();
    hooks.progress->set_label(f.no_resimulate ? "simulate: the step"
                                              : "simulate: the step and its three re-simulations");
  }
  const net::Network network(hw);
  workload::StepInputs inputs{m,
                              network,
                              placement,
                              step,
                              f.trace.empty() ? "generated trace" : f.trace,
                              f.placement.empty() ? "placement" : f.placement};
  // Streaming goes by the same priors as the placer: routing the step does not run.
  inputs.priors = &priors;
  inputs.priors_source = f.priors.empty() ? "a generated trace (another seed)" : f.priors;
  workload::StepOptions options;
  options.resimulate = !f.no_resimulate;
  options.timeline = hooks.timeline;
  return workload::simulate_training_step(inputs, policy, config, options);
}

std::string memory_note(const workload::StepResult& r) {
  const bool weights_overflow = std::any_of(r.stacks.begin(), r.stacks.end(),
                                            [](const auto& s) { return s.weights > s.capacity; });
  if (weights_overflow)
    return "the weights alone overfill a stack (--weights-may-overflow); the step is simulated as "
           "if the stacks were large enough";
  if (!r.memory_fits)
    return "weights fit, but weights, gradients, optimizer states and spilled activations "
           "together exceed a stack's capacity; the step is simulated as if they fit (use "
           "--optimizer none to leave the update out)";
  return "";
}

workload::StepResult simulate_default_step(const std::string& model, const hw::HwSpec& hw,
                                           const std::string& policy_name,
                                           bool weights_may_overflow) {
  SimulateFlags f;
  f.model = model;
  f.policy = policy_name;
  f.weights_may_overflow = weights_may_overflow;
  const auto m = model::load_model(f.model);
  const auto policy = workload::parse_policy(f.policy);
  const auto step = step_trace(f, m, f.seed, "");
  const auto priors = step_trace(f, m, f.seed + 1, "");
  const auto placement = study::place_experts(m, hw, priors, policy.placer, f.seed);
  if (!f.weights_may_overflow)  // simulate's rule (the stacks' own check follows in the step)
    placement::check_expert_memory(placement, static_cast<double>(model::routed_expert_params(m)) *
                                                  core::bytes_per_element(m.dtype));
  const net::Network network(hw);
  workload::StepInputs inputs{m, network, placement, step, "generated trace", "placement"};
  inputs.priors = &priors;
  inputs.priors_source = "priors trace (another seed)";
  return workload::simulate_training_step(inputs, policy, step_config(f));
}

void add_simulate_commands(CLI::App& app) {
  auto sf = std::make_shared<SimulateFlags>();
  CLI::App* sim = app.add_subcommand("simulate", "Simulate one training step of an MoE model");
  sim->add_option("--model", sf->model, "Zoo model or model file")->required();
  sim->add_option("--hw", sf->hw, "Hardware preset or YAML file")->required();
  sim->add_option("--trace", sf->trace,
                  "Routing trace of the step's tokens (default: drawn from the generator)");
  sim->add_option("--priors", sf->priors,
                  "Trace the placement's and streaming's priors come from (default: another "
                  "generated sample)");
  sf->read.add_to(sim, false);  // --model is declared above
  sim->add_option("--placement", sf->placement, "Placement file (default: made by the policy)");
  sim->add_flag("--weights-may-overflow", sf->weights_may_overflow,
                "Simulate even when the weights overfill their memory stacks (reported as "
                "memory_fits: false), as for the paper's Qwen3 preset");
  sim->add_option("--policy", sf->policy,
                  "baseline, A, B, C, or options: overlap+in-network+streaming+placer=mozart")
      ->capture_default_str();
  sim->add_option("--sequences", sf->sequences, "Sequences per step")
      ->check(whole(1, kMaxBatchDimension))
      ->capture_default_str();
  sim->add_option("--seq-len", sf->seq_len, "Tokens per sequence")
      ->check(whole(1, kMaxBatchDimension))
      ->capture_default_str();
  sim->add_option("--micro-batches", sf->micro_batches, "Micro-batches per step")
      ->check(whole(1, kMaxBatchDimension))
      ->capture_default_str();
  sim->add_option("--first-token", sf->first_token, "Trace token where the step starts")
      ->check(whole(0, kMaxTraceTokens))
      ->capture_default_str();
  sim->add_option("--optimizer", sf->optimizer,
                  "Adam per-layer (each layer once its gradients are final), end-of-step, or none")
      ->check(CLI::IsMember({"per-layer", "end-of-step", "none"}))
      ->capture_default_str();
  sim->add_option("--grad-precision", sf->grad_precision,
                  "Precision of the gradients accumulated across micro-batches")
      ->check(CLI::IsMember({"fp32", "bf16", "fp16"}))
      ->capture_default_str();
  sim->add_flag("--no-resimulate", sf->no_resimulate,
                "Skip the three re-simulations that measure what the step loses to "
                "communication, memory and compute");
  sim->add_option("--seed", sf->seed, "Seed of generated traces and placers")
      ->check(whole(0, kMaxU64 - 1))  // the priors use seed + 1
      ->capture_default_str();
  sim->add_option("-o,--output", sf->output, "Write the JSON summary here (.json)");
  sim->add_option("--timeline", sf->timeline, "Write a Perfetto / Chrome trace here (.json)");
  sim->add_option("--out-dir", sf->out_dir,
                  "Also write a run directory for `mozart report`: summary, timeline, inputs");
  sim->add_flag("--json", sf->json, "Print the JSON summary");
  sim->callback([sf] { run_simulate(*sf); });

  auto rf = std::make_shared<ReproduceFlags>();
  CLI::App* rep = app.add_subcommand("reproduce", "Reproduce a paper's evaluation");
  rep->require_subcommand(1);
  CLI::App* moz = rep->add_subcommand(
      "mozart", "Mozart (NeurIPS 2025): policies baseline/A/B/C on three models, and ablations");
  moz->add_option("--seed", rf->options.seed, "Seed of the traces")
      ->check(whole(0, kMaxU64 - 1))
      ->capture_default_str();
  moz->add_option("--models", rf->options.models, "Models to run")
      ->check(name_text())
      ->capture_default_str();
  moz->add_option("--hw", rf->options.hardware,
                  "One hardware preset or file for every model (default: each model's "
                  "mozart-paper-* preset)");
  moz->add_flag("--quick", rf->quick, "Main table only: no sweeps, no ablations");
  moz->add_option("-j,--jobs", rf->jobs,
                  "Models run at once (default: one per hardware thread; the results are the "
                  "same for any number)")
      ->check(whole(1, 4096));
  moz->add_option("--sweep-factors", rf->options.sweep_factors,
                  "Link and HBM bandwidth factors of the sweeps, besides x1")
      ->delimiter(',')
      ->check(finite(1e-3, 1e3))
      ->capture_default_str();
  moz->add_flag("!--no-resimulate", rf->options.resimulate,
                "Skip measuring what the main table's steps lose to communication, memory and "
                "compute (three re-simulations of each)");
  moz->add_option("-o,--output", rf->output, "Write the JSON results here (.json)");
  moz->add_option("--markdown", rf->markdown, "Write the tables as Markdown here (.md)");
  moz->add_option("--out-dir", rf->out_dir,
                  "Also write a run directory for `mozart report`: results and inputs");
  moz->add_flag("--json", rf->json, "Print JSON");
  moz->callback([rf] { run_reproduce(*rf); });
}

}  // namespace mozart::cli
