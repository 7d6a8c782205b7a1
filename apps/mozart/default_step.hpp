// `mozart simulate`'s options, one training step as it runs them (for sweeps), and one with its
// defaults (32 sequences of 256 tokens in 4 micro-batches, a generated trace, a placement from
// another generated sample's priors, seed 1), for commands that need a step's measured rates.
#pragma once

#include <cstdint>
#include <string>

#include "mozart/hw/spec.hpp"
#include "mozart/model/spec.hpp"
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
};

// One training step as `mozart simulate` runs it (without its outputs and progress), on a
// model and hardware already loaded: a sweep's points.
workload::StepResult simulate_step(const SimulateFlags& f, const model::MoeModel& m,
                                   const hw::HwSpec& hw, const workload::Policy& policy);

workload::StepResult simulate_default_step(const std::string& model, const hw::HwSpec& hw,
                                           const std::string& policy);

}  // namespace mozart::cli
