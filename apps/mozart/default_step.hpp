// `mozart simulate`'s options, one training step as it runs them (for sweeps), and one with its
// defaults (32 sequences of 256 tokens in 4 micro-batches, a generated trace, a placement from
// another generated sample's priors, seed 1), for commands that need a step's measured rates.
#pragma once

#include <cstdint>
#include <string>

#include "model_trace.hpp"

#include "mozart/core/progress.hpp"
#include "mozart/hw/spec.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/sim/timeline.hpp"
#include "mozart/workload/policy.hpp"
#include "mozart/workload/step_result.hpp"

namespace mozart::cli {

struct SimulateFlags {
  std::string model;
  std::string hw;
  std::string trace;
  std::string priors;
  std::string placement;
  std::string policy = "C";
  int sequences = 32;
  int seq_len = 256;
  int micro_batches = 4;
  std::size_t first_token = 0;  // checked by whole(): CLI11 wraps "-1" for a size_t
  std::string optimizer = "per-layer";
  std::string grad_precision = "fp32";
  bool no_resimulate = false;
  bool weights_may_overflow = false;
  std::uint64_t seed = 1;
  std::string output;
  std::string timeline;
  std::string out_dir;  // a run directory for `mozart report`
  bool json = false;
  ReadFlags read;  // of --trace and --priors
};

// What `mozart simulate` watches while a step runs; a sweep's points leave it empty.
struct StepHooks {
  core::Progress* progress = nullptr;       // advanced after the traces and after the placement
  sim::Timeline* timeline = nullptr;        // the step's tasks, when wanted
  std::string* placement_source = nullptr;  // where the placement came from, for the summary
};

// One training step as `mozart simulate` runs it (without its outputs), on a model and hardware
// already loaded: the command's step and a sweep's points.
workload::StepResult simulate_step(const SimulateFlags& f, const model::MoeModel& m,
                                   const hw::HwSpec& hw, const workload::Policy& policy,
                                   const StepHooks& hooks = {});

// Why a step's memory does not fit, as `simulate` says it under its summary; empty when it fits.
std::string memory_note(const workload::StepResult& r);

// A step of `mozart simulate`'s defaults (`hw cost --model`); weights that overfill their stacks
// are refused as simulate refuses them unless `weights_may_overflow`.
workload::StepResult simulate_default_step(const std::string& model, const hw::HwSpec& hw,
                                           const std::string& policy, bool weights_may_overflow);

}  // namespace mozart::cli
