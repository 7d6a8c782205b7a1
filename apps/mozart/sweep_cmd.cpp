// `mozart sweep SWEEP.yaml`: runs a training step (`run: simulate`) or a collective
// (`run: collective`) at every point of a sweep, on all cores or across the ranks of an MPI job,
// through the same library calls as `mozart simulate` and `mozart net collective`.
#include <chrono>
#include <thread>

#include "commands.hpp"
#include "default_step.hpp"
#include "net_run.hpp"
#include "options.hpp"
#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/progress.hpp"
#include "mozart/core/units.hpp"
#include "mozart/hw/cost.hpp"
#include "mozart/net/network.hpp"
#include "mozart/sweep/inputs.hpp"
#include "mozart/sweep/mpi.hpp"
#include "mozart/sweep/runner.hpp"
#include "mozart/workload/step_result.hpp"

namespace mozart::cli {
namespace {

using nlohmann::ordered_json;
using sweep::Assignment;
using sweep::setting;

// A setting checked as its command-line option would be, by the same validator.
std::string checked(const std::vector<Assignment>& s, const std::string& field,
                    const std::string& fallback, const CLI::Validator& check) {
  std::string value = setting(s, field, fallback);
  std::string copy = value;
  const std::string error = check(copy);
  if (!error.empty())
    throw core::InputError({"sweep", field, 0}, value, error);
  return value;
}

std::uint64_t whole_setting(const std::vector<Assignment>& s, const std::string& field,
                            std::uint64_t fallback, std::uint64_t min, std::uint64_t max) {
  return std::stoull(checked(s, field, std::to_string(fallback), whole(min, max)));
}

bool flag_setting(const std::vector<Assignment>& s, const std::string& field) {
  return checked(s, field, "false", CLI::IsMember({"true", "false"})) == "true";
}

std::string member_setting(const std::vector<Assignment>& s, const std::string& field,
                           const std::string& fallback, std::vector<std::string> allowed) {
  return checked(s, field, fallback, CLI::IsMember(std::move(allowed)));
}

const std::vector<std::string> kSimulateOptions = {"model",
                                                   "hw",
                                                   "policy",
                                                   "placer",
                                                   "sequences",
                                                   "seq-len",
                                                   "micro-batches",
                                                   "first-token",
                                                   "trace",
                                                   "priors",
                                                   "placement",
                                                   "optimizer",
                                                   "grad-precision",
                                                   "no-resimulate",
                                                   "weights-may-overflow",
                                                   "seed"};

const std::vector<std::string> kCollectiveOptions = {"hw",      "kind",      "bytes",
                                                     "routing", "multipath", "efficiency"};

const std::vector<std::string> kCollectiveKinds = {
    "all-to-all",      "all-gather",      "reduce-scatter",        "broadcast",
    "all-reduce-ring", "all-reduce-tree", "all-reduce-in-network", "all-reduce-mesh-2d"};

SimulateFlags simulate_flags(const std::vector<Assignment>& s) {
  SimulateFlags f;
  f.model = setting(s, "model");
  f.hw = setting(s, "hw");
  if (f.model.empty() || f.hw.empty())
    throw core::InputError("sweep", "run simulate needs a model and a hw (in base or swept)");
  f.trace = setting(s, "trace");
  f.priors = setting(s, "priors");
  f.placement = setting(s, "placement");
  f.policy = setting(s, "policy", f.policy);
  f.sequences = int(whole_setting(s, "sequences", 32, 1, kMaxBatchDimension));
  f.seq_len = int(whole_setting(s, "seq-len", 256, 1, kMaxBatchDimension));
  f.micro_batches = int(whole_setting(s, "micro-batches", 4, 1, kMaxBatchDimension));
  f.first_token = whole_setting(s, "first-token", 0, 0, kMaxTraceTokens);
  f.optimizer = member_setting(s, "optimizer", f.optimizer, {"per-layer", "end-of-step", "none"});
  f.grad_precision =
      member_setting(s, "grad-precision", f.grad_precision, {"fp32", "bf16", "fp16"});
  f.no_resimulate = flag_setting(s, "no-resimulate");
  f.weights_may_overflow = flag_setting(s, "weights-may-overflow");
  f.seed = whole_setting(s, "seed", 1, 0, kMaxU64 - 1);
  return f;
}

workload::Policy simulate_policy(const std::vector<Assignment>& s) {
  workload::Policy policy = workload::parse_policy(setting(s, "policy", "C"), "policy");
  const std::string placer = setting(s, "placer");
  if (!placer.empty())  // the policy's other choices, with this placer
    policy = workload::parse_policy(
        workload::describe(policy).substr(0, workload::describe(policy).rfind("+placer=")) +
            "+placer=" + placer,
        "placer");
  return policy;
}

// The hardware's area, for Pareto fronts, when its spec has a technology to cost it by.
void add_area(ordered_json& j, const hw::HwSpec& hw) {
  if (hw.technology)
    j["area_mm2"] = hw::area(hw).total_mm2;
}

ordered_json simulate_point(const std::vector<Assignment>& s) {
  const SimulateFlags f = simulate_flags(s);
  const auto policy = simulate_policy(s);
  const auto m = sweep::point_model(s);
  const auto hw = sweep::point_hw(s);
  ordered_json j = workload::to_json(simulate_step(f, m, hw, policy));
  add_area(j, hw);
  return j;
}

struct CollectiveSettings {
  std::string kind;
  double bytes = 0;
  net::NetworkOptions network;
};

CollectiveSettings collective_settings(const std::vector<Assignment>& s) {
  if (setting(s, "hw").empty())
    throw core::InputError("sweep", "run collective needs a hw (in base or swept)");
  CollectiveSettings c;
  c.kind = member_setting(s, "kind", "all-to-all", kCollectiveKinds);
  const std::string bytes = setting(s, "bytes", "1 MB");
  const auto parsed = core::parse_quantity(bytes, core::Dimension::bytes);
  if (!parsed || *parsed <= 0)
    throw core::InputError({"sweep", "bytes", 0}, bytes, "a positive size, e.g. '1 MB'");
  c.bytes = *parsed;
  c.network = network_options(member_setting(s, "routing", "xy", {"xy", "yx", "adaptive"}),
                              member_setting(s, "multipath", "split", {"split", "hash", "single"}),
                              std::stod(checked(s, "efficiency", "1", finite(0.0, 1.0, true))));
  return c;
}

ordered_json collective_point(const std::vector<Assignment>& s) {
  const CollectiveSettings c = collective_settings(s);
  const hw::HwSpec hw = sweep::point_hw(s);
  const net::Network net(hw, c.network);
  const net::CollectivePlan plan =
      collective_plan(net, c.kind, c.bytes, destination_weights(hw, {}, 1));
  const sim::RunResult r = run_plan(net, plan, {});
  ordered_json j = {{"hw", hw.name}, {"collective", c.kind}, {"bytes", c.bytes}};
  j.update(run_json(net, plan, r));
  add_area(j, hw);
  ordered_json links = ordered_json::array();
  for (std::size_t ch = 0; ch < net.channels().size(); ++ch)
    if (net.channels()[ch].kind == net::ChannelKind::link)
      links.push_back({{"name", net.channel_name(net::ChannelId(ch))},
                       {"bytes", r.channels[ch].bytes},
                       {"utilisation", r.makespan_s > 0 ? r.channels[ch].bytes /
                                                              (net.capacities()[ch] * r.makespan_s)
                                                        : 0.0}});
  j["links"] = links;
  return j;
}

struct Run {
  std::vector<std::string> options;
  std::function<void(const std::vector<Assignment>&)> check;  // the run's own settings
  sweep::Evaluate evaluate;
};

Run run_of(const sweep::SweepSpec& spec) {
  if (spec.run == "simulate")
    return {kSimulateOptions,
            [](const auto& s) {
              simulate_flags(s);
              simulate_policy(s);
            },
            simulate_point};
  if (spec.run == "collective")
    return {kCollectiveOptions, [](const auto& s) { collective_settings(s); }, collective_point};
  throw core::InputError({spec.source, "run", 0}, spec.run, "simulate or collective");
}

struct SweepFlags {
  std::string spec;
  std::string out_dir;
  unsigned jobs = 0;
};

void run_sweep(const SweepFlags& flags) {
  const sweep::SweepSpec spec = sweep::read_sweep(flags.spec);
  const Run run = run_of(spec);
  sweep::check_points(spec, run.options);
  for (std::size_t i = 0; i < spec.points.size(); ++i) {
    try {
      run.check(sweep::point_settings(spec, i));
    } catch (const core::InputError& e) {
      throw core::InputError(spec.source, fmt::format("point {}: {}", i, e.what()));
    }
  }
  sweep::RunOptions options;
  options.jobs = flags.jobs;
  options.progress = core::progress_enabled();
  const auto start = std::chrono::steady_clock::now();
  std::optional<sweep::RunSummary> summary;
  if (sweep::started_by_mpirun()) {
    summary = sweep::run_mpi(spec, flags.out_dir, run.evaluate, options);
  } else {
    sweep::ResultsDir results(flags.out_dir, spec);
    summary = sweep::run_threads(spec, results, run.evaluate, options);
  }
  if (!summary)
    return;  // an MPI rank other than 0: rank 0 reports
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(
      "sweep {}: {} points, {} run now on {} workers in {:.1f} s, {} finished before; {} "
      "failed (their error is in the CSV)\nresults: {}\n",
      spec.name.empty() ? spec.source : spec.name, summary->points, summary->ran, summary->workers,
      seconds, summary->skipped, summary->failed, summary->csv);
}

}  // namespace

void add_sweep_commands(CLI::App& app) {
  auto f = std::make_shared<SweepFlags>();
  CLI::App* cmd = app.add_subcommand(
      "sweep",
      "Run a simulation or a collective at every point of a grid or list of settings "
      "(docs/sweep.md); resumable; under mpirun, across ranks");
  cmd->add_option("spec", f->spec, "Sweep file (YAML)")->required();
  cmd->add_option("--out-dir", f->out_dir,
                  "Results directory: sweep.json, points/*.json, results.csv; a rerun resumes")
      ->required();
  cmd->add_option("-j,--jobs", f->jobs,
                  "Worker threads (default: one per hardware thread; under mpirun, rank 0's "
                  "threads beside its dispatching, default 1)")
      ->check(whole(1, 4096));
  cmd->callback([f] { run_sweep(*f); });
}

}  // namespace mozart::cli
