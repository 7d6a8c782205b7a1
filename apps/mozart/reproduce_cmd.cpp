// `mozart reproduce moentwine` (the MoEntwine study).
#include <chrono>
#include <memory>

#include "commands.hpp"
#include "loop_progress.hpp"
#include "options.hpp"
#include "output.hpp"
#include <fmt/format.h>

#include "mozart/core/output_plan.hpp"
#include "mozart/core/progress.hpp"
#include "mozart/study/moentwine.hpp"

namespace mozart::cli {
namespace {

struct MoentwineFlags {
  study::MoentwineOptions options;
  std::string output;
  std::string markdown;
  bool quick = false;
  bool json = false;
  unsigned jobs = 0;  // 0: one per hardware thread
};

void run_moentwine(const MoentwineFlags& f) {
  if (f.json)
    core::set_progress_enabled(false);
  const auto options = f.quick ? study::quick_moentwine(f.options) : f.options;
  balance::check_options(options.balancer, options.iterations, "mozart reproduce moentwine");
  core::OutputPlan outputs("mozart reproduce moentwine");
  outputs.output("-o", f.output, {".json"}).output("--markdown", f.markdown, {".md"});
  outputs.check();
  const auto start = std::chrono::steady_clock::now();
  const auto result = run_models_with_progress<study::MoentwineResult>(
      "reproduce moentwine", options, study::run_moentwine_study,
      [](auto& all, const auto& part) {
        all.rows.insert(all.rows.end(), part.rows.begin(), part.rows.end());
        all.notes.insert(all.notes.end(), part.notes.begin(), part.notes.end());
      },
      f.jobs);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!f.output.empty())
    outputs.stage(f.output, study::to_json(result).dump(1) + "\n");
  const std::string table = study::to_markdown(result);
  if (!f.markdown.empty())
    outputs.stage(f.markdown, table);
  outputs.commit();
  if (f.json)
    return print_json(study::to_json(result));
  fmt::print("MoEntwine study. Paper figures are for comparison only (docs/results.md).\n\n{}",
             table);
  fmt::print("\n{} results in {:.1f} s\n", result.rows.size(), seconds);
}

}  // namespace

void add_moentwine_command(CLI::App& reproduce) {
  auto f = std::make_shared<MoentwineFlags>();
  CLI::App* cmd = reproduce.add_subcommand(
      "moentwine",
      "MoEntwine (HPCA 2026): mappings, balancers none/eplb/ni, wafer-scale vs NVL72 and DGX");
  auto& o = f->options;
  cmd->add_option("--models", o.models, "Models to run")->check(name_text())->capture_default_str();
  cmd->add_option("--iterations", o.iterations, "Drifting iterations of the balancer runs")
      ->check(whole(1, 100000))
      ->capture_default_str();
  cmd->add_option("--batch-per-device", o.batch_per_device, "Decoding sequences per device")
      ->check(whole(1, 4096))
      ->capture_default_str();
  cmd->add_option("--context", o.context, "Tokens in each sequence's KV cache")
      ->check(whole(1, kMaxBatchDimension))
      ->capture_default_str();
  cmd->add_option("--shadow-slots", o.shadow_slots, "Shadow expert slots per device and layer")
      ->check(whole(0, 1024))
      ->capture_default_str();
  cmd->add_option("--window", o.balancer.window, "Iterations of load history the balancers use")
      ->check(whole(1, kMaxBatchDimension))
      ->capture_default_str();
  cmd->add_option("--period", o.balancer.period, "eplb: iterations between rebalancings")
      ->check(whole(1, kMaxBatchDimension))
      ->capture_default_str();
  cmd->add_option("--alpha", o.balancer.alpha, "ni: predicted imbalance that triggers a copy")
      ->check(finite(0, 1e6, true))
      ->capture_default_str();
  cmd->add_option("--seed", o.seed, "Seed of the traces")
      ->check(whole(0, kMaxU64 - 1))
      ->capture_default_str();
  cmd->add_flag("--quick", f->quick, "Fewer iterations (CI)");
  cmd->add_option("-j,--jobs", f->jobs,
                  "Models run at once (default: one per hardware thread; the results are the "
                  "same for any number)")
      ->check(whole(1, 4096));
  cmd->add_option("-o,--output", f->output, "Write the JSON results here (.json)");
  cmd->add_option("--markdown", f->markdown, "Write the tables as Markdown here (.md)");
  cmd->add_flag("--json", f->json, "Print JSON");
  cmd->callback([f] { run_moentwine(*f); });
}

}  // namespace mozart::cli
