// `mozart trace info | stats | convert | gen | calibrate`.
#include <algorithm>
#include <memory>
#include <numeric>
#include <optional>

#include "commands.hpp"
#include "loop_progress.hpp"
#include "model_trace.hpp"
#include "options.hpp"
#include "output.hpp"
#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"
#include "mozart/core/limits.hpp"
#include "mozart/core/output_plan.hpp"
#include "mozart/core/progress.hpp"
#include "mozart/model/routing.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/study/setup.hpp"
#include "mozart/trace/calibrate.hpp"
#include "mozart/trace/edit.hpp"
#include "mozart/trace/formats.hpp"
#include "mozart/trace/generator.hpp"
#include "mozart/trace/like.hpp"
#include "mozart/trace/priors.hpp"

namespace mozart::cli {
namespace {

using nlohmann::ordered_json;
using trace::Trace;
using trace::TraceShape;

std::string opt(const std::optional<double>& v, const char* spec = "{:.3f}") {
  return v ? fmt::format(fmt::runtime(spec), *v) : std::string("-");
}

// The format a trace output is written in: its extension's; --to or --format may confirm it
// but not contradict it (a file named .csv holding native bytes misleads every reader).
trace::Format output_format(const std::string& path, const std::string& option,
                            const std::string& requested) {
  const trace::Format by_extension = trace::format_of_path(path);
  if (requested.empty())
    return by_extension;
  const auto format = trace::parse_format(requested);
  if (!format)
    throw core::InputError({option, "format", 0}, requested, "native, jsonl, npy or csv");
  if (*format != by_extension)
    throw core::InputError({option, "format", 0}, requested,
                           fmt::format("{}, the format of {}'s extension (the format follows the "
                                       "extension)",
                                       trace::to_string(by_extension), path));
  return *format;
}

void run_info(const std::string& path, const ReadFlags& flags, bool json) {
  const Trace t = flags.read(path);
  const auto sequences = trace::count_sequences(t);
  ordered_json out{{"file", path},
                   {"model", t.model},
                   {"layers", t.layers()},
                   {"layer_ids", t.shape.layer_ids},
                   {"experts", t.num_experts()},
                   {"top_k", t.top_k()},
                   {"tokens", t.tokens},
                   {"records", t.records()},
                   {"sequences", sequences},
                   {"gates", !t.gates.empty()},
                   {"domains", t.domain_names}};
  if (json)
    return print_json(out);
  fmt::print("{}\n", path);
  fmt::print("  {:<12}{}\n", "model", t.model.empty() ? "-" : t.model);
  fmt::print("  {:<12}{} MoE layers ({})\n", "layers", t.layers(),
             fmt::join(t.shape.layer_ids, ","));
  fmt::print("  {:<12}{} routed, top-{}\n", "experts", t.num_experts(), t.top_k());
  fmt::print("  {:<12}{} in {} sequences; {} (token, layer) records\n", "tokens", t.tokens,
             sequences, t.records());
  fmt::print("  {:<12}{}\n", "gates", t.gates.empty() ? "no" : "yes");
  fmt::print("  {:<12}{}\n", "domains",
             t.domain_names.empty() ? "-" : fmt::format("{}", fmt::join(t.domain_names, ", ")));
}

struct StatsFlags {
  std::string path;
  ReadFlags read;
  std::optional<std::size_t> window;  // default: drift_window_for()
  int groups = 0;                     // 0: 16, or one group per expert when the trace has fewer
  bool json = false;
  bool full = false;
  std::string output;
};

// Drift by default over 16 windows of the trace, each of at least 256 tokens (shorter ones
// measure sampling noise more than drift): none below 512 tokens.
std::size_t drift_window_for(std::size_t tokens) {
  const std::size_t window = std::max<std::size_t>(256, tokens / 16);
  return tokens >= 2 * window ? window : 0;
}

// What the drift column holds: none without a second window to compare with.
std::string drift_note(std::size_t window, std::size_t tokens) {
  if (window == 0)
    return "off (under 512 tokens, or --window 0)";
  if (window >= tokens)
    return fmt::format("- (a window of {} tokens holds the whole trace of {})", window, tokens);
  return fmt::format("mean change of the expert shares between windows of {} tokens", window);
}

void run_stats(const StatsFlags& f) {
  core::OutputPlan outputs("mozart trace stats");
  outputs.input(f.path).input(f.read.model).output("-o", f.output, {".json"}).check();
  const Trace t = f.read.read(f.path);
  const std::size_t window = f.window ? *f.window : drift_window_for(t.tokens);
  const auto priors = trace::compute_priors(t, {window, true});
  if (f.groups > t.num_experts())
    throw core::InputError(
        {"mozart trace stats", "--groups", 0}, std::to_string(f.groups),
        fmt::format("at most the trace's {} experts (one group per expert)", t.num_experts()));
  const int groups = f.groups > 0 ? f.groups : std::min(16, t.num_experts());
  const auto contiguous = trace::contiguous_groups(t.num_experts(), groups);
  auto out = trace::to_json(priors, f.full || !f.output.empty());
  for (int l = 0; l < t.layers(); ++l)
    out["layers"][static_cast<std::size_t>(l)]["copies_contiguous"] =
        trace::copies_per_token(t, l, contiguous);
  const auto reuse = trace::consecutive_reuse(t);
  for (int l = 0; l < t.layers(); ++l)
    out["layers"][static_cast<std::size_t>(l)]["consecutive_reuse"] =
        reuse[static_cast<std::size_t>(l)];
  out["copies_contiguous_groups"] = groups;
  out["copies_contiguous"] = trace::copies_per_token(t, contiguous);
  out["sequences"] = trace::count_sequences(t);
  out["drift_window"] = window;
  if (!f.output.empty()) {
    outputs.stage(f.output, out.dump(1) + "\n");
    outputs.commit();
  }
  if (f.json)
    return print_json(f.output.empty() ? out : trace::to_json(priors, false));
  fmt::print("{}: {} tokens in {} sequences, {} layers, {} experts, top-{}\n", f.path, t.tokens,
             trace::count_sequences(t), t.layers(), t.num_experts(), t.top_k());
  const auto cell = [](const ordered_json& layer, const char* key) {
    return layer.contains(key) ? fmt::format("{:.3f}", layer[key].get<double>()) : "-";
  };
  fmt::print("{:>6} {:>9} {:>8} {:>9} {:>10} {:>8} {:>8} {:>8} {:>6}\n", "layer", "max/mean",
             "entropy", "min/mean", "coact-lift", "trans-c", "drift", "reuse", "C_T");
  for (const auto& layer : out["layers"])
    fmt::print("{:>6} {:>9.2f} {:>8.3f} {:>9.3f} {:>10.3f} {:>8} {:>8} {:>8.3f} {:>6.2f}\n",
               layer["layer"].get<int>(), layer["imbalance"].get<double>(),
               layer["entropy"].get<double>(), layer["min_share_of_mean"].get<double>(),
               layer["coactivation_lift"].get<double>(), cell(layer, "transition_concentration"),
               cell(layer, "drift_mean"), layer["consecutive_reuse"].get<double>(),
               layer["copies_contiguous"].get<double>());
  fmt::print(
      "trans-c: transition concentration to the next layer; drift: {}; reuse: share of a "
      "token's experts the token before it in its sequence chose\n",
      drift_note(window, t.tokens));
  fmt::print("C_T over {} contiguous groups (copies per token): {:.3f} of at most {}\n", groups,
             out["copies_contiguous"].get<double>(), t.top_k());
  if (!f.output.empty())
    fmt::print("priors written to {}\n", f.output);
}

struct GenFlags {
  std::string model;
  std::size_t tokens = 8192;
  std::uint64_t seed = 1;
  std::string output;
  std::string format;
  std::string params;
  std::string token_experts;
  std::string like;
  int topics = 0;
  int seq_len = 0;
  std::vector<std::string> domains;
  double skew = -1;
  ReadFlags read;  // of the --like trace
};

// Draws from measured per-token counts; a --model given too must match their shape.
Trace sample_measured(const GenFlags& f, const trace::Progress& progress) {
  const auto counts = trace::read_token_expert_counts(f.token_experts);
  Trace t = trace::sample_token_experts(counts, f.tokens, f.seq_len > 0 ? f.seq_len : 256, f.seed,
                                        progress);
  if (!f.model.empty())
    check_trace_fits_model(t, model::load_model(f.model), f.token_experts);
  return t;
}

// Parameters calibrated for a model of another family carry that family's balancing (its
// popularity skew and co-activation), not this one's: said, not refused.
void warn_other_family(const nlohmann::json& params, const model::MoeModel& m,
                       const std::string& path) {
  if (!params.contains("calibration") || !params["calibration"].is_object() ||
      !params["calibration"].contains("model") || !params["calibration"]["model"].is_string())
    return;
  const auto name = params["calibration"]["model"].get<std::string>();
  const std::string family = study::model_family(name);
  if (name != m.name && family != m.family)
    fmt::print(stderr,
               "mozart: warning: trace gen: {} was calibrated for {} (family {}), not for {} "
               "(family {}): its routing law is that family's\n",
               path, name, family, m.name, m.family);
}

// Fits the --like trace's law and draws from it, over --model's MoE layers when given (the
// trace must be of that model), else the trace's own; prints what the fit reached.
Trace generate_like(const GenFlags& f, const trace::Progress& progress) {
  std::optional<model::MoeModel> m;
  if (!f.model.empty())
    m = model::load_model(f.model);
  const Trace source = f.read.for_model(f.model).read(f.like);
  trace::LikeOptions options;
  options.seed = f.seed;
  if (f.topics > 0)
    options.topics = f.topics;
  const auto law = trace::fit_like(source, f.like, options);
  Trace t = trace::generate_like(law, f.tokens, f.seed, m ? model_shape(*m) : TraceShape{},
                                 m ? m->name : source.model, f.seq_len, progress);
  // The source against a fresh draw of its own layers and length (at most 32,768 tokens).
  const std::size_t check_tokens = std::min<std::size_t>(source.tokens, 32768);
  const auto correlation =
      trace::coactivation_correlation(trace::slice(source, 0, check_tokens, {}, f.like),
                                      trace::generate_like(law, check_tokens, f.seed + 1));
  fmt::print("like {}: {} topics per layer, persistence {:.3f}, consecutive reuse {} → {:.3f}\n",
             f.like, law.layers.front().share.size(), law.persistence,
             law.target_reuse < 0 ? std::string("- (no consecutive tokens)")
                                  : fmt::format("{:.3f}", law.target_reuse),
             law.achieved_reuse);
  std::vector<std::string> cells;
  for (std::size_t l = 0; l < correlation.size(); ++l)
    cells.push_back(fmt::format("{} {:.3f}/{:.3f}", source.shape.layer_ids[l], correlation[l].lift,
                                correlation[l].matrix));
  fmt::print("co-activation correlation with the source per layer (lift/matrix): {}\n",
             fmt::join(cells, ", "));
  for (const auto& warning : law.warnings)
    fmt::print(stderr, "mozart: warning: trace gen --like: {}\n", warning);
  return t;
}

void run_gen(const GenFlags& f) {
  core::OutputPlan outputs("mozart trace gen");
  outputs.input(f.model).input(f.params).input(f.token_experts).input(f.like);
  outputs.output("-o", f.output, {}).check();
  const trace::Format format = output_format(f.output, "--format", f.format);
  if (!f.like.empty() &&
      (!f.params.empty() || !f.token_experts.empty() || f.skew >= 0 || !f.domains.empty()))
    throw core::InputError({"mozart trace gen", "--like", 0}, f.like,
                           "--like alone: the law comes from the trace (no --params, "
                           "--token-experts, --skew or --domains)");
  f.read.check_used(!f.like.empty(), "mozart trace gen", "--like");
  LoopProgress generating("trace gen: generating");
  Trace t;
  if (!f.like.empty()) {
    t = generate_like(f, generating.callback());
  } else if (!f.token_experts.empty()) {
    t = sample_measured(f, generating.callback());
  } else {
    if (f.model.empty())
      throw core::InputError({"mozart trace gen", "--model", 0}, "(none)",
                             "a zoo model or model file (or --token-experts)");
    const auto m = model::load_model(f.model);
    trace::GeneratorParams p;
    if (f.params.empty()) {
      p = study::family_law(m).params;
    } else {
      const auto json = nlohmann::json::parse(core::read_text_file(f.params), nullptr, false);
      if (json.is_discarded())
        throw core::InputError({f.params, "", 0}, "(unparseable)", "a JSON object");
      p = trace::params_from_json(json, f.params);
      warn_other_family(json, m, f.params);
    }
    if (f.seq_len > 0)
      p.sequence_length = f.seq_len;
    if (!f.domains.empty())
      p.domains = f.domains;
    if (f.skew >= 0)
      p.skew = f.skew;
    trace::check_params(p, model_shape(m), f.params.empty() ? "generator options" : f.params);
    t = trace::generate(model_shape(m), f.tokens, p, f.seed, m.name, generating.callback());
    if (f.params.empty())
      warn_of_family_law("trace gen", m);
  }
  {
    LoopProgress writing("trace gen: writing " + f.output);
    trace::write_trace(t, outputs.temp_for(f.output).path(), format, writing.callback());
  }
  outputs.commit();
  fmt::print("wrote {} tokens × {} layers (top-{} of {}) to {}\n", t.tokens, t.layers(), t.top_k(),
             t.num_experts(), f.output);
}

struct CalibrateFlags {
  std::string model;
  std::string counts;
  std::string counts_key = "olmoe";
  std::string domain = "arxiv";
  std::string token_experts;
  std::string trace_path;
  ReadFlags read;
  std::string output;
  std::string report;
  std::uint64_t seed = 1;
  std::size_t tokens = 16384;
};

// One source is fitted: a trace, or counts (expert counts, per-token counts or both); the
// options of a source not read would be ignored, so they are refused.
void check_sources(const CalibrateFlags& f) {
  if (!f.trace_path.empty())
    for (const auto& [option, value] :
         {std::pair{"--counts", f.counts}, {"--token-experts", f.token_experts}})
      if (!value.empty())
        throw core::InputError({"mozart trace calibrate", option, 0}, value,
                               fmt::format("no {} with --trace (a trace is fitted alone)", option));
  f.read.check_used(!f.trace_path.empty(), "mozart trace calibrate", "--trace");
}

trace::CalibrationTarget calibration_target(const CalibrateFlags& f, const TraceShape& shape) {
  if (!f.trace_path.empty())
    // Not checked against --model: a real trace may cover only some of its MoE layers.
    return trace::target_from_trace(trace::read_trace(f.trace_path, f.read.options()),
                                    f.trace_path);
  std::optional<trace::CalibrationTarget> token_target;
  if (!f.token_experts.empty())
    token_target = trace::target_from_token_experts(
        trace::read_token_expert_counts(f.token_experts), f.tokens * 4, f.seed);
  if (f.counts.empty()) {
    if (!token_target)
      throw core::InputError({"mozart trace calibrate", "input", 0}, "(none)",
                             "--trace, --counts or --token-experts");
    return *token_target;
  }
  auto target = trace::target_from_expert_counts(f.counts, f.counts_key, f.domain, shape.experts,
                                                 shape.top_k);
  if (token_target) {  // co-activation is only known from token-level data
    target.coactivation_lift = token_target->coactivation_lift;
    target.copies_contiguous16 = token_target->copies_contiguous16;
    target.label += " + token-experts";
  }
  return target;
}

std::string report_markdown(const trace::CalibrationTarget& real,
                            const trace::CalibrationTarget& generated,
                            const trace::Calibration& c) {
  const auto rs = trace::target_stats(real);
  const auto gs = trace::target_stats(generated);
  std::string out = fmt::format(
      "Real: {}. Generated: {} tokens from the calibrated generator (mean topic strength {:.3f}, "
      "fitted "
      "on {}: real {:.4f}, generated {:.4f}).\n\n",
      real.label,
      generated.counts.empty() ? 0
                               : std::accumulate(generated.counts[0].begin(),
                                                 generated.counts[0].end(), std::uint64_t{0}) /
                                     static_cast<std::uint64_t>(real.shape.top_k),
      c.params.topic_strength, c.fitted_on, c.target, c.achieved);
  out +=
      "| layer | max/mean | entropy | min/mean | top-10% share | co-act. lift | C_T (16 "
      "contiguous) | transitions → next |\n";
  out += "|---|---|---|---|---|---|---|---|\n";
  for (std::size_t l = 0; l < rs.size(); ++l) {
    const auto& r = rs[l];
    const auto& g = gs[l];
    out += fmt::format(
        "| {} | {:.2f} / {:.2f} | {:.3f} / {:.3f} | {:.3f} / {:.3f} | {:.3f} / {:.3f} | {} / {} | "
        "{} / {} | {} / {} |\n",
        r.layer_id, r.imbalance, g.imbalance, r.entropy, g.entropy, r.min_share, g.min_share,
        r.top_decile_share, g.top_decile_share, opt(r.coactivation_lift, "{:.4f}"),
        opt(g.coactivation_lift, "{:.4f}"), opt(r.copies_contiguous16, "{:.2f}"),
        opt(g.copies_contiguous16, "{:.2f}"), opt(r.transition_concentration),
        opt(g.transition_concentration));
  }
  out += "\nEach cell is real / generated.\n";
  return out;
}

// The report: the real statistics beside those of a fresh trace from the calibrated
// generator over the measured layers only.
std::string calibration_report(const CalibrateFlags& f, const TraceShape& shape,
                               const trace::CalibrationTarget& target,
                               const trace::Calibration& c) {
  auto params = c.params;
  params.popularity.clear();
  params.layer_strength.clear();
  for (const int id : target.shape.layer_ids) {
    const auto at = std::find(shape.layer_ids.begin(), shape.layer_ids.end(), id);
    if (at == shape.layer_ids.end())
      throw core::InputError({f.model, "layers", 0}, std::to_string(id),
                             "a model with the measured MoE layers");
    const auto index = static_cast<std::size_t>(at - shape.layer_ids.begin());
    params.popularity.push_back(c.params.popularity[index]);
    params.layer_strength.push_back(c.params.layer_strength[index]);
  }
  const auto generated = trace::target_from_trace(
      trace::generate(target.shape, f.tokens * 4, params, f.seed + 1000), "generated");
  return report_markdown(target, generated, c);
}

// The sampling noise of the target's statistics (half the difference of its two halves).
void print_noise(const trace::CalibrationTarget& target) {
  if (target.noise.empty()) {
    fmt::print("sampling noise: not known ({})\n", target.no_noise);
    return;
  }
  fmt::print("sampling noise (half the difference of the input's two halves):\n");
  fmt::print("{:>6} {:>9} {:>8} {:>10} {:>8} {:>8} {:>6}\n", "layer", "max/mean", "entropy",
             "coact-lift", "trans-c", "reuse", "C_T");
  for (const auto& n : target.noise)
    fmt::print("{:>6} {:>9.3f} {:>8.4f} {:>10} {:>8} {:>8} {:>6}\n", n.layer_id, n.imbalance,
               n.entropy, opt(n.coactivation_lift, "{:.4f}"), opt(n.transition_concentration),
               opt(n.consecutive_reuse, "{:.4f}"), opt(n.copies_contiguous16, "{:.3f}"));
}

void run_calibrate(const CalibrateFlags& f) {
  check_sources(f);
  core::OutputPlan outputs("mozart trace calibrate");
  for (const std::string* in : {&f.model, &f.counts, &f.token_experts, &f.trace_path})
    outputs.input(*in);
  outputs.output("-o", f.output, {".json"}).output("--report", f.report, {".md"}).check();
  const auto m = model::load_model(f.model);
  const auto shape = model_shape(m);
  core::Progress progress("trace calibrate: reading the target", f.report.empty() ? 2 : 3, false);
  const auto target = calibration_target(f, shape);
  progress.advance();
  progress.set_label("trace calibrate: fitting");
  trace::CalibrationOptions options;
  options.seed = f.seed;
  options.tokens_per_round = f.tokens;
  const auto c = trace::calibrate(target, shape, trace::GeneratorParams{}, options);
  ordered_json out = trace::to_json(c.params);
  out["calibration"] = {{"model", m.name},          {"target", target.label},
                        {"fitted_on", c.fitted_on}, {"target_value", c.target},
                        {"achieved", c.achieved},   {"seed", f.seed},
                        {"warnings", c.warnings}};
  if (c.reuse_target >= 0) {
    out["calibration"]["reuse_target"] = c.reuse_target;
    out["calibration"]["reuse_achieved"] = c.reuse_achieved;
  }
  out["calibration"]["sampling_noise"] = ordered_json::array();
  for (const auto& layer : target.noise)
    out["calibration"]["sampling_noise"].push_back(trace::to_json(layer));
  if (target.noise.empty())
    out["calibration"]["sampling_noise_unknown"] = target.no_noise;
  outputs.stage(f.output, out.dump(1) + "\n");
  progress.advance();
  if (!f.report.empty()) {
    progress.set_label("trace calibrate: the report's generated trace");
    outputs.stage(f.report, calibration_report(f, shape, target, c));
  }
  outputs.commit();
  progress.finish();
  fmt::print(
      "calibrated to {}: topic strength {:.3f} ({}: real {:.4f}, generated {:.4f}); "
      "parameters written to {}\n",
      target.label, c.params.topic_strength, c.fitted_on, c.target, c.achieved, f.output);
  if (c.reuse_target >= 0)
    fmt::print("stickiness {:.3f}: consecutive reuse real {:.4f}, generated {:.4f}\n",
               c.params.stickiness, c.reuse_target, c.reuse_achieved);
  print_noise(target);
  if (!f.report.empty())
    fmt::print("report written to {}\n", f.report);
  for (const auto& warning : c.warnings)
    fmt::print(stderr, "mozart: warning: trace calibrate: {}\n", warning);
}

struct CutFlags {
  std::string input;
  std::vector<std::string> outputs;
  ReadFlags read;
  std::string format;  // of the outputs; must agree with their extensions
  trace::SplitAt at;
  std::vector<int> layers;
  std::string tokens;  // FIRST:LAST
};

// Reads FIRST:LAST (either may be empty: the start, the end) against a trace of `tokens`.
std::pair<std::size_t, std::size_t> token_range(const std::string& text, std::size_t tokens) {
  const auto colon = text.find(':');
  const auto number = [&](const std::string& part, std::size_t fallback) -> std::size_t {
    if (part.empty())
      return fallback;
    if (part.find_first_not_of("0123456789") != std::string::npos || part.size() > 15)
      throw core::InputError({"mozart trace slice", "--tokens", 0}, text,
                             "FIRST:LAST, token indices (either may be left out)");
    return std::stoull(part);
  };
  if (colon == std::string::npos)
    throw core::InputError({"mozart trace slice", "--tokens", 0}, text,
                           "FIRST:LAST, token indices (either may be left out)");
  return {number(text.substr(0, colon), 0), number(text.substr(colon + 1), tokens)};
}

// Writes `parts` to their paths, all or none.
void write_parts(core::OutputPlan& plan, const CutFlags& f, const std::vector<Trace>& parts) {
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto format = output_format(f.outputs[i], "--to", f.format);
    trace::write_trace(parts[i], plan.temp_for(f.outputs[i]).path(), format);
  }
  plan.commit();
  for (std::size_t i = 0; i < parts.size(); ++i)
    fmt::print("wrote {} ({} tokens in {} sequences × {} layers)\n", f.outputs[i], parts[i].tokens,
               trace::count_sequences(parts[i]), parts[i].layers());
}

void run_split(const CutFlags& f) {
  core::OutputPlan plan("mozart trace split");
  plan.input(f.input).input(f.read.model);
  plan.output("first", f.outputs[0], {}).output("second", f.outputs[1], {}).check();
  const Trace t = f.read.read(f.input);
  const std::size_t cut = trace::split_point(t, f.at, "mozart trace split");
  write_parts(plan, f,
              {trace::slice(t, 0, cut, {}, f.input), trace::slice(t, cut, t.tokens, {}, f.input)});
}

void run_slice(const CutFlags& f) {
  core::OutputPlan plan("mozart trace slice");
  plan.input(f.input).input(f.read.model).output("output", f.outputs[0], {}).check();
  const Trace t = f.read.read(f.input);
  const auto [first, last] = f.tokens.empty() ? std::pair<std::size_t, std::size_t>{0, t.tokens}
                                              : token_range(f.tokens, t.tokens);
  write_parts(plan, f, {trace::slice(t, first, last, f.layers, "mozart trace slice")});
}

}  // namespace

void add_trace_commands(CLI::App& app) {
  CLI::App* cmd = app.add_subcommand(
      "trace", "Routing traces: info, stats, convert, split, slice, gen, calibrate");
  cmd->require_subcommand(1);

  auto* info = cmd->add_subcommand("info", "Dimensions and metadata of a trace");
  auto info_path = std::make_shared<std::string>();
  auto info_flags = std::make_shared<ReadFlags>();
  auto info_json = std::make_shared<bool>(false);
  info->add_option("trace", *info_path, "Trace file")->required();
  info_flags->add_to(info);
  info->add_flag("--json", *info_json, "Print JSON");
  info->callback([=] { run_info(*info_path, *info_flags, *info_json); });

  auto* stats = cmd->add_subcommand("stats",
                                    "Activation priors: frequency, co-activation, "
                                    "transitions, imbalance, entropy, drift, C_T");
  auto s = std::make_shared<StatsFlags>();
  stats->add_option("trace", s->path, "Trace file")->required();
  s->read.add_to(stats);
  stats
      ->add_option("--window", s->window,
                   "Tokens per drift window (0: no drift; default: a 16th of the trace, at least "
                   "256)")
      ->check(whole(0, kMaxTraceTokens));
  stats
      ->add_option("--groups", s->groups,
                   "Contiguous expert groups for C_T (default 16, or the experts when fewer)")
      ->check(whole(1, core::kMaxRoutedExperts));
  stats->add_flag("--json", s->json, "Print JSON");
  stats->add_flag("--full", s->full, "With --json: include V, C, transitions and drift");
  stats->add_option("-o,--output", s->output, "Write the full priors as JSON here (.json)");
  stats->callback([s] { run_stats(*s); });

  auto* convert = cmd->add_subcommand("convert", "Convert between native, JSONL, NPY and CSV");
  auto in = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  auto convert_flags = std::make_shared<ReadFlags>();
  convert->add_option("input", *in, "Trace to read")->required();
  convert->add_option("output", *out, "Trace to write")->required();
  convert_flags->add_to(convert);
  convert->add_option("--to", *to, "Output format; must agree with the output's extension");
  convert->callback([=] {
    core::OutputPlan outputs("mozart trace convert");
    outputs.input(*in).input(convert_flags->model).output("output", *out, {}).check();
    const trace::Format format = output_format(*out, "--to", *to);
    const Trace t = [&] {
      LoopProgress reading("trace convert: reading " + *in);
      return convert_flags->read(*in, reading.callback());
    }();
    {
      LoopProgress writing("trace convert: writing " + *out);
      trace::write_trace(t, outputs.temp_for(*out).path(), format, writing.callback());
    }
    outputs.commit();
    fmt::print("wrote {} ({} tokens × {} layers)\n", *out, t.tokens, t.layers());
  });

  auto* split = cmd->add_subcommand(
      "split", "Cut a trace in two (e.g. for held-out evaluation): the tokens before and after");
  auto sp = std::make_shared<CutFlags>();
  sp->outputs.resize(2);
  split->add_option("input", sp->input, "Trace to split")->required();
  split->add_option("first", sp->outputs[0], "Trace of the tokens before the cut")->required();
  split->add_option("second", sp->outputs[1], "Trace of the tokens from the cut on")->required();
  sp->read.add_to(split);
  split->add_option("--to", sp->format, "Output format; must agree with the extensions");
  auto* by = split->add_option_group("cut", "Where to cut")->require_option(1);
  by->add_option("--tokens", sp->at.tokens, "After this many tokens")
      ->check(whole(1, kMaxTraceTokens));
  by->add_option("--sequences", sp->at.sequences, "After this many sequences")
      ->check(whole(1, kMaxTraceTokens));
  by->add_option("--fraction", sp->at.fraction,
                 "After this share of the tokens, at the nearest sequence boundary, in (0, 1)");
  split->callback([sp] { run_split(*sp); });

  auto* sl = cmd->add_subcommand("slice", "Keep some layers and a range of tokens");
  auto sc = std::make_shared<CutFlags>();
  sc->outputs.resize(1);
  sl->add_option("input", sc->input, "Trace to slice")->required();
  sl->add_option("output", sc->outputs[0], "Trace to write")->required();
  sc->read.add_to(sl);
  sl->add_option("--to", sc->format, "Output format; must agree with the extension");
  sl->add_option("--layers", sc->layers, "MoE layer ids to keep (default: all)")->delimiter(',');
  sl->add_option("--tokens", sc->tokens, "FIRST:LAST, the tokens to keep (LAST excluded)");
  sl->callback([sc] { run_slice(*sc); });

  auto* gen = cmd->add_subcommand("gen", "Generate a synthetic trace for a zoo model");
  auto g = std::make_shared<GenFlags>();
  gen->add_option("--model", g->model, "Zoo model or model file");
  gen->add_option("--tokens", g->tokens, "Tokens to generate")
      ->check(whole(1, std::uint64_t{1} << 32));
  gen->add_option("--seed", g->seed, "Random seed")->check(whole(0));
  gen->add_option("-o,--output", g->output, "Trace file to write (.mzt, .jsonl, .npy, .csv)")
      ->required();
  gen->add_option("--format", g->format, "Output format; must agree with the extension");
  gen->add_option("--params", g->params, "Generator parameters (JSON, e.g. from trace calibrate)");
  gen->add_option("--token-experts", g->token_experts,
                  "Draw from measured per-token expert counts instead "
                  "(data/routing-counts/token-experts/); --model, if given, must match them");
  gen->add_option("--like", g->like,
                  "A real trace whose law to follow: its experts' popularity, which fire "
                  "together, its consecutive-token reuse; --model, if given, must fit it and "
                  "names the layers");
  gen->add_option("--topics", g->topics, "With --like: topics per layer (default 32)")
      ->check(whole(1, 1024));
  gen->add_option("--seq-len", g->seq_len, "Tokens per sequence")->check(whole(1, 1 << 24));
  gen->add_option("--domains", g->domains, "Domain names (sequences draw one each)")
      ->delimiter(',')
      ->check(name_text());
  gen->add_option("--skew", g->skew, "Log-normal popularity spread")->check(finite(0.0, 10.0));
  g->read.add_to(gen, false, false);  // --model and --format are gen's own
  gen->callback([g] { run_gen(*g); });

  auto* cal = cmd->add_subcommand("calibrate", "Fit the generator to real routing");
  auto c = std::make_shared<CalibrateFlags>();
  cal->add_option("--model", c->model, "Zoo model the generator is for")->required();
  auto* counts = cal->add_option(
      "--counts", c->counts,
      "Expert-counts JSON (data/routing-counts/olmoe-mixtral-expert-counts.json); may be "
      "combined with --token-experts, not with --trace");
  cal->add_option("--key", c->counts_key,
                  "With --counts: model key in the counts file: olmoe, mistral, olmoe-sft, "
                  "olmoe-dpo")
      ->needs(counts);
  cal->add_option("--domain", c->domain,
                  "With --counts: domain in the counts file: arxiv, book, c4, github, wikipedia, "
                  "tulu")
      ->needs(counts);
  cal->add_option("--token-experts", c->token_experts,
                  "Per-token expert counts (co-activation); not with --trace");
  cal->add_option("--trace", c->trace_path,
                  "A real trace to fit instead, alone (the trace-reading options apply to it)");
  c->read.add_to(cal, false);
  cal->add_option("-o,--output", c->output, "Generator parameters to write (.json)")->required();
  cal->add_option("--report", c->report,
                  "Markdown report of real beside generated statistics (.md)");
  cal->add_option("--seed", c->seed, "Random seed")->check(whole(0, kMaxU64 - 1000));
  cal->add_option("--tokens", c->tokens, "Tokens per fitting round")
      ->check(whole(256, std::uint64_t{1} << 24));
  cal->callback([c] {
    c->read.model = c->model;
    run_calibrate(*c);
  });
}

}  // namespace mozart::cli
