// `mozart serve` (serving iterations of an MoE model) and `mozart map show` (a mapping drawn).
#include <algorithm>
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
#include "mozart/mapping/mapping.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/placement/placement.hpp"
#include "mozart/report/run_dir.hpp"
#include "mozart/study/balanced_serving.hpp"
#include "mozart/study/serving.hpp"
#include "mozart/study/setup.hpp"
#include "mozart/trace/formats.hpp"
#include "mozart/workload/inference.hpp"

namespace mozart::cli {
namespace {

using nlohmann::ordered_json;

struct ServeFlags {
  std::string model;
  std::string hw;
  std::string mapping = "baseline";
  int tp = 4;
  workload::ServeConfig config;
  std::string phase = "decode";
  std::string trace;
  ReadFlags read;  // of --trace
  std::string placer = "contiguous";
  std::uint64_t seed = 1;
  std::string output;
  std::string timeline;
  std::string out_dir;  // a run directory for `mozart report`
  bool json = false;
  std::string dispatch = "load";
  std::string balancer;  // empty: serve without one
  int ep = 0;            // 0: expert parallelism over every device
  balance::BalancerOptions balance;
  unsigned jobs = 0;                       // 0: one per hardware thread
  CLI::Option* dispatch_option = nullptr;  // to tell a given --dispatch from the default
};

// Tokens that place the experts: another sample of the generator's law, as a deployment would
// have them from earlier serving.
constexpr std::size_t kPriorTokens = 4096;

trace::Trace routing(const ServeFlags& f, const model::MoeModel& m, int groups) {
  f.read.check_used(!f.trace.empty(), "mozart serve", "--trace");
  if (!f.trace.empty())
    return trace::read_trace(f.trace, f.read.for_model(f.model).options());
  return study::serving_trace(m, f.config, groups, f.seed);
}

void print_summary(const workload::ServeResult& r, const std::string& placer) {
  fmt::print(
      "{} on {} ({} devices), mapping {} with TP {}, experts placed by {}; {} x {} "
      "iterations, batch {}, context {}\n",
      r.model, r.hardware, r.devices, r.mapping, r.tp, placer, workload::to_string(r.config.phase),
      r.config.iterations, r.config.batch, r.config.context);
  fmt::print("mean iteration {:.3f} ms: ", 1e3 * r.mean_latency_s);
  for (std::size_t s = 0; s < workload::kStages; ++s)
    fmt::print("{}{} {:.3f} ms", s ? ", " : "", workload::to_string(workload::Stage(s)),
               1e3 * r.mean_stage_s[s]);
  fmt::print("\n{:.0f} tokens/s, {:.1f} tokens/s per device; fullest memory {:.0f}%\n",
             r.tokens_per_s, r.tokens_per_s_per_device, 100 * r.peak_memory_share);
  const auto& first = r.iterations.front();
  fmt::print(
      "iteration 0: {:.3f} ms (memory-read bound {:.3f} ms), device load peak/mean "
      "{:.2f}, {} tasks, {} edges\n",
      1e3 * first.latency_s, 1e3 * first.memory_bound_s,
      first.mean_device_load > 0 ? first.peak_device_load / first.mean_device_load : 0, first.tasks,
      first.edges);
  std::vector<workload::LinkBytes> hot = r.links;
  std::stable_sort(hot.begin(), hot.end(),
                   [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
  fmt::print("hottest links:");
  for (std::size_t i = 0; i < std::min<std::size_t>(5, hot.size()); ++i)
    fmt::print(" {} {:.1f} MB ({:.0f}%);", hot[i].name, hot[i].bytes / 1e6,
               100 * hot[i].utilisation);
  const auto cold =
      std::count_if(r.links.begin(), r.links.end(), [](const auto& l) { return l.bytes == 0; });
  fmt::print(" {} of {} links idle\n", cold, r.links.size());
}

ordered_json balanced_json(const ServeFlags& f, const workload::ServeInputs& in,
                           const study::BalancedRun& run, const study::Rides& rides) {
  ordered_json its = ordered_json::array();
  for (const study::BalancedIteration& it : run.iterations) {
    ordered_json split;
    for (std::size_t s = 0; s < workload::kStages; ++s)
      split[std::string(workload::to_string(workload::Stage(s))) + "_s"] = it.result.stage_s[s];
    its.push_back({{"latency_s", it.result.latency_s},
                   {"stall_s", it.stall_s},
                   {"split", split},
                   {"copies", it.copies},
                   {"late_copies", it.late},
                   {"peak_device_load", it.result.peak_device_load},
                   {"mean_device_load", it.result.mean_device_load}});
  }
  return {{"model", in.model.name},
          {"hardware", in.network.hw().name},
          {"mapping", in.mapping.name},
          {"tp", in.mapping.tp},
          {"batch", f.config.batch},
          {"context", f.config.context},
          {"iterations", f.config.iterations},
          {"dispatch", workload::to_string(f.config.dispatch)},
          {"shadow_slots", f.config.shadow_slots},
          {"balancer", run.balancer},
          {"window", f.balance.window},
          {"period", f.balance.period},
          {"alpha", f.balance.alpha},
          {"local_steps_ride", workload::to_string(rides.local)},
          {"global_steps_ride", workload::to_string(rides.global)},
          {"time_s", run.clock_s},
          {"stall_s", run.stall_s},
          {"copies", run.copies},
          {"copied_bytes", run.copied_bytes},
          {"late_copies", run.late},
          {"per_iteration", its}};
}

// Serving with a balancer: iteration by iteration, the balancer's copies simulated with them.
void serve_with_balancer(const ServeFlags& f, const workload::ServeInputs& inputs,
                         core::OutputPlan& outputs) {
  if (!f.timeline.empty())
    throw core::InputError({"mozart serve", "--timeline", 0}, f.timeline,
                           "no --timeline with --balancer (one iteration's tasks without it)");
  const study::Rides rides = study::derive_rides(inputs, f.config);
  core::Progress iterations("serve: iterations", std::size_t(f.config.iterations));
  const auto run = study::serve_balanced(inputs, f.config, f.balancer, f.balance, rides,
                                         "mozart serve", [&](int) { iterations.advance(); });
  iterations.finish();
  const ordered_json summary = balanced_json(f, inputs, run, rides);
  if (!f.output.empty())
    outputs.stage(f.output, summary.dump(1) + "\n");
  outputs.commit();
  if (f.json)
    return print_json(summary);
  double peak = 0, moe = 0;
  for (const auto& it : run.iterations) {
    peak += it.result.mean_device_load > 0
                ? it.result.peak_device_load / it.result.mean_device_load / run.iterations.size()
                : 0;
    for (auto s : {workload::Stage::dispatch, workload::Stage::experts, workload::Stage::combine})
      moe += it.result.stage_s[std::size_t(s)] / run.iterations.size();
  }
  fmt::print(
      "{} on {} ({} devices), mapping {} with TP {}, balancer {}: {} iterations in {:.3f} ms "
      "(stalls {:.3f} ms), MoE phases {:.3f} ms per iteration, device load peak/mean {:.2f}; {} "
      "experts copied ({}, {} still travelling at their iteration's end); local steps "
      "ride {}, global steps ride {}\n",
      inputs.model.name, inputs.network.hw().name, inputs.mapping.devices, inputs.mapping.name,
      inputs.mapping.tp, run.balancer, run.iterations.size(), 1e3 * run.clock_s, 1e3 * run.stall_s,
      1e3 * moe, peak, run.copies, core::format_quantity(run.copied_bytes, core::Dimension::bytes),
      run.late, workload::to_string(rides.local), workload::to_string(rides.global));
  if (!f.output.empty())
    fmt::print("summary written to {}\n", f.output);
}

void run_serve(ServeFlags f) {
  if (f.json)
    core::set_progress_enabled(false);
  f.config.phase = f.phase == "prefill" ? workload::ServePhase::prefill
                   : f.phase == "mixed" ? workload::ServePhase::mixed
                                        : workload::ServePhase::decode;
  f.config.dispatch =
      f.dispatch == "nearest" ? workload::Dispatch::nearest : workload::Dispatch::load;
  if (!f.balancer.empty()) {
    balance::make_balancer(f.balancer, f.balance, "mozart serve --balancer");
    balance::check_options(f.balance, f.config.iterations, "mozart serve");
    if (f.balancer == "eplb" && f.balance.period > f.config.iterations)
      throw core::InputError({"mozart serve", "--period", 0}, std::to_string(f.balance.period),
                             fmt::format("at most the {} iterations of the run (eplb would "
                                         "never rebalance)",
                                         f.config.iterations));
  }
  if (f.ep > 0 && f.dispatch != "nearest" && f.dispatch_option->count() > 0)
    throw core::InputError({"mozart serve", "--dispatch", 0}, f.dispatch,
                           "nearest with --ep (each token goes to its nearest copy)");
  const auto m = model::load_model(f.model);
  const auto hw = hw::load_hw(f.hw);
  const net::Network network(hw);
  const auto mapping = mapping::make_mapping(network, f.mapping, f.tp, "mozart serve");
  const std::size_t tokens = workload::tokens_per_iteration(f.config, mapping.group_count()) *
                             std::size_t(f.config.iterations);
  if (f.trace.empty())
    check_generated_size(m, tokens,
                         {"mozart serve",
                          f.config.phase == workload::ServePhase::decode
                              ? "--batch x --iterations"
                              : "--batch (or 1 prompt when mixed) x --prompt x --iterations",
                          0});
  core::OutputPlan outputs("mozart serve");
  for (const std::string* in : {&f.model, &f.hw, &f.trace})
    outputs.input(*in);
  outputs.output("-o", f.output, {".json"}).output("--timeline", f.timeline, {".json"});
  report::declare_run_dir(outputs, f.out_dir,
                          {report::kSummaryFile, report::kTimelineFile, report::kInputsFile});
  outputs.check();
  core::Progress progress("serve: routing and placement", 2, false);
  const auto route = routing(f, m, mapping.group_count());
  const auto priors = study::generated_trace(m, kPriorTokens, 256, f.seed + 1);
  const auto placement =
      f.ep > 0 ? study::place_over_ep(m, hw, priors, f.placer, f.ep, f.seed, "mozart serve")
               : study::place_experts(m, hw, priors, f.placer, f.seed);
  if (f.ep > 0)
    f.config.dispatch = workload::Dispatch::nearest;  // each token to its nearest copy
  progress.advance();
  progress.set_label("serve: iterations");
  workload::ServeInputs inputs{m,         network, mapping,
                               placement, route,   f.trace.empty() ? "generated trace" : f.trace};
  progress.finish();
  // The priors are always drawn from the family's default law, the routing without --trace.
  if (!f.balancer.empty()) {
    serve_with_balancer(f, inputs, outputs);
    return warn_of_family_law("serve", m);
  }
  core::Progress iterations("serve: iterations", std::size_t(f.config.iterations));
  sim::Timeline timeline;
  workload::ServeRunOptions run;
  run.timeline = f.timeline.empty() && f.out_dir.empty() ? nullptr : &timeline;
  run.jobs = f.jobs;
  run.iteration_done = [&iterations] { iterations.advance(); };
  const auto r = workload::simulate_serving(inputs, f.config, run);
  iterations.finish();
  ordered_json summary = workload::to_json(r);
  // What else decided the run, so that a summary says how to make it again.
  summary["placer"] = f.placer;
  summary["seed"] = f.seed;
  summary["ep"] = f.ep > 0 ? f.ep : inputs.mapping.devices;
  report::stage_run_dir(
      outputs, f.out_dir,
      {{report::kSummaryFile, summary.dump(1) + "\n"},
       {report::kTimelineFile, timeline.to_chrome_json()}},
      report::inputs_record("serve", {{"model", f.model}, {"hw", f.hw}, {"trace", f.trace}},
                            {{"mapping", f.mapping},
                             {"tp", f.tp},
                             {"phase", f.phase},
                             {"placer", f.placer},
                             {"seed", f.seed}}));
  commit_run_outputs(outputs, f.output, summary, f.timeline, timeline);
  warn_of_family_law("serve", m);
  if (f.json)
    return print_json(summary);
  print_summary(r, f.placer);
  if (!f.output.empty())
    fmt::print("summary written to {}\n", f.output);
  if (!f.timeline.empty())
    fmt::print("timeline written to {} (open in ui.perfetto.dev)\n", f.timeline);
}

struct MapFlags {
  std::string hw;
  std::string mapping = "baseline";
  int tp = 4;
  bool json = false;
};

void run_map_show(const MapFlags& f) {
  const auto hw = hw::load_hw(f.hw);
  const net::Network network(hw);
  const auto mapping = mapping::make_mapping(network, f.mapping, f.tp, "mozart map show");
  if (f.json)
    return print_json(mapping::to_json(mapping));
  fmt::print("{}", mapping::draw(hw, mapping));
}

}  // namespace

void add_serve_commands(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* serve =
      app.add_subcommand("serve", "Simulate serving iterations of an MoE model (expert parallel)");
  serve->add_option("--model", f->model, "Zoo model or model file")->required();
  serve->add_option("--hw", f->hw, "Hardware preset or YAML file")->required();
  serve->add_option("--mapping", f->mapping, "baseline, er or her")
      ->check(CLI::IsMember(mapping::mapping_names()))
      ->capture_default_str();
  serve->add_option("--tp", f->tp, "Tensor-parallel size of attention")
      ->check(whole(1, 1 << 20))
      ->capture_default_str();
  serve->add_option("--batch", f->config.batch, "Sequences in the batch")
      ->check(whole(1, kMaxBatchDimension))
      ->capture_default_str();
  serve->add_option("--context", f->config.context, "Tokens in each sequence's KV cache (decode)")
      ->check(whole(1, kMaxBatchDimension))
      ->capture_default_str();
  serve->add_option("--prompt", f->config.prompt, "Tokens of each prompt (prefill, mixed)")
      ->check(whole(1, kMaxBatchDimension))
      ->capture_default_str();
  serve->add_option("--iterations", f->config.iterations, "Serving iterations")
      ->check(whole(1, kMaxBatchDimension))
      ->capture_default_str();
  serve->add_option("--phase", f->phase, "decode, prefill or mixed")
      ->check(CLI::IsMember({"decode", "prefill", "mixed"}))
      ->capture_default_str();
  serve->add_option("--trace", f->trace,
                    "Routing in serving order (default: drawn from the generator)");
  f->read.add_to(serve, false);  // --model is declared above
  serve->add_option("--placer", f->placer, "Placer of the experts (mozart place's names)")
      ->capture_default_str();
  serve->add_option("--seed", f->seed, "Seed of generated routing and placers")
      ->check(whole(0, kMaxU64 - 1))
      ->capture_default_str();
  serve->add_option("-o,--output", f->output, "Write the JSON summary here (.json)");
  serve->add_option("--timeline", f->timeline, "Write a Perfetto / Chrome trace here (.json)");
  serve->add_option("--out-dir", f->out_dir,
                    "Also write a run directory for `mozart report`: summary, timeline, inputs");
  serve->add_flag("--json", f->json, "Print the JSON summary");
  f->dispatch_option =
      serve
          ->add_option("--dispatch", f->dispatch,
                       "Replica that takes a token: load (fewest tokens so far) or nearest")
          ->check(CLI::IsMember({"load", "nearest"}))
          ->capture_default_str();
  serve
      ->add_option("--shadow-slots", f->config.shadow_slots,
                   "Expert slots per device and layer kept for replicas (memory reserved)")
      ->check(whole(0, 1 << 20))
      ->capture_default_str();
  serve
      ->add_option("--ep", f->ep,
                   "Expert-parallel size: EP groups of this many devices, each holding every "
                   "expert, tokens to the nearest copy (default: every device)")
      ->check(whole(1, 1 << 20));
  serve
      ->add_option("-j,--jobs", f->jobs,
                   "Worker threads: iterations after the first run this many at a time, and "
                   "an iteration run alone runs its phases on them (default: one per hardware "
                   "thread, fewer iterations at once if their task graphs would not fit in "
                   "memory; the result is the same for any number; with --balancer the "
                   "iterations run in order)")
      ->check(whole(1, 4096));
  CLI::Option* balancer =
      serve->add_option("--balancer", f->balancer, "none, eplb or ni (default: serve without one)");
  // The balancer's options mean nothing without one.
  serve->add_option("--window", f->balance.window, "Iterations of load history a balancer uses")
      ->check(whole(1, kMaxBatchDimension))
      ->needs(balancer)
      ->capture_default_str();
  serve->add_option("--period", f->balance.period, "eplb: iterations between rebalancings")
      ->check(whole(1, kMaxBatchDimension))
      ->needs(balancer)
      ->capture_default_str();
  serve->add_option("--alpha", f->balance.alpha, "ni: predicted imbalance that triggers a copy")
      ->check(finite(0, 1e6, true))
      ->needs(balancer)
      ->capture_default_str();
  serve->add_option("--moves", f->balance.moves, "ni: copies per layer per iteration at most")
      ->check(whole(1, kMaxBatchDimension))
      ->needs(balancer)
      ->capture_default_str();
  serve->callback([f] { run_serve(*f); });
  add_moentwine_command(*app.get_subcommand("reproduce"));

  auto mf = std::make_shared<MapFlags>();
  CLI::App* map = app.add_subcommand("map", "Mappings of TP groups and FTDs onto devices");
  map->require_subcommand(1);
  CLI::App* show = map->add_subcommand("show", "Draw a mapping on the mesh as text");
  show->add_option("--hw", mf->hw, "Hardware preset or YAML file")->required();
  show->add_option("--mapping", mf->mapping, "baseline, er or her")
      ->check(CLI::IsMember(mapping::mapping_names()))
      ->capture_default_str();
  show->add_option("--tp", mf->tp, "Tensor-parallel size of attention")
      ->check(whole(1, 1 << 20))
      ->capture_default_str();
  show->add_flag("--json", mf->json, "Print the mapping as JSON");
  show->callback([mf] { run_map_show(*mf); });
}

}  // namespace mozart::cli
