// `mozart reproduce moentwine`: the evaluation of MoEntwine (HPCA 2026), simulated.
//
// For each model (DeepSeek-V3, Qwen3-235B-A22B, Mixtral-8x22B by default), decode at a fixed
// batch and context, routing drawn from the generator's default law in serving order (each
// sequence keeps its topic from one iteration to the next with the generator's stickiness, so
// expert popularity drifts):
//
//   mapping    all-to-all time (dispatch + combine per MoE layer) on the 4-wafer mesh under the
//              baseline, ER and HER mappings, and on one wafer under baseline and ER;
//   balance    over `iterations` drifting iterations on the 4-wafer mesh under ER: MoE compute
//              (the experts phase) and communication (dispatch + combine) per MoE layer, peak /
//              mean device load, with no balancer, the invasive EPLB-style balancer (its stalls
//              included) and the NI-Balancer; and, beyond the paper, a joint C_T + load
//              placement as the initial layout without a balancer;
//   systems    per-device MoE throughput (tokens through one MoE layer per second per device) of
//              the 4-wafer mesh (EP = all 256 dies) against NVL72 (EP = 72) and DGX H100 (EP =
//              the 64 GPUs), at the same batch per device.
//
// Only `moe_layers` MoE layers of each model are simulated per iteration (the model's first
// dense layers and the rest dropped): every MoE layer of a model has the same shape, so the
// per-layer times are those of the whole model, and the run stays short. The paper's figures
// are printed beside ours for comparison only; nothing is fitted to them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/balance/balancer.hpp"

namespace mozart::study {

struct MoentwineOptions {
  std::vector<std::string> models = {"deepseek-v3", "qwen3-235b-a22b", "mixtral-8x22b"};
  std::string wsc = "wsc-mesh-4x8x8";
  std::string wafer = "wsc-mesh-8x8";  // mapping section: one wafer too (no HER there)
  int wafer_tp = 16;                   // 2 x 2 FTDs under ER on one 8 x 8 wafer
  std::string nvl72 = "nvl72";
  std::string dgx = "dgx-h100";
  int tp = 64;                 // attention TP on the 4-wafer mesh: 2 x 2 FTDs under ER
  int batch_per_device = 4;    // sequences per device (256 dies: batch 1024)
  int context = 4096;          // tokens in each sequence's KV cache
  int moe_layers = 1;          // MoE layers simulated per iteration
  int iterations = 300;        // balance section
  int mapping_iterations = 2;  // mapping and systems sections
  int shadow_slots = 1;        // per device and layer
  balance::BalancerOptions balancer;
  std::uint64_t seed = 1;
};

// The options of `--quick`: fewer iterations, the same sections.
MoentwineOptions quick_moentwine(MoentwineOptions options);

struct MoentwineRow {
  std::string section;  // "mapping", "balance" or "systems"
  std::string model;
  std::string hardware;
  std::string setting;   // mapping name, balancer name, or system
  double a2a_s = 0;      // dispatch + combine per MoE layer, mean over iterations
  double compute_s = 0;  // experts phase per MoE layer, mean
  double moe_s = 0;      // a2a + compute (+ stalls spread over the iterations, balance)
  double peak_load = 0;  // busiest device's routed token copies over the mean, mean per iteration
  double stall_s = 0;    // invasive balancer: serving stopped for copies, in all
  int copies = 0;        // experts copied in all
  double copied_bytes = 0;
  double late_copies = 0;              // ni: copies still travelling when their iteration ended
  double tokens_per_s_per_device = 0;  // systems: batch over MoE time per layer, per device
  int devices = 0;
};

struct MoentwineResult {
  MoentwineOptions options;
  std::vector<MoentwineRow> rows;
  std::vector<std::string> notes;  // what the run derived (which step rides which phase)
};

MoentwineResult run_moentwine_study(const MoentwineOptions& options);

std::string to_markdown(const MoentwineResult& result);
nlohmann::ordered_json to_json(const MoentwineResult& result);

}  // namespace mozart::study
