// `mozart reproduce mozart`: the evaluation of the Mozart paper, simulated.
//
// For each model (Qwen3-30B-A3B, OLMoE-1B-7B, DeepSeek-MoE-16B): a step trace and a separate
// priors trace drawn from the generator's default law (calibrated on OLMoE's routing); the
// `mozart` placement made from the priors; one training step (32 sequences of 256 tokens in
// 4 micro-batches) under baseline, A, B and C on the NoP-Tree. Then the ablations: sequence
// length 128 / 512; SSD (15.8 GB/s) in place of every HBM2 stack; C's schedule with the
// contiguous and balanced placements in place of mozart's; links at 1/8 of their
// bandwidth (where the all-to-all weighs more); and the NoP-Tree against a 2D mesh with the
// same total link bandwidth (the mesh has no switches, so its best policy sends one copy per
// chiplet instead of multicasting).
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
  std::string hardware = "mozart-nop-tree-ucie";
  std::string mesh = "mozart-mesh";
  int sequences = 32;
  int micro_batches = 4;
  int seq_len = 256;
  std::uint64_t seed = 1;
  bool ablations = true;
  // Measure what the main table's steps lose to communication and memory by re-simulation
  // (three more runs of each).
  bool resimulate = false;
};

struct StudyRow {
  // "main", "sequence length", "memory", "placement", "links" or "topology"
  std::string section;
  std::string model;
  std::string setting;  // "seq 256", "HBM2", "SSD 15.8 GB/s", "NoP-Tree", "mesh" ...
  std::string policy;
  double step_s = 0;
  double speedup = 0;  // over the baseline of the same model and setting
  double copies_per_token = 0;
  double communication_without_compute_s = 0;  // union intervals (workload::Breakdown)
  double memory_without_compute_s = 0;
  std::optional<double> lost_to_communication_s;  // by re-simulation, when measured
  std::optional<double> lost_to_memory_s;
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
