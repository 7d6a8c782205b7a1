#include "mozart/study/mozart_study.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/units.hpp"
#include "mozart/hw/paper.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/net/network.hpp"
#include "mozart/study/setup.hpp"

namespace mozart::study {
namespace {

using workload::Policy;
using workload::StepResult;

// The paper's figures as reported (docs/results.md): speed-ups of A, B, C over the baseline and
// C_T under baseline, A, B, C.
struct PaperFigures {
  std::array<double, 3> speedup;
  std::array<double, 4> copies;
};

std::optional<PaperFigures> paper_figures(const std::string& model) {
  if (model == "qwen3-30b-a3b")
    return PaperFigures{{1.33, 1.69, 1.92}, {8, 8, 6.58, 5.77}};
  if (model == "olmoe-1b-7b")
    return PaperFigures{{1.58, 2.05, 2.37}, {8, 8, 6.84, 5.63}};
  if (model == "deepseek-moe-16b")
    return PaperFigures{{1.49, 1.89, 2.17}, {6, 6, 5.56, 4.32}};
  return std::nullopt;
}

// A step's batch: sequences per step and their length; and whether the step updates the
// weights (Adam, per layer) or leaves the update out.
struct Batch {
  int sequences = 0;
  int seq_len = 0;
  bool optimizer = true;
  auto operator<=>(const Batch&) const = default;
};

struct Hardware {
  std::string key;  // names the variant: runs repeat across sections and are done once
  hw::HwSpec spec;
};

// Whether two layouts look the same to a placer: the same but for the hardware's name and the
// memory per chiplet, which placers do not read (placement::check_expert_memory does).
bool same_to_placers(const placement::DeviceLayout& a, const placement::DeviceLayout& b) {
  return a.chiplets == b.chiplets && a.group == b.group && a.group_names == b.group_names &&
         a.slots == b.slots && a.hops == b.hops;
}

// One model's traces and placements, shared by every run of that model.
class ModelRuns {
 public:
  ModelRuns(const StudyOptions& options, const model::MoeModel& m) : options_(options), model_(m) {}

  // Hardware of a run's topology that the run's plan also runs on: scaled link or memory
  // bandwidths, another memory kind. The same as building the step on each, built once: the
  // builder's decisions (routes, memory and SRAM planning) depend on the topology and on
  // capacities in bytes, and the study lets weights overflow their stacks, so a stack's
  // capacity decides nothing either (it only sets `memory_fits`).
  using Variants = std::vector<Hardware>;

  // The step of `policy` on `hw` (with its losses when `resimulate`), and its plan run on each
  // of `variants`, kept for variant().
  const StepResult& run(const Hardware& hw, const Policy& policy, Batch batch,
                        bool resimulate = false, const Variants& variants = {}) {
    const auto key = std::tuple{hw.key, workload::describe(policy), batch};
    auto& done = results_[key];
    auto& on_variants = variants_[key];
    const bool variants_done = std::all_of(variants.begin(), variants.end(), [&](const auto& v) {
      return on_variants.count(v.key) > 0;
    });
    if (done && (!resimulate || done->lost.measured) && variants_done)
      return *done;
    const Setup setup = setup_for(hw, policy, batch);
    const workload::StepPlan plan =
        workload::build_training_step(setup.inputs, policy, setup.config);
    const sim::Dependents dependents = plan.graph.dependents();
    workload::StepOptions options;
    options.dependents = &dependents;
    options.resimulate = resimulate;
    done = workload::measure_training_step(setup.inputs, policy, setup.config, plan,
                                           plan.platform.capacities, options);
    for (const Hardware& v : variants)
      on_variants.insert_or_assign(v.key, on_variant(setup, policy, plan, dependents, v.spec));
    return *done;
  }

  // What run() measured on its variant `variant_key`.
  const StepResult& variant(const Hardware& hw, const Policy& policy, Batch batch,
                            const std::string& variant_key) {
    return variants_.at({hw.key, workload::describe(policy), batch}).at(variant_key);
  }

 private:
  // What a step of `policy` on `hw` takes: the network, the traces, the placement, the batch.
  struct Setup {
    workload::StepInputs inputs;
    workload::StepConfig config;
  };

  StepResult on_variant(const Setup& setup, const Policy& policy, const workload::StepPlan& plan,
                        const sim::Dependents& dependents, const hw::HwSpec& spec) const {
    workload::StepOptions options;
    options.dependents = &dependents;
    // Energies, leakage (more wires, more PHY area) and capacities come from the variant.
    const net::Network variant(spec);
    const workload::StepInputs& base = setup.inputs;
    workload::StepInputs inputs{base.model, variant,           base.placement,
                                base.trace, base.trace_source, base.placement_source};
    inputs.priors = base.priors;
    inputs.priors_source = base.priors_source;
    // The variant's channels are the plan's, in the same order, at the variant's bandwidths.
    return workload::measure_training_step(inputs, policy, setup.config, plan,
                                           sim::make_platform(variant).capacities, options);
  }

  Setup setup_for(const Hardware& hw, const Policy& policy, Batch batch) {
    const auto& step = trace_for(batch, options_.seed);
    const auto& priors = trace_for(batch, options_.seed + 1);
    const auto& placement = placement_for(hw.spec, policy.placer, priors, batch);
    workload::StepInputs inputs{model_, network_for(hw),   placement,
                                step,   "generated trace", policy.placer + " placement"};
    // Schedules of one placement share its dispatch and combine plans.
    inputs.exchange_plans = &exchange_plans_;
    inputs.priors = &priors;  // streaming goes by the placer's priors, not the step's routing
    inputs.priors_source = "priors trace (another seed)";
    workload::StepConfig config;
    config.micro_batches = options_.micro_batches;
    config.micro_batch.sequences = batch.sequences / options_.micro_batches;
    config.micro_batch.seq_len = batch.seq_len;
    config.optimizer = batch.optimizer;
    // The paper's six 8 GiB stacks cannot hold Qwen3-30B-A3B's weights and it does not say how
    // they fit; the step is simulated as if they did and the table says `fits: no`.
    config.weights_may_overflow = true;
    return {std::move(inputs), config};
  }

  // One network per hardware, for every step on it: the exchange plans are kept by network.
  const net::Network& network_for(const Hardware& hw) {
    auto& n = networks_[hw.key];
    if (!n)
      n = std::make_unique<net::Network>(hw.spec);
    return *n;
  }

  // Traces and placements depend on the tokens only, not on the update.
  const trace::Trace& trace_for(Batch batch, std::uint64_t seed) {
    batch.optimizer = true;
    auto& t = traces_[{batch, seed}];
    if (!t)
      t = generated_trace(model_, std::size_t(batch.sequences) * std::size_t(batch.seq_len),
                          batch.seq_len, seed, false);
    return *t;
  }

  const placement::Placement& placement_for(const hw::HwSpec& hw, const std::string& placer,
                                            const trace::Trace& priors, Batch batch) {
    batch.optimizer = true;
    auto& p = placements_[{hw.name, placer, batch}];
    if (p)
      return *p;
    // A placer sees the hardware only through its layout: hardware whose layout looks the same
    // to it gets the same placement (made once), laid out on its own layout.
    placement::DeviceLayout layout = placement::layout_from_hw(hw, model_.routed_experts);
    for (const auto& [key, other] : placements_) {
      if (other && std::get<1>(key) == placer && std::get<2>(key) == batch &&
          same_to_placers(other->layout, layout)) {
        p = *other;
        p->layout = std::move(layout);
        return *p;
      }
    }
    // The priors' co-activation, counted once for every placement made from them.
    auto& inputs = priors_inputs_[&priors];
    if (!inputs)
      inputs = placement::layer_inputs(priors);
    p = place_experts(model_, hw, priors, *inputs, placer, options_.seed);
    return *p;
  }

  const StudyOptions& options_;
  const model::MoeModel& model_;
  std::map<std::pair<Batch, std::uint64_t>, std::optional<trace::Trace>> traces_;
  std::map<std::tuple<std::string, std::string, Batch>, std::optional<placement::Placement>>
      placements_;
  std::map<const trace::Trace*, std::optional<std::vector<placement::LayerInput>>> priors_inputs_;
  std::map<std::string, std::unique_ptr<net::Network>> networks_;
  // Declared after (so destroyed before) the objects its plans were made from.
  workload::ExchangePlans exchange_plans_;
  std::map<std::tuple<std::string, std::string, Batch>, std::optional<StepResult>> results_;
  std::map<std::tuple<std::string, std::string, Batch>, std::map<std::string, StepResult>>
      variants_;
};

StudyRow row_of(const std::string& section, const std::string& setting, const std::string& hw,
                const StepResult& r, double baseline_s) {
  StudyRow row;
  row.section = section;
  row.hardware = hw;
  row.model = r.model;
  row.setting = setting;
  row.policy = r.policy.name;
  row.step_s = r.step_s;
  row.speedup = r.step_s > 0 ? baseline_s / r.step_s : 0;
  row.copies_per_token = r.copies_per_token;
  row.communication_without_compute_s = r.breakdown.communication_without_compute_s;
  row.memory_without_compute_s = r.breakdown.memory_without_compute_s;
  if (r.lost.measured) {
    row.lost_communication_s = r.lost.communication.lost_s;
    row.lost_memory_s = r.lost.memory.lost_s;
    row.lost_compute_s = r.lost.compute.lost_s;
  }
  row.overlap_ratio = r.breakdown.overlap_ratio;
  row.bound_ratio = r.lower_bound.bound_s > 0 ? r.step_s / r.lower_bound.bound_s : 0;
  row.binding = r.lower_bound.binding;
  row.s_mfu = r.s_mfu;
  row.s_mbu = r.s_mbu;
  row.energy_j = r.energy.total_j();
  row.memory_fits = r.memory_fits;
  return row;
}

// Runs the policies in order, the first being the baseline the others are measured against.
struct Section {
  std::string name;
  std::string setting;
  bool resimulate = false;
};

using VariantsOf = std::function<ModelRuns::Variants(const Policy&)>;

void run_policies(ModelRuns& runs, const Hardware& hw, const std::vector<Policy>& policies,
                  Batch batch, const Section& section, std::vector<StudyRow>& rows,
                  const VariantsOf& variants_of = {}) {
  double baseline_s = 0;
  for (const Policy& p : policies) {
    const StepResult& r = runs.run(hw, p, batch, section.resimulate,
                                   variants_of ? variants_of(p) : ModelRuns::Variants{});
    if (baseline_s == 0)
      baseline_s = r.step_s;
    rows.push_back(row_of(section.name, section.setting, hw.spec.name, r, baseline_s));
  }
}

// The rows of the policies' runs on `hw` as measured on its variant `variant`, against the
// first policy's.
void variant_rows(ModelRuns& runs, const Hardware& hw, const Hardware& variant,
                  const std::vector<Policy>& policies, Batch batch, const Section& section,
                  std::vector<StudyRow>& rows) {
  const double baseline_s = runs.variant(hw, policies.front(), batch, variant.key).step_s;
  for (const Policy& p : policies)
    rows.push_back(row_of(section.name, section.setting, variant.spec.name,
                          runs.variant(hw, p, batch, variant.key), baseline_s));
}

std::string factor_name(double f) {
  return f < 1 ? fmt::format("x1/{:g}", 1 / f) : fmt::format("x{:g}", f);
}

// A sweep's hardware: link bandwidth (wires per link) scaled by each factor, then HBM
// bandwidth; each with its section and setting.
struct SweepPoint {
  Hardware hw;
  Section section;
};

std::vector<SweepPoint> sweep_points(const hw::HwSpec& spec, const std::vector<double>& factors) {
  std::vector<SweepPoint> points;
  for (const bool links : {true, false})
    for (const double f : factors) {
      const double l = links ? f : 1.0, m = links ? 1.0 : f;
      points.push_back(
          {{fmt::format("links x{:g}, memory x{:g}", l, m),
            with_memory_scale(with_link_scale(spec, l), m)},
           {links ? "link sweep" : "HBM sweep",
            std::string(links ? "wires per link " : "HBM bandwidth ") + factor_name(f)}});
    }
  return points;
}

// Every section's hardware for one model.
struct Machines {
  Hardware main;
  Hardware ucie;
  Hardware ssd;
  Hardware mesh;
};

Machines machines_for(const StudyOptions& options, const std::string& model) {
  const std::string name = options.hardware.empty() ? paper_hardware(model) : options.hardware;
  if (name.empty())
    throw core::InputError({"--models", "models", 0}, model,
                           "a model of the Mozart paper (qwen3-30b-a3b, olmoe-1b-7b, "
                           "deepseek-moe-16b), or --hw to name the hardware");
  Machines m{{"main", hw::load_hw(name)}, {"ucie", hw::load_hw(options.ucie)}, {}, {}};
  // An SSD in place of each HBM2 stack: 15.8 GB/s (PCIe 4.0 x8), 4 TB, 15 pJ/bit (NVMe-class).
  m.ssd = {"ssd", with_memory(m.main.spec, hw::MemoryKind::ssd, 15.8e9, 4e12, 15e-12)};
  // The mesh's links scaled so that its total link bandwidth equals the UCIe-class tree's.
  const hw::HwSpec mesh = hw::load_hw(options.mesh);
  double tree_links = 0, mesh_links = 0;
  for (const auto& l : m.ucie.spec.links)
    tree_links += l.spec.bytes_per_s;
  for (const auto& l : mesh.links)
    mesh_links += l.spec.bytes_per_s;
  m.mesh = {"mesh", with_link_scale(mesh, tree_links / mesh_links)};
  return m;
}

void run_model(const StudyOptions& options, const model::MoeModel& m, StudyResult& result) {
  const Machines hw = machines_for(options, m.name);
  ModelRuns runs(options, m);
  auto& rows = result.rows;
  const auto policy = [](const char* text) { return workload::parse_policy(text); };
  const std::vector<Policy> all = {policy("baseline"), policy("A"), policy("B"), policy("C")};
  const std::vector<Policy> ends = {all.front(), all.back()};
  const Batch batch{options.sequences, options.seq_len};

  // The sweeps and the SSD ablation run the main table's plans on their hardware.
  const std::vector<SweepPoint> sweeps = options.sweeps
                                             ? sweep_points(hw.main.spec, options.sweep_factors)
                                             : std::vector<SweepPoint>{};
  const auto variants_of = [&](const Policy& p) {
    ModelRuns::Variants v;
    for (const SweepPoint& point : sweeps)
      v.push_back(point.hw);
    if (options.ablations && (p.name == ends.front().name || p.name == ends.back().name))
      v.push_back(hw.ssd);
    return v;
  };
  const std::size_t first = rows.size();
  const Section main{"main", fmt::format("seq {}", batch.seq_len), options.resimulate};
  run_policies(runs, hw.main, all, batch, main, rows, variants_of);
  // A step beyond the paper, measured against the same baseline (its losses not re-simulated).
  rows.push_back(row_of(main.name, main.setting, hw.main.spec.name,
                        runs.run(hw.main,
                                 policy("overlap+overlap-a2a+in-network+streaming+"
                                        "placer=mozart"),
                                 batch),
                        rows[first].step_s));
  if (const auto paper = paper_figures(m.name)) {
    for (std::size_t i = 0; i < 4; ++i) {
      rows[first + i].paper_copies = paper->copies[i];
      if (i > 0)
        rows[first + i].paper_speedup = paper->speedup[i - 1];
    }
  }
  for (const SweepPoint& point : sweeps)
    variant_rows(runs, hw.main, point.hw, all, batch, point.section, rows);
  if (!options.ablations)
    return;
  run_policies(runs, hw.ucie, all, batch, {"UCIe-class links", "NoP-Tree, UCIe x64 links"}, rows);
  const int tokens = options.sequences * options.seq_len;
  for (const int len : {128, 512}) {
    if (len == options.seq_len)
      continue;
    run_policies(runs, hw.main, ends, {options.sequences, len},
                 {"sequence length (32 sequences)", fmt::format("seq {}", len)}, rows);
    if (tokens % (len * options.micro_batches) == 0)
      run_policies(runs, hw.main, ends, {tokens / len, len},
                   {"sequence length (fixed tokens)",
                    fmt::format("seq {}, {} sequences", len, tokens / len)},
                   rows);
  }
  variant_rows(runs, hw.main, hw.ssd, ends, batch, {"memory", "SSD 15.8 GB/s"}, rows);
  // The update's traffic (fp32 gradients accumulated in memory, Adam's states) is the same under
  // every policy and dilutes what they save: the same step without it.
  run_policies(runs, hw.main, ends, {batch.sequences, batch.seq_len, false},
               {"update traffic", "no optimizer update"}, rows);
  // C's schedule with other placements: fewer copies against balance.
  run_policies(runs, hw.main,
               {all.front(), policy("overlap+in-network+streaming+placer=contiguous"),
                policy("overlap+in-network+streaming+placer=balanced"),
                policy("overlap+in-network+streaming+placer=mozart-paper"), all.back()},
               batch, {"placement", "paper hardware"}, rows);
  const std::vector<Policy> best_without_switches = {
      all.front(), policy("overlap+per-chiplet+streaming+placer=mozart")};
  run_policies(runs, hw.ucie, best_without_switches, batch, {"topology", "NoP-Tree (UCIe)"}, rows);
  run_policies(runs, hw.mesh, best_without_switches, batch,
               {"topology", "mesh (equal link bandwidth)"}, rows);
}

const char* const kSections[] = {"main",
                                 "link sweep",
                                 "HBM sweep",
                                 "UCIe-class links",
                                 "sequence length (32 sequences)",
                                 "sequence length (fixed tokens)",
                                 "memory",
                                 "update traffic",
                                 "placement",
                                 "topology"};

std::string seconds_or_dash(const std::optional<double>& s) {
  return s ? fmt::format("{:.3f}", *s) : "—";
}

}  // namespace

std::string paper_hardware(const std::string& model) {
  for (const hw::paper::Table2& row : hw::paper::table2())
    if (row.model == model)
      return row.preset;
  return "";
}

StudyResult run_mozart_study(const StudyOptions& options) {
  StudyResult result;
  result.options = options;
  for (const std::string& name : options.models)
    run_model(options, model::load_model(name), result);
  return result;
}

std::string to_markdown(const StudyResult& result) {
  std::string out;
  for (const char* section : kSections) {
    bool header = false;
    for (const StudyRow& r : result.rows) {
      if (r.section != section)
        continue;
      if (!header) {
        header = true;
        out += fmt::format(
            "\n### {}\n\n| model | hardware | setting | policy | step (s) | speed-up | paper "
            "speed-up | C_T | paper C_T | lost to comm. (s) | lost to memory (s) | lost to "
            "compute (s) | step / bound | bound | S-MFU | S-MBU | energy (J) | fits |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
            section);
      }
      out += fmt::format(
          "| {} | {} | {} | {} | {:.3f} | {:.2f} | {} | {:.2f} | {} | {} | {} | {} | {:.2f} | {} "
          "| {:.3f} | {:.3f} | {:.1f} | {} |\n",
          r.model, r.hardware, r.setting, r.policy, r.step_s, r.speedup,
          r.paper_speedup ? fmt::format("{:.2f}", *r.paper_speedup) : "", r.copies_per_token,
          r.paper_copies ? fmt::format("{:.2f}", *r.paper_copies) : "",
          seconds_or_dash(r.lost_communication_s), seconds_or_dash(r.lost_memory_s),
          seconds_or_dash(r.lost_compute_s), r.bound_ratio, r.binding, r.s_mfu, r.s_mbu, r.energy_j,
          r.memory_fits ? "yes" : "no");
    }
  }
  return out;
}

nlohmann::ordered_json to_json(const StudyResult& result) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const StudyRow& r : result.rows) {
    nlohmann::ordered_json j{{"section", r.section},
                             {"model", r.model},
                             {"hardware", r.hardware},
                             {"setting", r.setting},
                             {"policy", r.policy},
                             {"step_s", r.step_s},
                             {"speedup", r.speedup},
                             {"copies_per_token", r.copies_per_token},
                             {"communication_without_compute_s", r.communication_without_compute_s},
                             {"memory_without_compute_s", r.memory_without_compute_s},
                             {"overlap_ratio", r.overlap_ratio},
                             {"step_over_bound", r.bound_ratio},
                             {"binding", r.binding},
                             {"s_mfu", r.s_mfu},
                             {"s_mbu", r.s_mbu},
                             {"energy_j", r.energy_j},
                             {"memory_fits", r.memory_fits}};
    for (const auto& [key, value] : {std::pair{"lost_communication_s", r.lost_communication_s},
                                     {"lost_memory_s", r.lost_memory_s},
                                     {"lost_compute_s", r.lost_compute_s}})
      if (value)
        j[key] = *value;
    if (r.paper_speedup)
      j["paper_speedup"] = *r.paper_speedup;
    if (r.paper_copies)
      j["paper_copies_per_token"] = *r.paper_copies;
    rows.push_back(j);
  }
  const auto& o = result.options;
  return {{"study", "mozart"},
          {"hardware", o.hardware.empty() ? "per model: mozart-paper-*" : o.hardware},
          {"batch",
           {{"sequences", o.sequences},
            {"micro_batches", o.micro_batches},
            {"sequence_length", o.seq_len}}},
          {"seed", o.seed},
          {"rows", rows}};
}

}  // namespace mozart::study
