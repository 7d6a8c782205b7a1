// The builder of a training step's task graph (training.hpp), shared by the files that build
// its parts: the inputs, chiplets and token counts (step_inputs.cpp); what each chiplet computes
// and what its SRAM and memory hold (step_memory.cpp); the tasks: memory transfers, works
// streamed through SRAM, collectives (step_tasks.cpp); routing and the order experts stream in
// (streaming.cpp); forward, loss and backward per layer (step_layers.cpp); and the optimizer
// (optimizer.cpp). Internal to the workload module.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mozart/model/params.hpp"
#include "mozart/workload/memory_plan.hpp"
#include "mozart/workload/op_timing.hpp"
#include "mozart/workload/training.hpp"

namespace mozart::workload::detail {

using sim::TaskId;
using Deps = std::vector<TaskId>;
using Bytes = std::array<double, kTrafficKinds>;

inline Bytes traffic(Traffic kind, double bytes) {
  Bytes b{};
  b[static_cast<std::size_t>(kind)] = bytes;
  return b;
}

inline Bytes plus(Bytes a, const Bytes& b) {
  for (std::size_t i = 0; i < a.size(); ++i)
    a[i] += b[i];
  return a;
}

inline Bytes scaled(Bytes b, double factor) {
  for (double& x : b)
    x *= factor;
  return b;
}

inline void append(Deps& to, const Deps& from) {
  to.insert(to.end(), from.begin(), from.end());
}

inline OpSum scaled(OpSum s, double factor) {
  s.seconds *= factor;
  s.flops *= factor;
  s.sram_bytes *= factor;
  return s;
}

// Room in one chiplet's SRAM for streamed weights. Holds are admitted in program order; a new
// hold waits for the releases of the oldest ones until it fits. Because a chiplet's loads also
// start in program order, every hold released to make room ends before the new one begins, so
// the holds in use never exceed the window.
class SramWindow {
 public:
  explicit SramWindow(double bytes = 0) : capacity_(bytes) {}
  double capacity() const { return capacity_; }

  // Appends to `wait` the releases a hold of `bytes` waits for.
  void admit(double bytes, Deps& wait) {
    while (!held_.empty() && used_ + bytes > capacity_ * (1 + 1e-12)) {
      used_ -= held_.front().first;
      wait.push_back(held_.front().second);
      held_.pop_front();
    }
  }
  void hold(double bytes, TaskId until) {
    used_ += bytes;
    held_.emplace_back(bytes, until);
  }

 private:
  double capacity_;
  double used_ = 0;
  std::deque<std::pair<double, TaskId>> held_;
};

// One unit of streamed work on a chiplet: load into SRAM, compute, write results back.
struct Work {
  std::string name;
  int chiplet = 0;
  Bytes load{};
  double hold = 0;  // SRAM taken from the load's start until the write (or compute) ends
  OpSum compute;
  Bytes write{};
  // The previous micro-batch's writes of the gradient this work reads (in piece order): the
  // read-add-write must read what they wrote.
  Deps read_after;
};

struct Ran {
  Deps computes;
  Deps writes;  // in piece order
};

// Which weight gradient a backward work accumulates: attention of (layer, attention chiplet
// index), a routed expert of (MoE layer index, expert), or the LM head of an attention chiplet.
enum class GradientOf : std::uint8_t { attention, expert, lm_head };
using GradientKey = std::tuple<GradientOf, int, int>;

class StepBuilder {
 public:
  StepBuilder(const StepInputs& in, const Policy& policy, const StepConfig& config)
      : in_(in),
        m_(in.model),
        net_(in.network),
        hw_(in.network.hw()),
        policy_(policy),
        cfg_(config),
        b_(core::bytes_per_element(in.model.dtype)),
        g_(core::bytes_per_element(config.gradient_type)),
        moe_layers_(in.model.moe_layers()) {}

  StepPlan build();

 private:
  // ---- inputs ---------------------------------------------------------------------------

  void check_inputs();

  void check_trace(const trace::Trace& t, const std::string& source) const;

  void setup_chiplets();

  int moe_index(int layer) const;

  int chiplet_of(std::size_t li, int expert) const {
    return chiplet_of_[li * static_cast<std::size_t>(m_.routed_experts) +
                       static_cast<std::size_t>(expert)];
  }

  // The tables behind chiplet_of() and experts_on(), from the placement (looked up per token).
  void index_placement();

  // Tokens per expert per micro-batch, from the trace's own tokens.
  void count_tokens();

  // Tokens per expert in routing the step does not run, which streaming goes by: a priors
  // trace, else the previous step (the trace's tokens before the step's first), else uniform.
  // Never the step's own routing, which is not known before its routers run.
  void count_priors();

  void note_prefetches();

  // ---- what each chiplet computes -------------------------------------------------------

  // Attention, norms, router, shared experts or dense FFN: everything of a layer but the
  // routed experts.
  const std::vector<model::OpCost>& attention_ops(int layer, std::size_t a);

  const hw::ChipletKind& kind_of(int chiplet) const;

  OpSum timed(std::span<const model::OpCost> ops, int chiplet) const;

  OpSum backward_of(std::span<const model::OpCost> forward, int chiplet) const;

  double expert_bytes() const { return double(model::routed_expert_params(m_)) * b_; }

  // The accumulated gradient of weights of `weight_bytes`.
  double gradient_bytes(double weight_bytes) const { return weight_bytes / b_ * g_; }

  // SRAM a backward work holds per weight byte: the weights and their gradient.
  double backward_hold(double weight_bytes) const;

  double attention_weight_bytes(int layer, std::size_t a);

  double lm_head_bytes() const { return double(m_.vocab) * m_.hidden * b_; }

  // ---- SRAM and memory planning ---------------------------------------------------------

  // What each chiplet's memory must hold: working activations (ops tile over tokens, so only
  // a layer's input, residual and output stay whole), the activations each layer of each
  // micro-batch saves for backward (every op's inputs), the largest streamed work (weights and
  // their gradients), and the resident weights.
  std::vector<ChipletDemand> memory_demand();

  void plan_memory_use();

  double expert_saved_bytes(double tokens) const;

  double saved_bytes(int mb, int layer, int c) const;

  bool spilled(int mb, int layer, int c) const;

  // ---- tasks ----------------------------------------------------------------------------

  TaskId note(TaskId id, TaskInfo info);

  TaskId barrier(std::string_view name, Deps deps);

  // Stands for all of `deps` to tasks that each wait for every one of them: one barrier when
  // there are several, so that w such waiters on d tasks cost w + d edges rather than w x d and
  // the graph grows linearly with the chiplets.
  Deps joined(std::string_view name, Deps deps);

  TaskId transfer(std::string_view name, int chiplet, const Bytes& bytes, sim::Direction direction,
                  std::span<const TaskId> deps);

  TaskId compute(std::string_view name, int chiplet, const OpSum& work,
                 std::span<const TaskId> deps);

  // Whether dispatch and combine exclude compute: every compute created before one (in program
  // order) ends before it starts, every compute created after it starts after it ends.
  bool exclusive_a2a() const { return !policy_.overlap_a2a && !policy_.compute_during_a2a; }

  // Ends an exclusive all-to-all phase made of `flows` after `gate`; later computes wait for it.
  void close_a2a_phase(const Deps& flows, Deps gate);

  // What an exclusive all-to-all phase waits for: the computes since the last one (or it).
  Deps a2a_gate() const;

  // Streams a work through its chiplet's SRAM window, in pieces small enough that two fit.
  Ran run(const Work& w, const Deps& gate, const Deps& compute_deps);

  // Of `pieces` tasks that split some bytes evenly (in order), those that touch the bytes of
  // piece p of `of` pieces.
  static std::span<const TaskId> same_bytes(const Deps& pieces, int p, int of);

  // Adds a collective's flows; each waits for what its senders must finish (`ready_of`) under
  // overlap-a2a, else for `all` (every producer of the phase). Returns what waiting for the
  // whole phase means (`flows`), per receiver its flows, and the flow tasks added, in plan order.
  struct Exchange {
    Deps flows;
    std::map<int, Deps> into;
    Deps added;
  };

  // `all_to_all`: a dispatch or combine (exclusive of compute unless the policy says otherwise),
  // not another collective. The plan's labels and flows move into the graph.
  Exchange exchange(const net::CollectivePlan& plan, const std::map<int, Deps>& ready_of,
                    const Deps& all, bool all_to_all = true);

  // The flows of an earlier exchange (`flows`, its `added`) once more, as backward sends
  // gradients over the forward's routes: each a task of the same name, transfer and route.
  // `after`: per flow, the indices of the flows it follows (none when null).
  Exchange exchange_again(const Deps& flows, const std::map<int, Deps>& ready_of, const Deps& all,
                          bool all_to_all = true,
                          const std::vector<std::vector<int>>* after = nullptr);

  // A dispatch's or combine's plan, checked to have no order among its flows (exchange_again()
  // runs them again without one).
  static const net::CollectivePlan& independent(const net::CollectivePlan& plan);

  // What exchange() and exchange_again() share: `count` flows, flow i added by add_flow(i, deps)
  // and taking the channels uses(i).
  template <typename AddFlow, typename Uses>
  Exchange exchange_flows(std::size_t count, AddFlow&& add_flow, Uses&& uses,
                          const std::map<int, Deps>& ready_of, const Deps& all, bool all_to_all);

  // The routes of a micro-batch's tokens at one MoE layer, into routes_ (its storage reused
  // from layer to layer).
  const net::TokenRoutes& routes_of(int mb, std::size_t li);

  // Token copies the dispatch of `routes` sends (one per expert, or per distinct destination).
  double count_copies(const net::TokenRoutes& routes);

  // A micro-batch's dispatch and combine plans at MoE layer li and what they carry: from the
  // inputs' cache when an earlier step made them, else made (and kept there).
  const ExchangePlans::Entry& exchange_plans(int mb, std::size_t li);

  // The experts of MoE layer li on `chiplet`, in increasing order.
  const std::vector<int>& experts_on(std::size_t li, int chiplet) const {
    return experts_on_[li * hw_.chiplets.size() + static_cast<std::size_t>(chiplet)];
  }

  // Whether the priors make expert e likely (at least even odds) to get a token of a
  // micro-batch: streaming prefetches those before the router has run.
  bool likely_used(std::size_t li, int e) const;

  struct Streamed {
    int expert;
    bool prefetch;  // loaded ahead of need, without waiting for the router
  };

  // The experts of chiplet c in one layer pass, in the order they stream. Without streaming:
  // those with tokens, after the router. With streaming: heaviest first by the priors; the
  // forward prefetches the likely ones and loads any other that got tokens once routed.
  std::vector<Streamed> stream_order(std::size_t li, int chiplet, int mb, bool forward) const;

  // ---- the step ---------------------------------------------------------------------------

  // Layer by layer, each layer taking the micro-batches in turn: with overlap the attention
  // chiplets work on the next micro-batch while the experts work on this one; without, each
  // micro-batch's layer waits for the one before it.
  void step();

  // Forward streams in the weights and computes; backward also streams in any spilled
  // activations and writes the gradients (accumulate() adds the read of earlier ones).
  Work weight_work(std::string name, int c, std::span<const model::OpCost> ops, double w,
                   double saved, bool forward) const;

  // Runs a backward work that writes gradient `key`: when an earlier micro-batch wrote it, the
  // work first reads it back (after that write) to add to it.
  Ran accumulate(Work w, const GradientKey& key, const Deps& gate, const Deps& compute_deps);

  Work attention_work(int mb, int layer, std::size_t a, bool forward);

  Work expert_work(int mb, std::size_t li, int e, bool forward);

  Deps forward_layer(int mb, int layer, const Deps& input);

  // The routed experts of one layer, on every expert chiplet; returns each chiplet's computes.
  std::map<int, Deps> expert_pass(int mb, std::size_t li, bool forward, const Deps& gate,
                                  const Exchange& arrivals, const Deps& before);

  // Saved activations that do not stay in SRAM go to memory once the layer's forward is done.
  void spill_after_forward(int mb, int layer, const std::map<int, Deps>& computes);

  // A spilled layer's saved activations, read back with its backward work.
  double unspill_bytes(int mb, int layer, int c) const;

  Deps spill_writes(int mb, int layer, int c) const;

  // Final norm, LM head and loss, forward and backward, on the attention chiplets.
  Deps loss(int mb, const Deps& input);

  Deps backward_layer(int mb, int layer, const Deps& grad_in);

  // ---- the optimizer ----------------------------------------------------------------------

  // Adam over `params` parameters on chiplet c: the gradient and the states stream in, the
  // states and the weights stream back.
  Work adam_work(int c, double params, std::string name) const;

  double embedding_bytes() const { return lm_head_bytes() * (m_.tied_embeddings ? 1 : 2); }

  // The last writes of an attention layer's gradients (layer -1: the LM head's), on every
  // attention chiplet.
  Deps final_attention_writes(int layer);

  // With several attention chiplets (data-parallel attention) their gradients of `bytes` of
  // weights are summed before the update; returns what the update waits for.
  Deps reduced(double bytes, Deps written);

  // Each attention chiplet updates its share of a layer's (layer -1: the embeddings') weights.
  void update_attention(int layer, const Deps& gate);

  // Each expert chiplet updates its experts of one MoE layer that got a gradient this step
  // (those no token chose have none, and Adam skips a parameter without a gradient, as
  // PyTorch's does), once their last writes are done and `gate` is.
  void update_experts(std::size_t li, const Deps& gate);

  // Per-layer schedule: a layer's update once its last micro-batch's gradients are written.
  void update_layer(int layer);

  // The embeddings last: a tied input embedding's gradient is complete only when backward is.
  void update_embeddings();

  // Every task so far that no other waits for (gradient writes among them).
  Deps sinks() const;

  // End-of-step schedule: every update after everything else (the last gradient writes too),
  // as one phase.
  void update_at_end();

  const StepInputs& in_;
  const model::MoeModel& m_;
  const net::Network& net_;
  const hw::HwSpec& hw_;
  const Policy& policy_;
  const StepConfig& cfg_;
  const double b_;  // bytes per weight
  const double g_;  // bytes per accumulated gradient
  const std::vector<int> moe_layers_;
  StepPlan plan_;

  std::size_t tokens_per_mb_ = 0;
  std::vector<const placement::LayerPlacement*> layer_placement_;  // per MoE layer
  std::vector<int> chiplet_of_;               // [moe layer × experts + expert]
  std::vector<std::vector<int>> experts_on_;  // [moe layer × chiplets + chiplet]
  net::TokenRoutes routes_;                   // routes_of()'s
  ExchangePlans::Entry own_plans_;            // exchange_plans() without a cache
  std::vector<std::uint32_t> copy_stamp_;     // count_copies(): per node, the token last seen
  std::uint32_t copy_token_ = 0;
  std::vector<std::vector<int>> stacks_;    // per chiplet
  std::vector<int> attention_of_sequence_;  // chiplet of each sequence of a micro-batch
  std::vector<model::Batch> attention_batch_;
  std::map<std::pair<int, std::size_t>, std::vector<model::OpCost>> attention_ops_;
  std::vector<std::vector<std::vector<double>>> counts_;  // [mb][moe layer][expert]
  std::vector<std::vector<double>> prior_;                // [moe layer][expert]
  double prior_tokens_ = 1;                               // tokens prior_ counts
  std::map<GradientKey, Deps> gradient_writes_;           // the latest writes of each gradient
  bool optimizer_phase_ = false;                          // adding the end-of-step optimizer
  std::vector<ChipletDemand> demand_;                     // per chiplet
  MemoryPlan memory_;
  std::vector<SramWindow> windows_;
  // Per chiplet: its memory transfers' channels, reads and writes.
  std::vector<std::array<net::FlowSpec, 2>> memory_flow_;
  std::vector<TaskId> last_load_;  // per chiplet: loads start in program order
  std::vector<TaskId> tail_;       // per chiplet: its last release (no-overlap policies)
  std::map<std::tuple<int, int, int>, Deps> spill_write_;  // (micro-batch, chiplet, layer)
  // What run() and compute() assemble a task's dependencies in, kept from task to task (a
  // step has millions of them).
  Deps load_deps_, compute_deps_, with_a2a_;
  Deps computes_before_a2a_;  // computes since the last exclusive all-to-all phase
  TaskId last_a2a_ = -1;      // the end of that phase
  // The flows of the forward's dispatch and combine per micro-batch and MoE layer; backward
  // sends the gradients over them again.
  using A2aFlows = std::pair<Deps, Deps>;
  std::vector<std::vector<A2aFlows>> a2a_flows_;
  // The latest all-reduce of the attention chiplets' gradients: its bytes, its flows and their
  // order. Layers of equal weights reduce the same plan, which the next one runs again.
  struct Reduction {
    double bytes = 0;
    Deps flows;
    std::vector<std::vector<int>> after;
  };
  std::optional<Reduction> reduction_;
};

}  // namespace mozart::workload::detail
