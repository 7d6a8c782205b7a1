// One training step of an MoE model on a chiplet system, as a task graph for the engine.
//
// The step runs `micro_batches` micro-batches one after another (gradient accumulation), each
// forward through every layer and backward in reverse; the optimizer updates each layer once its
// gradients are final (or, as an option, everything after the last micro-batch). Per layer:
// attention (with norms, router, shared experts and dense FFNs) on the attention chiplets;
// dispatch of every token to the chiplets of its trace-chosen experts; each expert's FFN on its
// chiplet for exactly the tokens the trace routed to it; combine back. Backward repeats the
// exchange with gradients, computes input and weight gradients, and writes weight gradients
// to memory: a micro-batch reads (after the previous micro-batch's write of it), adds and writes
// back a gradient an earlier micro-batch wrote, and only writes one none has.
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
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "mozart/core/units.hpp"
#include "mozart/model/cost.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/net/network.hpp"
#include "mozart/placement/placement.hpp"
#include "mozart/sim/platform.hpp"
#include "mozart/sim/task_graph.hpp"
#include "mozart/trace/trace.hpp"
#include "mozart/workload/policy.hpp"

namespace mozart::workload {

// When Adam runs: a layer's update as soon as its last micro-batch's gradients are written (as
// the paper updates on the chiplets), or every update after the step's last backward.
enum class OptimizerSchedule : std::uint8_t { per_layer, end_of_step };
std::string_view to_string(OptimizerSchedule schedule);

struct StepConfig {
  model::Batch micro_batch{8, 256, true};
  int micro_batches = 4;
  bool optimizer = true;  // Adam update of every parameter
  OptimizerSchedule optimizer_schedule = OptimizerSchedule::per_layer;
  model::OptimizerSpec adam;
  // Weight gradients as accumulated in memory across micro-batches: fp32, as mixed-precision
  // training keeps its master gradients.
  core::DataType gradient_type = core::DataType::fp32;
  std::size_t first_token = 0;  // the trace's token where the step's batch starts
  // Simulate even when the weights overfill their stacks (reported as `memory_fits: false`);
  // otherwise that is an InputError.
  bool weights_may_overflow = false;
};

// Dispatch and combine plans that steps made, for later steps of the same routing to reuse (a
// study runs several schedules of one placement). A micro-batch's plans at an MoE layer depend on
// the network, the model, the trace, the placement, which tokens the micro-batch takes (first
// token, micro-batch shape) and the all-to-all mode; each is kept under all of these, the objects
// by identity, and handed only to a step that matches them all. The objects must therefore
// outlive the cache unchanged.
class ExchangePlans {
 public:
  struct Key {
    std::uintptr_t network = 0, model = 0, trace = 0, placement = 0;
    std::size_t first_token = 0;
    int sequences = 0, seq_len = 0;
    int micro_batch = 0;
    std::size_t moe_layer = 0;
    net::AllToAllMode mode = net::AllToAllMode::copy_per_expert;
    auto operator<=>(const Key&) const = default;
  };
  struct Entry {
    net::DispatchCombine plans;
    double tokens = 0;  // tokens dispatched
    double copies = 0;  // token copies: one per expert, or per distinct destination chiplet
  };
  // The entry of `key`, or null.
  const Entry* find(const Key& key) const {
    const auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }
  const Entry& add(const Key& key, Entry entry) {
    return entries_.insert_or_assign(key, std::move(entry)).first->second;
  }

 private:
  std::map<Key, Entry> entries_;
};

struct StepInputs {
  const model::MoeModel& model;
  const net::Network& network;
  const placement::Placement& placement;
  const trace::Trace& trace;
  std::string trace_source = "trace";
  std::string placement_source = "placement";
  // Routing the step does not run (a profiling trace), whose expert frequencies guide
  // streaming. Without it the priors are the previous step's: the trace's tokens before
  // `first_token`, or, when there are none, uniform (every expert equally likely).
  const trace::Trace* priors = nullptr;
  std::string priors_source = "priors";
  // Where the step finds and keeps its dispatch and combine plans (none: it makes its own).
  ExchangePlans* exchange_plans = nullptr;
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
  bool optimizer_phase = false;  // after the barrier that ends backward (end-of-step optimizer)
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
  sim::FlatArray<TaskInfo> info;  // per task
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
  std::string priors;        // where streaming's priors came from
  // Under streaming, per MoE layer and expert: whether the forward prefetches it before the
  // router has run (the priors make a token for it likely).
  std::vector<std::vector<bool>> prefetch;
  // Per gradient read-add-write of a micro-batch after the first: its read (a memory load)
  // and the previous micro-batch's writes of the same gradient, which it must follow.
  struct GradientRead {
    sim::TaskId read = 0;
    std::vector<sim::TaskId> previous_writes;
  };
  std::vector<GradientRead> gradient_reads;
};

// InputError for a placement or trace (or priors) of another model, a batch longer than the
// trace, a placement with replicas, or weights that do not fit their memory stacks.
StepPlan build_training_step(const StepInputs& inputs, const Policy& policy,
                             const StepConfig& config);

}  // namespace mozart::workload
