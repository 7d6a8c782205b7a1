// The step's task graph grows linearly with the chiplets: a task that waits for a whole phase
// waits on one barrier, so the dependency edges per task stay flat from a 4x4 to an 8x8 mesh.
#include <algorithm>
#include <string>

#include "step_case.hpp"
#include <gtest/gtest.h>

#include "mozart/core/config.hpp"
#include "mozart/hw/zoo.hpp"

namespace mozart::workload {
namespace {

// MoEntwine's wafer (configs/hw/wsc-mesh-8x8.yaml) cut to `side` x `side` dies.
hw::HwSpec wafer(int side) {
  std::string text = *hw::preset_text("wsc-mesh-8x8");
  const auto replace = [&text](const std::string& from, const std::string& to) {
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
  };
  replace("count: 64", "count: " + std::to_string(side * side));
  replace("rows: 8", "rows: " + std::to_string(side));
  replace("cols: 8", "cols: " + std::to_string(side));
  return hw::read_hw(core::ConfigNode::parse(text, "wafer"));
}

struct Edges {
  double per_task = 0;
  std::size_t most = 0;  // on one task other than a barrier (a barrier stands for a phase)
  std::string busiest;
  std::size_t tasks = 0;
};

Edges edges_of(const std::string& model, const Policy& policy, const hw::HwSpec& hw,
               const StepConfig& base) {
  Case s = make_setup(model, 3, policy, hw, 2, 8, 64);
  s.config.optimizer = base.optimizer;
  s.config.optimizer_schedule = base.optimizer_schedule;
  const net::Network network(s.hw);
  StepInputs inputs{s.model, network, s.placement, s.trace};
  inputs.priors = &s.priors;
  const StepPlan plan = build_training_step(inputs, policy, s.config);
  Edges e;
  std::size_t total = 0;
  for (const sim::Task& t : plan.graph.tasks()) {
    total += t.deps.size();
    if (t.kind != sim::TaskKind::delay && t.deps.size() > e.most) {
      e.most = t.deps.size();
      e.busiest = t.name;
    }
  }
  e.tasks = plan.graph.tasks().size();
  e.per_task = double(total) / double(e.tasks);
  return e;
}

TEST(GraphGrowth, EdgesPerTaskDoNotGrowWithTheChiplets) {
  const hw::HwSpec small = wafer(4), large = wafer(8);
  StepConfig per_layer, end_of_step, none;
  end_of_step.optimizer_schedule = OptimizerSchedule::end_of_step;
  none.optimizer = false;
  for (const char* name : {"baseline", "A", "overlap+per-chiplet+streaming+placer=mozart",
                           "compute-during-a2a", "overlap+overlap-a2a+per-chiplet+streaming"}) {
    const Policy policy = parse_policy(name);
    for (const auto& [schedule, config] :
         {std::pair{"per-layer", per_layer}, {"end-of-step", end_of_step}, {"none", none}}) {
      const Edges e4 = edges_of("olmoe-1b-7b", policy, small, config);
      const Edges e8 = edges_of("olmoe-1b-7b", policy, large, config);
      std::printf("%-45s %-11s 4x4: %7zu tasks %5.2f edges/task (most %zu: %s)\n", name, schedule,
                  e4.tasks, e4.per_task, e4.most, e4.busiest.c_str());
      std::printf("%-45s %-11s 8x8: %7zu tasks %5.2f edges/task (most %zu: %s)\n", name, schedule,
                  e8.tasks, e8.per_task, e8.most, e8.busiest.c_str());
      EXPECT_LT(e8.per_task, 1.25 * e4.per_task) << name << " " << schedule;
      // Four times the chiplets: a task's edges may vary with the pieces its work streams in,
      // but must not follow the chiplet count.
      EXPECT_LE(e8.most, e4.most * 3 / 2) << name << " " << schedule << ": " << e8.busiest;
    }
  }
}

}  // namespace
}  // namespace mozart::workload
