#include "mozart/study/mozart_study.hpp"

#include <map>

#include <fmt/format.h>

#include "mozart/core/units.hpp"
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

// One model's traces and placements, shared by every run of that model.
class ModelRuns {
 public:
  ModelRuns(const StudyOptions& options, const model::MoeModel& m) : options_(options), model_(m) {}

  // `hw_key` names the hardware variant: runs repeat across sections and are done once.
  const StepResult& run(const std::string& hw_key, const hw::HwSpec& hw, const Policy& policy,
                        int seq_len, bool resimulate) {
    auto& done = results_[{hw_key, workload::describe(policy), seq_len}];
    if (!done || (resimulate && !done->lost.measured))
      done = simulate(hw, policy, seq_len, resimulate);
    return *done;
  }

 private:
  StepResult simulate(const hw::HwSpec& hw, const Policy& policy, int seq_len, bool resimulate) {
    const auto& step = trace_for(seq_len, options_.seed);
    const auto& priors = trace_for(seq_len, options_.seed + 1);
    const auto& placement = placement_for(hw, policy.placer, priors, seq_len);
    const net::Network network(hw);
    workload::StepConfig config;
    config.micro_batches = options_.micro_batches;
    config.micro_batch.sequences = options_.sequences / options_.micro_batches;
    config.micro_batch.seq_len = seq_len;
    workload::StepInputs inputs{model_, network,           placement,
                                step,   "generated trace", policy.placer + " placement"};
    inputs.priors = &priors;  // streaming goes by the placer's priors, not the step's routing
    inputs.priors_source = "priors trace (another seed)";
    workload::StepOptions step_options;
    step_options.resimulate = resimulate;
    return workload::simulate_training_step(inputs, policy, config, step_options);
  }

  const trace::Trace& trace_for(int seq_len, std::uint64_t seed) {
    auto& t = traces_[{seq_len, seed}];
    if (!t)
      t = generated_trace(model_, std::size_t(options_.sequences) * std::size_t(seq_len), seq_len,
                          seed);
    return *t;
  }

  const placement::Placement& placement_for(const hw::HwSpec& hw, const std::string& placer,
                                            const trace::Trace& priors, int seq_len) {
    auto& p = placements_[{hw.name, placer, seq_len}];
    if (!p)
      p = place_experts(model_, hw, priors, placer, options_.seed);
    return *p;
  }

  const StudyOptions& options_;
  const model::MoeModel& model_;
  std::map<std::pair<int, std::uint64_t>, std::optional<trace::Trace>> traces_;
  std::map<std::tuple<std::string, std::string, int>, std::optional<placement::Placement>>
      placements_;
  std::map<std::tuple<std::string, std::string, int>, std::optional<StepResult>> results_;
};

StudyRow row_of(const std::string& section, const std::string& setting, const StepResult& r,
                double baseline_s) {
  StudyRow row;
  row.section = section;
  row.model = r.model;
  row.setting = setting;
  row.policy = r.policy.name;
  row.step_s = r.step_s;
  row.speedup = r.step_s > 0 ? baseline_s / r.step_s : 0;
  row.copies_per_token = r.copies_per_token;
  row.communication_without_compute_s = r.breakdown.communication_without_compute_s;
  row.memory_without_compute_s = r.breakdown.memory_without_compute_s;
  if (r.lost.measured) {
    row.lost_to_communication_s = r.lost.communication.lost_s;
    row.lost_to_memory_s = r.lost.memory.lost_s;
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
struct Hardware {
  std::string key;
  hw::HwSpec spec;
};

void run_policies(ModelRuns& runs, const Hardware& hw, const std::vector<Policy>& policies,
                  int seq_len, const std::string& section, const std::string& setting,
                  std::vector<StudyRow>& rows, bool resimulate = false) {
  double baseline_s = 0;
  for (const Policy& p : policies) {
    const StepResult& r = runs.run(hw.key, hw.spec, p, seq_len, resimulate);
    if (baseline_s == 0)
      baseline_s = r.step_s;
    rows.push_back(row_of(section, setting, r, baseline_s));
  }
}

}  // namespace

StudyResult run_mozart_study(const StudyOptions& options) {
  StudyResult result;
  result.options = options;
  const Hardware tree{"tree", hw::load_hw(options.hardware)};
  // An SSD in place of each HBM2 stack: 15.8 GB/s (PCIe 4.0 x8), 4 TB, 15 pJ/bit (NVMe-class).
  const Hardware ssd{"ssd", with_memory(tree.spec, hw::MemoryKind::ssd, 15.8e9, 4e12, 15e-12)};
  const Hardware slow_links{"links/8", with_link_scale(tree.spec, 1.0 / 8)};
  // The mesh's links scaled so that its total link bandwidth equals the tree's.
  const hw::HwSpec mesh_spec = hw::load_hw(options.mesh);
  double tree_links = 0, mesh_links = 0;
  for (const auto& l : tree.spec.links)
    tree_links += l.spec.bytes_per_s;
  for (const auto& l : mesh_spec.links)
    mesh_links += l.spec.bytes_per_s;
  const Hardware mesh{"mesh", with_link_scale(mesh_spec, tree_links / mesh_links)};

  const std::vector<Policy> all = {workload::parse_policy("baseline"), workload::parse_policy("A"),
                                   workload::parse_policy("B"), workload::parse_policy("C")};
  const std::vector<Policy> ends = {all.front(), all.back()};
  const std::vector<Policy> placements = {
      all.front(), workload::parse_policy("overlap+in-network+streaming+placer=contiguous"),
      workload::parse_policy("overlap+in-network+streaming+placer=balanced")};
  const std::vector<Policy> best_without_switches = {
      all.front(), workload::parse_policy("overlap+per-chiplet+streaming+placer=mozart")};
  for (const std::string& name : options.models) {
    const model::MoeModel m = model::load_model(name);
    ModelRuns runs(options, m);
    const std::size_t first = result.rows.size();
    const std::string main_setting = fmt::format("seq {}", options.seq_len);
    run_policies(runs, tree, all, options.seq_len, "main", main_setting, result.rows,
                 options.resimulate);
    if (const auto paper = paper_figures(m.name)) {
      for (std::size_t i = 0; i < 4; ++i) {
        result.rows[first + i].paper_copies = paper->copies[i];
        if (i > 0)
          result.rows[first + i].paper_speedup = paper->speedup[i - 1];
      }
    }
    if (!options.ablations)
      continue;
    for (const int len : {128, 512})
      if (len != options.seq_len)
        run_policies(runs, tree, ends, len, "sequence length", fmt::format("seq {}", len),
                     result.rows);
    run_policies(runs, ssd, ends, options.seq_len, "memory", "SSD 15.8 GB/s", result.rows);
    // C's placement against others under the same schedule: fewer copies against balance.
    run_policies(runs, tree, placements, options.seq_len, "placement", "NoP-Tree", result.rows);
    // Slower links, where the efficient all-to-all has more to save.
    run_policies(runs, slow_links, {all[0], all[1], all[2]}, options.seq_len, "links",
                 "NoP-Tree links / 8 (32 GB/s)", result.rows);
    run_policies(runs, tree, best_without_switches, options.seq_len, "topology", "NoP-Tree",
                 result.rows);
    run_policies(runs, mesh, best_without_switches, options.seq_len, "topology",
                 "mesh (equal link bandwidth)", result.rows);
  }
  return result;
}

namespace {

// Blank where not measured (re-simulation is for the main table).
std::string optional_seconds(const std::optional<double>& s) {
  return s ? fmt::format("{:.3f}", *s) : "";
}

}  // namespace

std::string to_markdown(const StudyResult& result) {
  std::string out;
  for (const char* section :
       {"main", "sequence length", "memory", "placement", "links", "topology"}) {
    bool header = false;
    for (const StudyRow& r : result.rows) {
      if (r.section != section)
        continue;
      if (!header) {
        header = true;
        out += fmt::format(
            "\n### {}\n\n| model | setting | policy | step (s) | speed-up | paper speed-up | C_T "
            "| paper C_T | lost to comm. (s) | lost to mem. (s) | overlap | step / bound | bound "
            "| S-MFU | S-MBU | energy (J) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
            "---|---|---|\n",
            section);
      }
      out += fmt::format(
          "| {} | {} | {} | {:.3f} | {:.2f} | {} | {:.2f} | {} | {} | {} | {:.2f} | "
          "{:.2f} | {} | {:.3f} | {:.3f} | {:.1f} |\n",
          r.model, r.setting, r.policy, r.step_s, r.speedup,
          r.paper_speedup ? fmt::format("{:.2f}", *r.paper_speedup) : "", r.copies_per_token,
          r.paper_copies ? fmt::format("{:.2f}", *r.paper_copies) : "",
          optional_seconds(r.lost_to_communication_s), optional_seconds(r.lost_to_memory_s),
          r.overlap_ratio, r.bound_ratio, r.binding, r.s_mfu, r.s_mbu, r.energy_j);
    }
  }
  return out;
}

nlohmann::ordered_json to_json(const StudyResult& result) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const StudyRow& r : result.rows) {
    nlohmann::ordered_json j{{"section", r.section},
                             {"model", r.model},
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
    if (r.lost_to_communication_s)
      j["lost_to_communication_s"] = *r.lost_to_communication_s;
    if (r.lost_to_memory_s)
      j["lost_to_memory_s"] = *r.lost_to_memory_s;
    if (r.paper_speedup)
      j["paper_speedup"] = *r.paper_speedup;
    if (r.paper_copies)
      j["paper_copies_per_token"] = *r.paper_copies;
    rows.push_back(j);
  }
  const auto& o = result.options;
  return {{"study", "mozart"},
          {"hardware", o.hardware},
          {"batch",
           {{"sequences", o.sequences},
            {"micro_batches", o.micro_batches},
            {"sequence_length", o.seq_len}}},
          {"seed", o.seed},
          {"rows", rows}};
}

}  // namespace mozart::study
