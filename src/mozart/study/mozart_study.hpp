// `mozart reproduce mozart`: the evaluation of the Mozart paper, simulated.
//
// For each model (Qwen3-30B-A3B, OLMoE-1B-7B, DeepSeek-MoE-16B): a step trace and a separate
// priors trace drawn from the generator's default law (calibrated on OLMoE's routing); the
// placements made from the priors; one training step (32 sequences of 256 tokens in 4
// micro-batches) under baseline, A, B and C on the paper's own hardware (`mozart-paper-*`:
// compute-rich chiplets, HBM2 behind the group switches, per-wire links, all derived from the
// paper's numbers), plus C with the all-to-all overlapped too (a step beyond the paper). Then
// the ablations: the same policies on the UCIe-class NoP-Tree (`mozart-nop-tree-ucie`); sweeps
// of link bandwidth (wires per link x1/4 .. x4) and HBM bandwidth (x1/4 .. x4); sequence length
// 128 / 512 in both readings of the paper (32 sequences per step; tokens per step fixed); an
// SSD in place of every HBM2 stack; the step without its optimizer update; C's schedule with other
// placements (the paper's own Algorithm 1 + Eq. 5 among them); and the UCIe-class tree against a
// mesh of equal link bandwidth.
//
// The paper's figures are printed beside ours for comparison only; nothing is fitted to them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/workload/step_result.hpp"

namespace mozart::study {

struct StudyOptions {
  std::vector<std::string> models = {"qwen3-30b-a3b", "olmoe-1b-7b", "deepseek-moe-16b"};
  std::string hardware;  // empty: each model on its paper preset (paper_hardware)
  std::string ucie = "mozart-nop-tree-ucie";
  std::string mesh = "mozart-mesh";
  int sequences = 32;
  int micro_batches = 4;
  int seq_len = 256;
  std::uint64_t seed = 1;
  bool ablations = true;
  bool sweeps = true;
  bool resimulate = true;  // the main table's losses to communication, memory and compute
  // Link and HBM bandwidth factors besides x1 (the main table); --sweep-factors adds more.
  std::vector<double> sweep_factors = {0.25, 4};
};

// The paper's hardware for a model of its study (`mozart-paper-qwen3` ...); empty for others.
std::string paper_hardware(const std::string& model);

struct StudyRow {
  // "main", "UCIe-class links", "link sweep", "HBM sweep", "sequence length (32 sequences)",
  // "sequence length (fixed tokens)", "memory", "update traffic", "placement" or "topology"
  std::string section;
  std::string hardware;
  std::string model;
  std::string setting;  // "seq 256", "HBM2", "SSD 15.8 GB/s", "NoP-Tree", "mesh" ...
  std::string policy;
  double step_s = 0;
  double speedup = 0;  // over the baseline of the same model and setting
  double copies_per_token = 0;
  double communication_without_compute_s = 0;
  double memory_without_compute_s = 0;
  // What the step loses to each resource, measured by re-simulating it without that cost (main
  // table only).
  std::optional<double> lost_communication_s;
  std::optional<double> lost_memory_s;
  std::optional<double> lost_compute_s;
  double overlap_ratio = 0;
  double bound_ratio = 0;  // step over its lower bound
  std::string binding;
  double s_mfu = 0;
  double s_mbu = 0;
  double energy_j = 0;
  bool memory_fits = true;
  std::optional<double> paper_speedup;
  std::optional<double> paper_copies;
};

struct StudyResult {
  StudyOptions options;
  std::vector<StudyRow> rows;
};

StudyResult run_mozart_study(const StudyOptions& options);

std::string to_markdown(const StudyResult& result);
nlohmann::ordered_json to_json(const StudyResult& result);

}  // namespace mozart::study
