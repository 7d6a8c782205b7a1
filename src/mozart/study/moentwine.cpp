#include "mozart/study/moentwine.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mozart/hw/zoo.hpp"
#include "mozart/mapping/mapping.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/placement/placers.hpp"
#include "mozart/study/balanced_serving.hpp"
#include "mozart/study/serving.hpp"
#include "mozart/study/setup.hpp"

namespace mozart::study {
namespace {

using workload::Stage;

// Tokens that place the experts: another sample of the law, as earlier serving would give.
constexpr std::size_t kPriorTokens = 4096;

// The model's first `n` MoE layers alone: each has the model's shape, so per-layer times are
// the whole model's.
model::MoeModel first_moe_layers(model::MoeModel m, int n) {
  const std::vector<int> moe = m.moe_layers();
  n = std::min<int>(n, int(moe.size()));
  std::vector<model::LayerKind> layout;
  for (int i = 0; i < n && m.is_hybrid(); ++i)
    layout.push_back(m.layout[std::size_t(moe[std::size_t(i)])]);
  m.layout = layout;
  m.layers = n;
  m.dense_layers.clear();
  return m;
}

double stage(const workload::IterationResult& it, Stage s) {
  return it.stage_s[std::size_t(s)];
}
double a2a(const workload::IterationResult& it) {
  return stage(it, Stage::dispatch) + stage(it, Stage::combine);
}

struct System {
  std::string hardware;
  std::string mapping;
  int tp = 0;
};

// The study's serving setting on a mapping's devices.
workload::ServeConfig serve_config(const MoentwineOptions& o, const mapping::Mapping& map,
                                   int iterations) {
  workload::ServeConfig config;
  config.batch = o.batch_per_device * map.devices;
  config.context = o.context;
  config.iterations = iterations;
  config.shadow_slots = o.shadow_slots;
  return config;
}

// One model served on one system: the inputs kept alive together.
struct Setup {
  model::MoeModel model;
  hw::HwSpec hw;
  net::Network network;
  mapping::Mapping mapping;
  workload::ServeConfig config;
  trace::Trace trace;
  placement::Placement placement;

  Setup(const model::MoeModel& m, const System& s, const MoentwineOptions& o, int iterations,
        const std::string& placer)
      : model(m),
        hw(hw::load_hw(s.hardware)),
        network(hw),
        mapping(mapping::make_mapping(network, s.mapping, s.tp, "mozart reproduce moentwine")),
        config(serve_config(o, mapping, iterations)) {
    config.moe_only = true;
    trace = serving_trace(model, config, mapping.group_count(), o.seed);
    const auto priors = generated_trace(model, kPriorTokens, 256, o.seed + 1);
    if (placer == "joint")
      placement = joint_placement(priors, o.seed);
    else
      placement = place_experts(model, hw, priors, placer, o.seed);
  }

  // C_T and load together: the placement module's CBC placer (mozart), then swaps that lower
  // C_T + λ · (chiplet max/mean load − 1).
  placement::Placement joint_placement(const trace::Trace& priors, std::uint64_t seed) const {
    placement::PlacerOptions options;
    options.seed = seed;
    options.refine = true;
    options.lambda = 1.0;
    auto p = placement::place(priors, placement::layout_from_hw(hw, model.routed_experts), "mozart",
                              options);
    p.model = model.name;
    return p;
  }

  workload::ServeInputs inputs() const {
    return {model, network, mapping, placement, trace, "generated trace"};
  }
};

MoentwineRow row_of(const std::string& section, const Setup& s, const std::string& setting,
                    const std::vector<workload::IterationResult>& its) {
  MoentwineRow r;
  r.section = section;
  r.model = s.model.name;
  r.hardware = s.hw.name;
  r.setting = setting;
  r.devices = s.mapping.devices;
  for (const auto& it : its) {
    const double n = double(its.size());
    r.a2a_s += a2a(it) / n;
    r.compute_s += stage(it, Stage::experts) / n;
    r.peak_load += (it.mean_device_load > 0 ? it.peak_device_load / it.mean_device_load : 0) / n;
  }
  const double layers = s.model.moe_layer_count();
  r.a2a_s /= layers;
  r.compute_s /= layers;
  r.moe_s = r.a2a_s + r.compute_s;
  r.tokens_per_s_per_device = r.moe_s > 0 ? s.config.batch / r.moe_s / r.devices : 0;
  return r;
}

std::vector<workload::IterationResult> serve_plain(const Setup& s) {
  std::vector<workload::IterationResult> out;
  const workload::ServeInputs in = s.inputs();
  workload::check_serving_inputs(in, s.config);
  for (int i = 0; i < s.config.iterations; ++i)
    out.push_back(workload::run_iteration(in, s.config, i).result);
  return out;
}

void mapping_rows(const model::MoeModel& m, const MoentwineOptions& o, MoentwineResult& out) {
  for (const System& sys :
       {System{o.wsc, "baseline", o.tp}, System{o.wsc, "er", o.tp}, System{o.wsc, "her", o.tp},
        System{o.wafer, "baseline", o.wafer_tp}, System{o.wafer, "er", o.wafer_tp}}) {
    const Setup s(m, sys, o, o.mapping_iterations, "contiguous");
    out.rows.push_back(row_of("mapping", s, sys.mapping, serve_plain(s)));
  }
}

std::string stage_name(Stage s) {
  return std::string(workload::to_string(s));
}

// How far popularity moves over the run: of the first window's 10 hottest experts (first MoE
// layer), how many are among the last window's 10 hottest, and the share of the routed load they
// carry at the start and at the end.
std::string drift_note(const Setup& s) {
  const int window = std::min(10, s.config.iterations);
  const auto sum = [&](int from) {
    std::vector<double> load(std::size_t(s.model.routed_experts), 0.0);
    for (int i = from; i < from + window; ++i) {
      const auto l = routed_loads(s.inputs(), s.config, i);
      for (std::size_t e = 0; e < load.size(); ++e)
        load[e] += l[0][e];
    }
    return load;
  };
  const auto first = sum(0), last = sum(s.config.iterations - window);
  const auto top = [](const std::vector<double>& load) {
    std::vector<int> order(load.size());
    for (std::size_t e = 0; e < order.size(); ++e)
      order[e] = int(e);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return load[std::size_t(a)] > load[std::size_t(b)]; });
    order.resize(std::min<std::size_t>(10, order.size()));
    return order;
  };
  const auto a = top(first), b = top(last);
  int kept = 0;
  double share_first = 0, share_last = 0, total_first = 0, total_last = 0;
  for (int e : a) {
    kept += std::find(b.begin(), b.end(), e) != b.end() ? 1 : 0;
    share_first += first[std::size_t(e)];
    share_last += last[std::size_t(e)];
  }
  for (std::size_t e = 0; e < first.size(); ++e) {
    total_first += first[e];
    total_last += last[e];
  }
  return fmt::format(
      "{}: drift over {} iterations: {} of the first {} iterations' 10 hottest experts are among "
      "the last {}'s 10 hottest; they carry {:.0f}% of the routed load at the start, {:.0f}% at "
      "the end",
      s.model.name, s.config.iterations, kept, window, window, 100 * share_first / total_first,
      100 * share_last / total_last);
}

void balance_rows(const model::MoeModel& m, const MoentwineOptions& o, MoentwineResult& out) {
  const Setup s(m, {o.wsc, "er", o.tp}, o, o.iterations, "contiguous");
  const Rides rides = derive_rides(s.inputs(), s.config);
  std::string loads;
  for (std::size_t k = 0; k < workload::kStages; ++k)
    loads += fmt::format("{}{} {:.1f}% / {:.1f}%", k ? ", " : "", stage_name(Stage(k)),
                         100 * rides.local_load[k], 100 * rides.global_load[k]);
  out.notes.push_back(fmt::format(
      "{}: link utilisation inside / between FTDs by phase: {}; local steps ride {}, global "
      "steps ride {}",
      m.name, loads, stage_name(rides.local), stage_name(rides.global)));
  out.notes.push_back(drift_note(s));
  for (const std::string& name : balance::balancer_names()) {
    const BalancedRun run =
        serve_balanced(s.inputs(), s.config, name, o.balancer, rides, "mozart reproduce moentwine");
    std::vector<workload::IterationResult> its;
    for (const BalancedIteration& it : run.iterations)
      its.push_back(it.result);
    MoentwineRow r = row_of("balance", s, name, its);
    r.stall_s = run.stall_s;
    r.copies = run.copies;
    r.copied_bytes = run.copied_bytes;
    r.late_copies = run.late;
    // Stalls stop every layer: spread over the layers the iterations served.
    r.moe_s += run.stall_s / (double(its.size()) * s.model.moe_layer_count());
    out.rows.push_back(r);
  }
  const Setup joint(m, {o.wsc, "er", o.tp}, o, o.iterations, "joint");
  out.rows.push_back(row_of("balance", joint, "joint placement", serve_plain(joint)));
}

void system_rows(const model::MoeModel& m, const MoentwineOptions& o, MoentwineResult& out) {
  for (const System& sys :
       {System{o.wsc, "er", o.tp}, System{o.nvl72, "baseline", 4}, System{o.dgx, "baseline", 8}}) {
    const Setup s(m, sys, o, o.mapping_iterations, "contiguous");
    out.rows.push_back(row_of("systems", s, sys.hardware, serve_plain(s)));
  }
}

const MoentwineRow* find(const MoentwineResult& r, const std::string& section,
                         const std::string& model, const std::string& setting,
                         const std::string& hardware = {}) {
  for (const MoentwineRow& row : r.rows)
    if (row.section == section && row.model == model && row.setting == setting &&
        (hardware.empty() || row.hardware == hardware))
      return &row;
  return nullptr;
}

std::string pct(double ours, double base) {
  return base > 0 ? fmt::format("{:+.0f}%", 100 * (ours / base - 1)) : "-";
}

// The study simulates the first MoE layers of a deployment of the whole model on each system:
// one that cannot be served (weights, shadow slots and KV caches over a device's memory, at the
// most iterations a section runs there) is refused before any work, as `serve` refuses it. The
// baseline, ER and HER mappings of a mesh give each device the same share.
void check_deployments(const MoentwineOptions& o) {
  const int most = std::max(o.iterations, o.mapping_iterations);
  for (const std::string& name : o.models) {
    const model::MoeModel m = model::load_model(name);
    const trace::Trace priors = generated_trace(m, 256, 256, o.seed + 1);
    for (const auto& [sys, iterations] :
         {std::pair{System{o.wsc, "er", o.tp}, most},
          std::pair{System{o.wafer, "er", o.wafer_tp}, o.mapping_iterations},
          std::pair{System{o.nvl72, "baseline", 4}, o.mapping_iterations},
          std::pair{System{o.dgx, "baseline", 8}, o.mapping_iterations}}) {
      const hw::HwSpec hw = hw::load_hw(sys.hardware);
      const net::Network network(hw);
      const mapping::Mapping map =
          mapping::make_mapping(network, sys.mapping, sys.tp, "mozart reproduce moentwine");
      const placement::Placement p = place_experts(m, hw, priors, "contiguous", o.seed);
      workload::check_serving_memory({m, network, map, p, priors},
                                     serve_config(o, map, iterations));
    }
  }
}

}  // namespace

MoentwineOptions quick_moentwine(MoentwineOptions o) {
  o.iterations = 40;
  o.mapping_iterations = 1;
  return o;
}

MoentwineResult run_moentwine_study(const MoentwineOptions& o) {
  check_deployments(o);
  MoentwineResult out;
  out.options = o;
  for (const std::string& name : o.models) {
    const model::MoeModel m = first_moe_layers(model::load_model(name), o.moe_layers);
    mapping_rows(m, o, out);
    balance_rows(m, o, out);
    system_rows(m, o, out);
  }
  return out;
}

std::string to_markdown(const MoentwineResult& r) {
  const MoentwineOptions& o = r.options;
  std::string md = fmt::format(
      "Decode, {} sequences per device, context {}, {} MoE layer(s) per iteration; times per MoE "
      "layer.\n\n### All-to-all by mapping ({} with TP {}, {} with TP {}; {} iteration(s))\n\n"
      "| model | hardware | mapping | all-to-all (us) | vs baseline | paper |\n"
      "|---|---|---|---|---|---|\n",
      o.batch_per_device, o.context, o.moe_layers, o.wsc, o.tp, o.wafer, o.wafer_tp,
      o.mapping_iterations);
  for (const MoentwineRow& row : r.rows) {
    if (row.section != "mapping")
      continue;
    const MoentwineRow* base = find(r, "mapping", row.model, "baseline", row.hardware);
    md += fmt::format("| {} | {} | {} | {:.1f} | {} | {} |\n", row.model, row.hardware, row.setting,
                      1e6 * row.a2a_s, pct(row.a2a_s, base->a2a_s),
                      row.setting == "er" ? "up to -62%" : "");
  }
  md += fmt::format(
      "\n### Balancers ({}, ER, {} iterations, {} shadow slot(s) per device, window {}, eplb "
      "every {}, alpha {})\n\n"
      "| model | balancer | MoE compute (us) | vs none | MoE comm (us) | vs none | MoE incl. "
      "stalls "
      "(us) | peak/mean load | copies | stalls (ms) | late copies |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n",
      o.wsc, o.iterations, o.shadow_slots, o.balancer.window, o.balancer.period, o.balancer.alpha);
  for (const MoentwineRow& row : r.rows) {
    if (row.section != "balance")
      continue;
    const MoentwineRow* none = find(r, "balance", row.model, "none");
    md += fmt::format(
        "| {} | {} | {:.1f} | {} | {:.1f} | {} | {:.1f} | {:.2f} | {} | {:.2f} | {} |\n", row.model,
        row.setting, 1e6 * row.compute_s, pct(none->compute_s, row.compute_s), 1e6 * row.a2a_s,
        pct(none->a2a_s, row.a2a_s), 1e6 * row.moe_s, row.peak_load, row.copies, 1e3 * row.stall_s,
        row.late_copies);
  }
  md +=
      "\n\"vs none\": speed-up of the phase (none's time over this one's, minus 1); paper: "
      "NI-Balancer +54% MoE compute, +22% MoE communication.\n";
  md += fmt::format(
      "\n### Per-device MoE throughput ({} iteration(s))\n\n"
      "| model | system | devices | MoE per layer (us) | tokens/s per device | WSC vs this | "
      "paper |\n|---|---|---|---|---|---|---|\n",
      o.mapping_iterations);
  for (const MoentwineRow& row : r.rows) {
    if (row.section != "systems")
      continue;
    const MoentwineRow* wsc = find(r, "systems", row.model, o.wsc);
    md += fmt::format("| {} | {} | {} | {:.1f} | {:.0f} | {} | {} |\n", row.model, row.setting,
                      row.devices, 1e6 * row.moe_s, row.tokens_per_s_per_device,
                      pct(wsc->tokens_per_s_per_device, row.tokens_per_s_per_device),
                      row.setting == o.nvl72 ? "+39% (mean)" : "");
  }
  if (!r.notes.empty()) {
    md +=
        "\nDrift, and which phase each NI-Balancer step rides (from the simulated link loads):\n\n";
    for (const std::string& n : r.notes)
      md += "- " + n + "\n";
  }
  return md;
}

nlohmann::ordered_json to_json(const MoentwineResult& r) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const MoentwineRow& row : r.rows)
    rows.push_back({{"section", row.section},
                    {"model", row.model},
                    {"hardware", row.hardware},
                    {"setting", row.setting},
                    {"devices", row.devices},
                    {"a2a_s", row.a2a_s},
                    {"compute_s", row.compute_s},
                    {"moe_s", row.moe_s},
                    {"peak_over_mean_load", row.peak_load},
                    {"stall_s", row.stall_s},
                    {"copies", row.copies},
                    {"copied_bytes", row.copied_bytes},
                    {"late_copies", row.late_copies},
                    {"tokens_per_s_per_device", row.tokens_per_s_per_device}});
  const MoentwineOptions& o = r.options;
  return {{"models", o.models},
          {"wsc", o.wsc},
          {"wafer", o.wafer},
          {"wafer_tp", o.wafer_tp},
          {"nvl72", o.nvl72},
          {"dgx", o.dgx},
          {"tp", o.tp},
          {"batch_per_device", o.batch_per_device},
          {"context", o.context},
          {"moe_layers", o.moe_layers},
          {"iterations", o.iterations},
          {"shadow_slots", o.shadow_slots},
          {"window", o.balancer.window},
          {"period", o.balancer.period},
          {"alpha", o.balancer.alpha},
          {"seed", o.seed},
          {"rows", rows},
          {"notes", r.notes}};
}

}  // namespace mozart::study
