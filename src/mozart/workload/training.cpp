#include "mozart/workload/training.hpp"

#include "mozart/workload/step_builder.hpp"

namespace mozart::workload {
namespace detail {

StepPlan StepBuilder::build() {
  check_inputs();
  setup_chiplets();
  count_tokens();
  count_priors();
  plan_memory_use();
  step();
  if (cfg_.optimizer && cfg_.optimizer_schedule == OptimizerSchedule::end_of_step)
    update_at_end();
  plan_.info.resize(plan_.graph.tasks().size());
  return std::move(plan_);
}

}  // namespace detail

std::string_view to_string(OptimizerSchedule schedule) {
  return schedule == OptimizerSchedule::per_layer ? "per-layer" : "end-of-step";
}

StepPlan build_training_step(const StepInputs& inputs, const Policy& policy,
                             const StepConfig& config) {
  return detail::StepBuilder(inputs, policy, config).build();
}

}  // namespace mozart::workload
