// One training step of an MoE model on a chiplet system, as a task graph for the engine.
//
// The step runs `micro_batches` micro-batches one after another (gradient accumulation), each
// forward through every layer and backward in reverse, then the optimizer update. Per layer:
// attention (with norms, router, shared experts and dense FFNs) on the attention chiplets;
// dispatch of every token to the chiplets of its trace-chosen experts; each expert's FFN on its
// chiplet for exactly the tokens the trace routed to it; combine back. Backward repeats the
// exchange with gradients, computes input and weight gradients, and writes weight gradients
// to memory (read-add-write after the first micro-batch).
//
// Memory: weights live in the memory stacks attached to their chiplet and stream into SRAM
// before use; a chiplet's SRAM holds its working activations, the saved activations that fit
// (the layers backward reaches first), and a window for streamed weights. A load waits until
// the window has room (the oldest holds are released first), so SRAM is never exceeded;
// saved activations that do not fit spill to memory and are read back for backward.
//
// Attention chiplets are those with role `attention` (else every chiplet), each taking an
// equal share of the micro-batch's sequences. A placement with replicas is refused: the
// gradients of replicated experts would need a reduction the step does not model.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "mozart/model/cost.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/net/network.hpp"
#include "mozart/placement/placement.hpp"
#include "mozart/sim/platform.hpp"
#include "mozart/sim/task_graph.hpp"
#include "mozart/trace/trace.hpp"
#include "mozart/workload/policy.hpp"

namespace mozart::workload {

struct StepConfig {
  model::Batch micro_batch{8, 256, true};
  int micro_batches = 4;
  bool optimizer = true;  // Adam update of every parameter at the end of the step
  model::OptimizerSpec adam;
  std::size_t first_token = 0;  // the trace's token where the step's batch starts
};

struct StepInputs {
  const model::MoeModel& model;
  const net::Network& network;
  const placement::Placement& placement;
  const trace::Trace& trace;
  std::string trace_source = "trace";
  std::string placement_source = "placement";
};

enum class Activity : std::uint8_t { compute, memory, network, barrier };
enum class Traffic : std::uint8_t { weights, gradients, optimizer_states, activations };
inline constexpr std::size_t kTrafficKinds = 4;

inline double total_bytes(const std::array<double, kTrafficKinds>& bytes) {
  double sum = 0;
  for (const double b : bytes)
    sum += b;
  return sum;
}

struct TaskInfo {
  Activity activity = Activity::barrier;
  int chiplet = -1;  // compute: its engine; memory: the chiplet whose SRAM it fills or drains
  double flops = 0;
  double sram_bytes = 0;                      // compute: operands read and written in SRAM
  std::array<double, kTrafficKinds> bytes{};  // memory: what the transfer carries
};

// SRAM taken from the start of task `from` to the end of task `until`.
struct SramHold {
  int chiplet = 0;
  double bytes = 0;
  sim::TaskId from = 0;
  sim::TaskId until = 0;
};

struct StepPlan {
  sim::Platform platform;
  sim::TaskGraph graph;
  std::vector<TaskInfo> info;  // per task
  std::vector<SramHold> holds;
  std::vector<int> attention_chiplets;
  std::vector<int> expert_chiplets;
  std::vector<double> sram_reserved;   // per chiplet: working and retained activations
  std::vector<double> sram_window;     // per chiplet: room for streamed weights
  std::vector<double> memory_weights;  // per stack: weights resident
  std::vector<double> memory_needed;   // per stack: weights, gradients, optimizer states, spills
  double tokens = 0;                   // tokens in the step
  double routed_slots = 0;             // token-expert choices over MoE layers and micro-batches
  double dispatched_copies = 0;        // token copies the forward dispatches sent
  double dispatched_tokens = 0;        // tokens dispatched (tokens × MoE layers × micro-batches)
  double flops = 0;
  double spilled_bytes = 0;  // saved activations written to memory, per step
};

// InputError for a placement or trace of another model, a batch longer than the trace, a
// placement with replicas, or weights that do not fit their memory stacks.
StepPlan build_training_step(const StepInputs& inputs, const Policy& policy,
                             const StepConfig& config);

}  // namespace mozart::workload
