// One training step with `mozart simulate`'s defaults (32 sequences of 256 tokens in 4
// micro-batches, a generated trace, a placement from another generated sample's priors,
// seed 1), for commands that need a step's measured rates.
#pragma once

#include <string>

#include "mozart/hw/spec.hpp"
#include "mozart/workload/step_result.hpp"

namespace mozart::cli {

workload::StepResult simulate_default_step(const std::string& model, const hw::HwSpec& hw,
                                           const std::string& policy);

}  // namespace mozart::cli
