#include "mozart/workload/training.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <numeric>
#include <set>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/model/params.hpp"
#include "mozart/workload/memory_plan.hpp"
#include "mozart/workload/op_timing.hpp"

namespace mozart::workload {
namespace {

using sim::TaskId;
using Deps = std::vector<TaskId>;
using Bytes = std::array<double, kTrafficKinds>;

Bytes traffic(Traffic kind, double bytes) {
  Bytes b{};
  b[static_cast<std::size_t>(kind)] = bytes;
  return b;
}

Bytes plus(Bytes a, const Bytes& b) {
  for (std::size_t i = 0; i < a.size(); ++i)
    a[i] += b[i];
  return a;
}

Bytes scaled(Bytes b, double factor) {
  for (double& x : b)
    x *= factor;
  return b;
}

void append(Deps& to, const Deps& from) {
  to.insert(to.end(), from.begin(), from.end());
}

OpSum scaled(OpSum s, double factor) {
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

  Deps admit(double bytes) {
    Deps wait;
    while (!held_.empty() && used_ + bytes > capacity_ * (1 + 1e-12)) {
      used_ -= held_.front().first;
      wait.push_back(held_.front().second);
      held_.pop_front();
    }
    return wait;
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

// The ends of a planned network flow, from its channels: senders are the nodes it leaves and
// never enters, receivers the nodes it enters and never leaves.
struct Ends {
  std::vector<int> senders, receivers;
};

Ends ends_of(const net::Network& network, const net::FlowSpec& flow) {
  std::set<int> from, to;
  for (const net::ChannelUse& u : flow.uses) {
    const net::Channel& c = network.channels()[static_cast<std::size_t>(u.channel)];
    from.insert(c.from);
    to.insert(c.to);
  }
  Ends ends;
  std::set_difference(from.begin(), from.end(), to.begin(), to.end(),
                      std::back_inserter(ends.senders));
  std::set_difference(to.begin(), to.end(), from.begin(), from.end(),
                      std::back_inserter(ends.receivers));
  return ends;
}

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

  StepPlan build() {
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

 private:
  // ---- inputs ---------------------------------------------------------------------------

  void check_inputs() {
    const auto& p = in_.placement;
    const auto& t = in_.trace;
    if (!p.model.empty() && p.model != m_.name)
      throw core::InputError({in_.placement_source, "model", 0}, p.model,
                             fmt::format("a placement of {}", m_.name));
    if (p.experts != m_.routed_experts)
      throw core::InputError({in_.placement_source, "experts", 0}, std::to_string(p.experts),
                             fmt::format("{} routed experts ({})", m_.routed_experts, m_.name));
    if (p.layout.hardware != hw_.name)
      throw core::InputError({in_.placement_source, "layout.hardware", 0}, p.layout.hardware,
                             fmt::format("a placement onto {}", hw_.name));
    check_trace(t, in_.trace_source);
    if (in_.priors)
      check_trace(*in_.priors, in_.priors_source);
    if (cfg_.micro_batches < 1 || cfg_.micro_batch.sequences < 1 || cfg_.micro_batch.seq_len < 1)
      throw core::InputError({"step", "batch", 0},
                             fmt::format("{} micro-batches of {} x {}", cfg_.micro_batches,
                                         cfg_.micro_batch.sequences, cfg_.micro_batch.seq_len),
                             "at least one micro-batch of at least one token");
    for (const hw::ChipletKind& kind : hw_.kinds)
      if (!(kind.peak(m_.dtype) > 0))
        throw core::InputError({hw_.name, fmt::format("chiplet_kinds.{}.peak_flops", kind.name), 0},
                               fmt::format("no {} entry", core::to_string(m_.dtype)),
                               fmt::format("a peak in {}, the data type {} trains in",
                                           core::to_string(m_.dtype), m_.name));
    tokens_per_mb_ = static_cast<std::size_t>(cfg_.micro_batch.tokens());
    const std::size_t need = cfg_.first_token + tokens_per_mb_ * std::size_t(cfg_.micro_batches);
    if (t.tokens < need)
      throw core::InputError(
          {in_.trace_source, "tokens", 0}, std::to_string(t.tokens),
          fmt::format("at least {} tokens for {} micro-batches of {} tokens "
                      "from token {}",
                      need, cfg_.micro_batches, tokens_per_mb_, cfg_.first_token));
    for (const int id : moe_layers_) {
      const auto at = std::find_if(p.layers.begin(), p.layers.end(),
                                   [id](const auto& l) { return l.layer_id == id; });
      if (at == p.layers.end())
        throw core::InputError({in_.placement_source, "layers", 0}, fmt::format("no layer {}", id),
                               "every MoE layer of the model");
      for (std::size_t e = 0; e < at->chiplets_of.size(); ++e)
        if (at->chiplets_of[e].size() != 1)
          throw core::InputError(
              {in_.placement_source, fmt::format("layers.{}.expert {}", id, e), 0},
              fmt::format("{} copies", at->chiplets_of[e].size()),
              "one copy per expert (training with replicas would need their gradients reduced, "
              "which the step does not model)");
      layer_placement_.push_back(&*at);
    }
  }

  void check_trace(const trace::Trace& t, const std::string& source) const {
    if (!t.model.empty() && t.model != m_.name)
      throw core::InputError({source, "model", 0}, t.model, fmt::format("a trace of {}", m_.name));
    if (t.shape.layer_ids != moe_layers_ || t.num_experts() != m_.routed_experts ||
        t.top_k() != m_.top_k)
      throw core::InputError(
          {source, "shape", 0},
          fmt::format("{} layers, {} experts, top-{}", t.layers(), t.num_experts(), t.top_k()),
          fmt::format("{}'s {} MoE layers, {} experts, top-{}", m_.name, m_.moe_layer_count(),
                      m_.routed_experts, m_.top_k));
  }

  void setup_chiplets() {
    plan_.platform = sim::make_platform(net_);
    plan_.graph = sim::TaskGraph(plan_.platform.engines);
    const int n = static_cast<int>(hw_.chiplets.size());
    plan_.attention_chiplets = hw_.chiplets_with_role(hw::Role::attention);
    if (plan_.attention_chiplets.empty())
      for (int c = 0; c < n; ++c)
        plan_.attention_chiplets.push_back(c);
    for (const std::string& name : in_.placement.layout.chiplets) {
      const auto node = hw_.find_node(name);
      if (!node || hw_.is_switch(*node))
        throw core::InputError({in_.placement_source, "layout.chiplets", 0}, name,
                               fmt::format("a chiplet of {}", hw_.name));
      plan_.expert_chiplets.push_back(*node);
    }
    for (int c = 0; c < n; ++c)
      stacks_.push_back(sim::stacks_of(hw_, c));
    windows_.resize(static_cast<std::size_t>(n));
    memory_flow_.resize(static_cast<std::size_t>(n));
    last_load_.assign(static_cast<std::size_t>(n), -1);
    tail_.assign(static_cast<std::size_t>(n), -1);
    // Sequences of a micro-batch, shared out among the attention chiplets.
    const int na = static_cast<int>(plan_.attention_chiplets.size());
    const int seqs = cfg_.micro_batch.sequences;
    for (int a = 0; a < na; ++a) {
      model::Batch share = cfg_.micro_batch;
      share.sequences = seqs / na + (a < seqs % na ? 1 : 0);
      for (int s = 0; s < share.sequences; ++s)
        attention_of_sequence_.push_back(plan_.attention_chiplets[static_cast<std::size_t>(a)]);
      attention_batch_.push_back(share);
    }
  }

  int moe_index(int layer) const {
    const auto at = std::find(moe_layers_.begin(), moe_layers_.end(), layer);
    return at == moe_layers_.end() ? -1 : static_cast<int>(at - moe_layers_.begin());
  }

  int chiplet_of(std::size_t li, int expert) const {
    const int slot = layer_placement_[li]->chiplets_of[static_cast<std::size_t>(expert)][0];
    return plan_.expert_chiplets[static_cast<std::size_t>(slot)];
  }

  // Tokens per expert per micro-batch, from the trace's own tokens.
  void count_tokens() {
    const auto& t = in_.trace;
    const std::size_t layers = layer_placement_.size();
    const auto experts = static_cast<std::size_t>(m_.routed_experts);
    counts_.assign(static_cast<std::size_t>(cfg_.micro_batches),
                   std::vector<std::vector<double>>(layers, std::vector<double>(experts, 0)));
    for (std::size_t li = 0; li < layers; ++li) {
      for (int mb = 0; mb < cfg_.micro_batches; ++mb) {
        const std::size_t first = cfg_.first_token + std::size_t(mb) * tokens_per_mb_;
        for (std::size_t tok = first; tok < first + tokens_per_mb_; ++tok)
          for (const trace::ExpertId e : t.choices(static_cast<int>(li), tok))
            counts_[static_cast<std::size_t>(mb)][li][e] += 1;
      }
    }
    plan_.tokens = double(tokens_per_mb_) * cfg_.micro_batches;
    for (const auto& per_mb : counts_)
      for (const auto& layer : per_mb)
        plan_.routed_slots += std::accumulate(layer.begin(), layer.end(), 0.0);
  }

  // Tokens per expert in routing the step does not run, which streaming goes by: a priors
  // trace, else the previous step (the trace's tokens before the step's first), else uniform.
  // Never the step's own routing, which is not known before its routers run.
  void count_priors() {
    const std::size_t layers = layer_placement_.size();
    const auto experts = static_cast<std::size_t>(m_.routed_experts);
    prior_.assign(layers, std::vector<double>(experts, 0));
    const trace::Trace& t = in_.priors ? *in_.priors : in_.trace;
    const std::size_t tokens = in_.priors ? t.tokens : cfg_.first_token;
    if (tokens == 0) {
      for (auto& layer : prior_)
        std::fill(layer.begin(), layer.end(), double(m_.top_k) / double(experts));
      prior_tokens_ = 1;
      note_prefetches();
      plan_.priors = "uniform (no priors trace and no tokens before the step's first)";
      return;
    }
    for (std::size_t li = 0; li < layers; ++li)
      for (std::size_t tok = 0; tok < tokens; ++tok)
        for (const trace::ExpertId e : t.choices(static_cast<int>(li), tok))
          prior_[li][e] += 1;
    prior_tokens_ = double(tokens);
    note_prefetches();
    plan_.priors = in_.priors
                       ? fmt::format("{} ({} tokens)", in_.priors_source, tokens)
                       : fmt::format("the previous step: the {} tokens of {} before token {}",
                                     tokens, in_.trace_source, cfg_.first_token);
  }

  void note_prefetches() {
    if (!policy_.streaming)
      return;
    plan_.prefetch.assign(prior_.size(), std::vector<bool>(prior_.empty() ? 0 : prior_[0].size()));
    for (std::size_t li = 0; li < prior_.size(); ++li)
      for (std::size_t e = 0; e < prior_[li].size(); ++e)
        plan_.prefetch[li][e] = likely_used(li, int(e));
  }

  // ---- what each chiplet computes -------------------------------------------------------

  // Attention, norms, router, shared experts or dense FFN: everything of a layer but the
  // routed experts.
  const std::vector<model::OpCost>& attention_ops(int layer, std::size_t a) {
    auto& cache = attention_ops_[{layer, a}];
    if (cache.empty())
      for (model::OpCost& op : model::layer_forward_ops(m_, layer, attention_batch_[a]))
        if (op.expert < 0)
          cache.push_back(std::move(op));
    return cache;
  }

  const hw::ChipletKind& kind_of(int chiplet) const {
    return hw_
        .kinds[static_cast<std::size_t>(hw_.chiplets[static_cast<std::size_t>(chiplet)].kind)];
  }

  OpSum timed(std::span<const model::OpCost> ops, int chiplet) const {
    return time_ops(ops, kind_of(chiplet), m_.dtype);
  }

  OpSum backward_of(std::span<const model::OpCost> forward, int chiplet) const {
    OpSum s = timed(model::backward_ops(forward, model::Pass::backward_input), chiplet);
    s += timed(model::backward_ops(forward, model::Pass::backward_weight), chiplet);
    return s;
  }

  double expert_bytes() const { return double(model::routed_expert_params(m_)) * b_; }

  // The accumulated gradient of weights of `weight_bytes`.
  double gradient_bytes(double weight_bytes) const { return weight_bytes / b_ * g_; }

  // SRAM a backward work holds per weight byte: the weights and their gradient.
  double backward_hold(double weight_bytes) const {
    return weight_bytes + gradient_bytes(weight_bytes);
  }

  double attention_weight_bytes(int layer, std::size_t a) {
    double w = 0;
    for (const auto& op : attention_ops(layer, a))
      w += op.weight_bytes;
    return w;
  }

  double lm_head_bytes() const { return double(m_.vocab) * m_.hidden * b_; }

  // ---- SRAM and memory planning ---------------------------------------------------------

  // What each chiplet's memory must hold: working activations (ops tile over tokens, so only
  // a layer's input, residual and output stay whole), the activations each layer of each
  // micro-batch saves for backward (every op's inputs), the largest streamed work (weights and
  // their gradients), and the resident weights.
  std::vector<ChipletDemand> memory_demand() {
    const std::size_t n = hw_.chiplets.size();
    const auto mbs = static_cast<std::size_t>(cfg_.micro_batches);
    const auto layers = static_cast<std::size_t>(m_.layers);
    std::vector<ChipletDemand> demand(n);
    for (ChipletDemand& d : demand)
      d.saved.assign(mbs, std::vector<double>(layers, 0));
    for (std::size_t a = 0; a < plan_.attention_chiplets.size(); ++a) {
      ChipletDemand& d = demand[static_cast<std::size_t>(plan_.attention_chiplets[a])];
      d.working = std::max(d.working, 3 * attention_batch_[a].tokens() * m_.hidden * b_);
      d.weights += lm_head_bytes() * (m_.tied_embeddings ? 1 : 2);
      for (int l = 0; l < m_.layers; ++l) {
        double saved = 0;
        for (const auto& op : attention_ops(l, a))
          saved += op.input_bytes;
        for (auto& per_layer : d.saved)
          per_layer[static_cast<std::size_t>(l)] += saved;
        d.largest_hold = std::max(d.largest_hold, backward_hold(attention_weight_bytes(l, a)));
        d.weights += attention_weight_bytes(l, a);
      }
    }
    for (std::size_t li = 0; li < layer_placement_.size(); ++li) {
      const auto layer = static_cast<std::size_t>(moe_layers_[li]);
      for (int e = 0; e < m_.routed_experts; ++e) {
        ChipletDemand& d = demand[static_cast<std::size_t>(chiplet_of(li, e))];
        d.largest_hold = std::max(d.largest_hold, backward_hold(expert_bytes()));
        d.weights += expert_bytes();
      }
      for (std::size_t mb = 0; mb < mbs; ++mb) {
        std::vector<double> received(n, 0);
        for (int e = 0; e < m_.routed_experts; ++e) {
          const double tokens = counts_[mb][li][static_cast<std::size_t>(e)];
          const auto c = static_cast<std::size_t>(chiplet_of(li, e));
          received[c] += tokens;
          demand[c].saved[mb][layer] += expert_saved_bytes(tokens);
        }
        for (std::size_t c = 0; c < n; ++c)  // tokens in and results out
          demand[c].working = std::max(demand[c].working, 2 * received[c] * m_.hidden * b_);
      }
    }
    return demand;
  }

  void plan_memory_use() {
    demand_ = memory_demand();
    // Per weight byte: the weight, its accumulated gradient and (with Adam) its states.
    const double resident =
        1.0 + g_ / b_ + (cfg_.optimizer ? cfg_.adam.state_bytes_per_param / b_ : 0);
    memory_ =
        plan_memory(hw_, demand_, resident, m_.name, tokens_per_mb_, cfg_.weights_may_overflow);
    plan_.sram_reserved = memory_.sram_reserved;
    plan_.sram_window = memory_.sram_window;
    plan_.memory_weights = memory_.stack_weights;
    plan_.memory_needed = memory_.stack_needed;
    for (std::size_t c = 0; c < windows_.size(); ++c)
      windows_[c] = SramWindow(memory_.sram_window[c]);
  }

  double expert_saved_bytes(double tokens) const {
    return tokens * (double(m_.hidden) + 3.0 * m_.expert_ffn) * b_;
  }

  double saved_bytes(int mb, int layer, int c) const {
    return demand_[static_cast<std::size_t>(c)]
        .saved[static_cast<std::size_t>(mb)][static_cast<std::size_t>(layer)];
  }

  bool spilled(int mb, int layer, int c) const {
    return memory_.spilled[static_cast<std::size_t>(c)][static_cast<std::size_t>(mb)]
                          [static_cast<std::size_t>(layer)];
  }

  // ---- tasks ----------------------------------------------------------------------------

  TaskId note(TaskId id, TaskInfo info) {
    if (plan_.info.size() <= static_cast<std::size_t>(id))
      plan_.info.resize(static_cast<std::size_t>(id) + 1);
    info.optimizer_phase = optimizer_phase_;
    plan_.info[static_cast<std::size_t>(id)] = info;
    return id;
  }

  TaskId barrier(std::string name, Deps deps) {
    return note(plan_.graph.add_delay(std::move(name), 0, std::move(deps)), {});
  }

  // Stands for all of `deps` to tasks that each wait for every one of them: one barrier when
  // there are several, so that w such waiters on d tasks cost w + d edges rather than w x d and
  // the graph grows linearly with the chiplets.
  Deps joined(std::string name, Deps deps) {
    if (deps.size() <= 1)
      return deps;
    return {barrier(std::move(name), std::move(deps))};
  }

  TaskId transfer(std::string name, int chiplet, const Bytes& bytes, sim::Direction direction,
                  Deps deps) {
    if (total_bytes(bytes) <= 0)
      return barrier(std::move(name), std::move(deps));
    TaskInfo info;
    info.activity = Activity::memory;
    info.chiplet = chiplet;
    info.bytes = bytes;
    auto& striped = memory_flow_[static_cast<std::size_t>(chiplet)]
                                [direction == sim::Direction::to_sram ? 0 : 1];
    if (striped.uses.empty())
      striped = sim::striped_transfer(
          net_, plan_.platform, stacks_[static_cast<std::size_t>(chiplet)], chiplet, 0, direction);
    net::FlowSpec flow = striped;
    flow.bytes = total_bytes(bytes);
    return note(plan_.graph.add_flow(std::move(name), std::move(flow), std::move(deps)), info);
  }

  TaskId compute(std::string name, int chiplet, const OpSum& work, Deps deps) {
    TaskInfo info;
    info.activity = Activity::compute;
    info.chiplet = chiplet;
    info.flops = work.flops;
    info.sram_bytes = work.sram_bytes;
    plan_.flops += work.flops;
    if (exclusive_a2a() && last_a2a_ >= 0)
      deps.push_back(last_a2a_);
    const TaskId id = note(
        plan_.graph.add_compute(std::move(name), chiplet, work.seconds, std::move(deps)), info);
    if (exclusive_a2a())
      computes_before_a2a_.push_back(id);
    return id;
  }

  // Whether dispatch and combine exclude compute: every compute created before one (in program
  // order) ends before it starts, every compute created after it starts after it ends.
  bool exclusive_a2a() const { return !policy_.overlap_a2a && !policy_.compute_during_a2a; }

  // Ends an exclusive all-to-all phase made of `flows` after `gate`; later computes wait for it.
  void close_a2a_phase(const Deps& flows, Deps gate) {
    append(gate, flows);
    last_a2a_ = barrier("all-to-all phase done", std::move(gate));
    computes_before_a2a_.clear();
  }

  // What an exclusive all-to-all phase waits for: the computes since the last one (or it).
  Deps a2a_gate() const {
    Deps gate = computes_before_a2a_;
    if (last_a2a_ >= 0)
      gate.push_back(last_a2a_);
    return gate;
  }

  // Streams a work through its chiplet's SRAM window, in pieces small enough that two fit.
  Ran run(const Work& w, const Deps& gate, const Deps& compute_deps) {
    const int c = w.chiplet;
    SramWindow& window = windows_[static_cast<std::size_t>(c)];
    const int pieces = std::max(1, int(std::ceil(w.hold / (window.capacity() / 2))));
    const double f = 1.0 / pieces;
    Ran ran;
    for (int p = 0; p < pieces; ++p) {
      const std::string name =
          pieces == 1 ? w.name : fmt::format("{} [{}/{}]", w.name, p + 1, pieces);
      Deps load_deps = gate;
      append(load_deps, window.admit(w.hold * f));
      if (last_load_[c] >= 0)
        load_deps.push_back(last_load_[c]);
      if (!policy_.overlap && tail_[c] >= 0)
        load_deps.push_back(tail_[c]);
      const Deps read_after = same_bytes(w.read_after, p, pieces);
      append(load_deps, read_after);
      const TaskId load = transfer(name + " load", c, scaled(w.load, f), sim::Direction::to_sram,
                                   std::move(load_deps));
      if (!read_after.empty())
        plan_.gradient_reads.push_back({load, read_after});
      last_load_[c] = load;
      Deps deps = compute_deps;
      deps.push_back(load);
      if (!ran.computes.empty())
        deps.push_back(ran.computes.back());
      const TaskId done = compute(name, c, scaled(w.compute, f), std::move(deps));
      TaskId release = done;
      if (total_bytes(w.write) > 0) {
        release =
            transfer(name + " write", c, scaled(w.write, f), sim::Direction::to_memory, {done});
        ran.writes.push_back(release);
      }
      window.hold(w.hold * f, release);
      plan_.holds.push_back({c, w.hold * f, load, release});
      tail_[c] = release;
      ran.computes.push_back(done);
    }
    return ran;
  }

  // Of `pieces` tasks that split some bytes evenly (in order), those that touch the bytes of
  // piece p of `of` pieces.
  static Deps same_bytes(const Deps& pieces, int p, int of) {
    const std::size_t q = pieces.size();
    const std::size_t from = q * std::size_t(p) / std::size_t(of);
    const std::size_t to = (q * std::size_t(p + 1) + std::size_t(of) - 1) / std::size_t(of);
    return Deps(pieces.begin() + std::ptrdiff_t(from), pieces.begin() + std::ptrdiff_t(to));
  }

  // Adds a collective's flows; each waits for what its senders must finish (`ready_of`) under
  // overlap-a2a, else for `all` (every producer of the phase). Returns the flows and, per receiver,
  // its flows.
  struct Exchange {
    Deps flows;
    std::map<int, Deps> into;
  };

  // `all_to_all`: a dispatch or combine (exclusive of compute unless the policy says otherwise),
  // not another collective. The plan's labels and flows move into the graph.
  Exchange exchange(net::CollectivePlan plan, const std::map<int, Deps>& ready_of, const Deps& all,
                    bool all_to_all = true) {
    Exchange ex;
    const bool exclusive = all_to_all && exclusive_a2a();
    const Deps gate = exclusive ? a2a_gate() : Deps{};
    // A synchronous phase's flows all wait for the same tasks: one barrier stands for them, so
    // the graph holds producers + flows edges rather than their product.
    Deps start;
    if (!policy_.overlap_a2a && !plan.flows.empty()) {
      Deps before = all;
      append(before, gate);
      start = {barrier("all-to-all phase start", std::move(before))};
    }
    for (net::PlannedFlow& f : plan.flows) {
      // Only flows that start on their own need their ends (senders and receivers).
      const Ends ends = policy_.overlap_a2a ? ends_of(net_, f.spec) : Ends{};
      Deps deps = start;
      if (policy_.overlap_a2a) {
        for (const int s : ends.senders)
          if (const auto it = ready_of.find(s); it != ready_of.end())
            append(deps, it->second);
        append(deps, gate);
      }
      for (const int after : f.after)
        deps.push_back(ex.flows[static_cast<std::size_t>(after)]);
      TaskInfo info;
      info.activity = Activity::network;
      const TaskId id =
          note(plan_.graph.add_flow(std::move(f.label), std::move(f.spec), std::move(deps)), info);
      ex.flows.push_back(id);
      for (const int r : ends.receivers)
        ex.into[r].push_back(id);
    }
    if (exclusive)
      close_a2a_phase(ex.flows, gate);
    // Whoever waits for a whole phase waits for all of it: one barrier stands for its flows, so
    // consumers x flows edges become consumers + flows (under overlap-a2a, each receiver's own
    // flows stay in `into`).
    if (ex.flows.size() > 1)
      ex.flows = {exclusive ? last_a2a_ : barrier("all-to-all phase done", ex.flows)};
    return ex;
  }

  net::TokenRoutes routes_of(int mb, std::size_t li) const {
    net::TokenRoutes routes;
    const std::size_t first = cfg_.first_token + std::size_t(mb) * tokens_per_mb_;
    routes.source.reserve(tokens_per_mb_);
    routes.destinations.reserve(tokens_per_mb_);
    for (std::size_t t = 0; t < tokens_per_mb_; ++t) {
      const std::size_t seq = t / static_cast<std::size_t>(cfg_.micro_batch.seq_len);
      routes.source.push_back(attention_of_sequence_[seq]);
      const auto choices = in_.trace.choices(static_cast<int>(li), first + t);
      std::vector<int>& dests = routes.destinations.emplace_back();
      dests.reserve(choices.size());
      for (const trace::ExpertId e : choices)
        dests.push_back(chiplet_of(li, e));
    }
    return routes;
  }

  void count_copies(const net::TokenRoutes& routes) {
    std::vector<int> d;  // reused from token to token
    for (const auto& dests : routes.destinations) {
      plan_.dispatched_tokens += 1;
      if (policy_.all_to_all == net::AllToAllMode::copy_per_expert) {
        plan_.dispatched_copies += double(dests.size());
      } else {
        d.assign(dests.begin(), dests.end());
        std::sort(d.begin(), d.end());
        plan_.dispatched_copies += double(std::unique(d.begin(), d.end()) - d.begin());
      }
    }
  }

  std::vector<int> experts_on(std::size_t li, int chiplet) const {
    std::vector<int> out;
    for (int e = 0; e < m_.routed_experts; ++e)
      if (chiplet_of(li, e) == chiplet)
        out.push_back(e);
    return out;
  }

  // Whether the priors make expert e likely (at least even odds) to get a token of a
  // micro-batch: streaming prefetches those before the router has run.
  bool likely_used(std::size_t li, int e) const {
    const double p = prior_[li][static_cast<std::size_t>(e)] / prior_tokens_;
    return 1 - std::pow(1 - std::min(p, 1.0), double(tokens_per_mb_)) >= 0.5;
  }

  struct Streamed {
    int expert;
    bool prefetch;  // loaded ahead of need, without waiting for the router
  };

  // The experts of chiplet c in one layer pass, in the order they stream. Without streaming:
  // those with tokens, after the router. With streaming: heaviest first by the priors; the
  // forward prefetches the likely ones and loads any other that got tokens once routed.
  std::vector<Streamed> stream_order(std::size_t li, int chiplet, int mb, bool forward) const {
    const auto& counts = counts_[static_cast<std::size_t>(mb)][li];
    std::vector<Streamed> order;
    for (const int e : experts_on(li, chiplet)) {
      const bool used = counts[static_cast<std::size_t>(e)] > 0;
      const bool prefetch =
          policy_.streaming && (!forward || plan_.prefetch[li][static_cast<std::size_t>(e)]);
      if (used || (forward && prefetch))
        order.push_back({e, prefetch});
    }
    if (policy_.streaming)
      std::stable_sort(order.begin(), order.end(), [&](const Streamed& x, const Streamed& y) {
        if (x.prefetch != y.prefetch)
          return x.prefetch;
        return prior_[li][static_cast<std::size_t>(x.expert)] >
               prior_[li][static_cast<std::size_t>(y.expert)];
      });
    return order;
  }

  // ---- the step ---------------------------------------------------------------------------

  // Layer by layer, each layer taking the micro-batches in turn: with overlap the attention
  // chiplets work on the next micro-batch while the experts work on this one; without, each
  // micro-batch's layer waits for the one before it.
  void step() {
    const auto mbs = static_cast<std::size_t>(cfg_.micro_batches);
    plans_.assign(mbs, std::vector<Plans>(layer_placement_.size()));
    std::vector<Deps> at(mbs);  // each micro-batch's latest output
    const auto advance = [&](auto&& stage) {
      for (std::size_t mb = 0; mb < mbs; ++mb) {
        Deps in = at[mb];
        if (!policy_.overlap && mb > 0)
          append(in, at[mb - 1]);
        at[mb] = stage(static_cast<int>(mb), in);
      }
    };
    for (int l = 0; l < m_.layers; ++l)
      advance([&](int mb, const Deps& in) { return forward_layer(mb, l, in); });
    advance([&](int mb, const Deps& in) { return loss(mb, in); });
    const bool per_layer =
        cfg_.optimizer && cfg_.optimizer_schedule == OptimizerSchedule::per_layer;
    for (int l = m_.layers - 1; l >= 0; --l) {
      advance([&](int mb, const Deps& in) { return backward_layer(mb, l, in); });
      if (per_layer)  // issued here so that each chiplet's loads keep their program order
        update_layer(l);
    }
    if (per_layer)
      update_embeddings();
  }

  // Forward streams in the weights and computes; backward also streams in any spilled
  // activations and writes the gradients (accumulate() adds the read of earlier ones).
  Work weight_work(std::string name, int c, std::span<const model::OpCost> ops, double w,
                   double saved, bool forward) const {
    Work work;
    work.name = std::move(name);
    work.chiplet = c;
    if (forward) {
      work.load = traffic(Traffic::weights, w);
      work.hold = w;
      work.compute = timed(ops, c);
      return work;
    }
    work.load = plus(traffic(Traffic::weights, w), traffic(Traffic::activations, saved));
    work.hold = backward_hold(w) + saved;
    work.compute = backward_of(ops, c);
    work.write = traffic(Traffic::gradients, gradient_bytes(w));
    return work;
  }

  // Runs a backward work that writes gradient `key`: when an earlier micro-batch wrote it, the
  // work first reads it back (after that write) to add to it.
  Ran accumulate(Work w, const GradientKey& key, const Deps& gate, const Deps& compute_deps) {
    Deps& last = gradient_writes_[key];
    if (!last.empty()) {
      w.load = plus(w.load, traffic(Traffic::gradients, total_bytes(w.write)));
      w.read_after = last;
    }
    Ran ran = run(w, gate, compute_deps);
    last = ran.writes;
    return ran;
  }

  Work attention_work(int mb, int layer, std::size_t a, bool forward) {
    const int c = plan_.attention_chiplets[a];
    return weight_work(fmt::format("mb{} L{} attention {}", mb, layer, forward ? "fwd" : "bwd"), c,
                       attention_ops(layer, a), attention_weight_bytes(layer, a),
                       forward ? 0 : unspill_bytes(mb, layer, c), forward);
  }

  Work expert_work(int mb, std::size_t li, int e, bool forward) {
    const int c = chiplet_of(li, e);
    const double tokens = counts_[static_cast<std::size_t>(mb)][li][static_cast<std::size_t>(e)];
    const int layer = moe_layers_[li];
    // This expert's share of its chiplet's spilled activations.
    const double saved =
        !forward && unspill_bytes(mb, layer, c) > 0 ? expert_saved_bytes(tokens) : 0;
    return weight_work(fmt::format("mb{} L{} expert{} {} ({} tokens)", mb, layer, e,
                                   forward ? "fwd" : "bwd", tokens),
                       c, model::expert_forward_ops(m_, tokens, e), expert_bytes(), saved, forward);
  }

  Deps forward_layer(int mb, int layer, const Deps& input) {
    const Deps gate = policy_.streaming ? Deps{} : input;
    std::map<int, Deps> attention_done;
    Deps all_attention;
    for (std::size_t a = 0; a < plan_.attention_chiplets.size(); ++a) {
      if (attention_batch_[a].sequences == 0)
        continue;
      const Ran ran = run(attention_work(mb, layer, a, true), gate, input);
      attention_done[plan_.attention_chiplets[a]] = ran.computes;
      append(all_attention, ran.computes);
    }
    spill_after_forward(mb, layer, attention_done);
    all_attention = joined(fmt::format("mb{} L{} attention done", mb, layer), all_attention);
    const int li_signed = moe_index(layer);
    if (li_signed < 0)
      return all_attention;
    const auto li = static_cast<std::size_t>(li_signed);
    {
      const net::TokenRoutes routes = routes_of(mb, li);
      count_copies(routes);
      const double token_bytes = double(m_.hidden) * b_;
      plans_[static_cast<std::size_t>(mb)][li] = {
          net::dispatch(net_, routes, token_bytes, policy_.all_to_all),
          net::combine(net_, routes, token_bytes, policy_.all_to_all)};
    }
    const Plans& plans = plans_[static_cast<std::size_t>(mb)][li];
    const Exchange dispatch = exchange(plans.first, attention_done, all_attention);
    const std::map<int, Deps> experts_done =
        expert_pass(mb, li, true,
                    policy_.streaming ? Deps{} : (policy_.overlap ? all_attention : dispatch.flows),
                    dispatch, all_attention);
    spill_after_forward(mb, layer, experts_done);
    Deps all_experts;
    for (const auto& [c, d] : experts_done)
      append(all_experts, d);
    const Exchange combine = exchange(plans.second, experts_done, all_experts);
    Deps out = combine.flows;
    append(out, all_experts);
    append(out, all_attention);
    return joined(fmt::format("mb{} L{} fwd done", mb, layer), std::move(out));
  }

  // The routed experts of one layer, on every expert chiplet; returns each chiplet's computes.
  std::map<int, Deps> expert_pass(int mb, std::size_t li, bool forward, const Deps& gate,
                                  const Exchange& arrivals, const Deps& before) {
    const int layer = moe_layers_[li];
    std::map<int, Deps> done;
    for (const int c : plan_.expert_chiplets) {
      Deps deps = before;
      if (policy_.overlap_a2a) {
        if (const auto it = arrivals.into.find(c); it != arrivals.into.end())
          append(deps, joined(fmt::format("mb{} L{} arrived at {}", mb, layer, hw_.node_name(c)),
                              it->second));
      } else {
        append(deps, arrivals.flows);
      }
      Deps load_gate = gate;
      if (!forward)
        append(load_gate, spill_writes(mb, layer, c));
      Deps& computes = done[c];
      for (const Streamed& x : stream_order(li, c, mb, forward)) {
        Deps expert_gate = load_gate;
        if (policy_.streaming && !x.prefetch)
          append(expert_gate, before);  // routed to it against the odds: load once known
        Work work = expert_work(mb, li, x.expert, forward);
        const Ran ran = forward
                            ? run(work, expert_gate, deps)
                            : accumulate(std::move(work), {GradientOf::expert, int(li), x.expert},
                                         expert_gate, deps);
        append(computes, ran.computes);
      }
    }
    return done;
  }

  // Saved activations that do not stay in SRAM go to memory once the layer's forward is done.
  void spill_after_forward(int mb, int layer, const std::map<int, Deps>& computes) {
    for (const auto& [c, deps] : computes) {
      if (deps.empty() || !spilled(mb, layer, c))
        continue;
      const double bytes = saved_bytes(mb, layer, c);
      plan_.spilled_bytes += bytes;
      spill_write_[{mb, c, layer}].push_back(transfer(fmt::format("mb{} L{} spill", mb, layer), c,
                                                      traffic(Traffic::activations, bytes),
                                                      sim::Direction::to_memory, deps));
    }
  }

  // A spilled layer's saved activations, read back with its backward work.
  double unspill_bytes(int mb, int layer, int c) const {
    return spilled(mb, layer, c) ? saved_bytes(mb, layer, c) : 0;
  }

  Deps spill_writes(int mb, int layer, int c) const {
    const auto it = spill_write_.find({mb, c, layer});
    return it == spill_write_.end() ? Deps{} : it->second;
  }

  // Final norm, LM head and loss, forward and backward, on the attention chiplets.
  Deps loss(int mb, const Deps& input) {
    Deps out;
    const double w = lm_head_bytes();
    for (std::size_t a = 0; a < plan_.attention_chiplets.size(); ++a) {
      if (attention_batch_[a].sequences == 0)
        continue;
      const int c = plan_.attention_chiplets[a];
      const auto ops = model::io_forward_ops(m_, attention_batch_[a]);
      Work work;
      work.name = fmt::format("mb{} lm_head", mb);
      work.chiplet = c;
      work.load = traffic(Traffic::weights, w);
      work.hold = backward_hold(w);
      work.compute = timed(ops, c);
      work.compute += backward_of(ops, c);
      work.write = traffic(Traffic::gradients, gradient_bytes(w));
      append(out, accumulate(std::move(work), {GradientOf::lm_head, 0, int(a)},
                             policy_.streaming ? Deps{} : input, input)
                      .computes);
    }
    return joined(fmt::format("mb{} loss done", mb), std::move(out));
  }

  Deps backward_layer(int mb, int layer, const Deps& grad_in) {
    const Deps gate = policy_.streaming ? Deps{} : grad_in;
    Deps attention_in = grad_in;
    const int li_signed = moe_index(layer);
    if (li_signed >= 0) {
      const auto li = static_cast<std::size_t>(li_signed);
      // Gradients travel the forward's routes: the combine's gradient goes out as a dispatch,
      // the dispatch's comes back as a combine.
      std::map<int, Deps> ready;
      for (const int a : plan_.attention_chiplets)
        ready[a] = grad_in;
      // The backward is the plans' last use: their flows move into the graph.
      Plans& plans = plans_[static_cast<std::size_t>(mb)][li];
      const Exchange grads_out = exchange(std::move(plans.first), ready, grad_in);
      const std::map<int, Deps> experts_done = expert_pass(
          mb, li, false, policy_.streaming ? Deps{} : (policy_.overlap ? grad_in : grads_out.flows),
          grads_out, grad_in);
      Deps all_experts;
      for (const auto& [c, d] : experts_done)
        append(all_experts, d);
      const Exchange grads_back = exchange(std::move(plans.second), experts_done, all_experts);
      attention_in = grads_back.flows;
      append(attention_in, all_experts);
      append(attention_in, grad_in);
      attention_in = joined(fmt::format("mb{} L{} experts bwd done", mb, layer), attention_in);
    }
    Deps out;
    for (std::size_t a = 0; a < plan_.attention_chiplets.size(); ++a) {
      if (attention_batch_[a].sequences == 0)
        continue;
      const int c = plan_.attention_chiplets[a];
      Deps load_gate = gate;
      append(load_gate, spill_writes(mb, layer, c));
      append(out, accumulate(attention_work(mb, layer, a, false),
                             {GradientOf::attention, layer, int(a)}, load_gate, attention_in)
                      .computes);
    }
    return joined(fmt::format("mb{} L{} bwd done", mb, layer), std::move(out));
  }

  // ---- the optimizer ----------------------------------------------------------------------

  // Adam over `params` parameters on chiplet c: the gradient and the states stream in, the
  // states and the weights stream back.
  Work adam_work(int c, double params, std::string name) const {
    const double state = cfg_.adam.state_bytes_per_param;
    model::OpCost op;
    op.kind = model::OpKind::optimizer;
    op.flops = params * cfg_.adam.flops_per_param;
    op.weight_bytes = params * (g_ + b_ + 2 * state);
    Work w;
    w.name = std::move(name);
    w.chiplet = c;
    w.load = plus(traffic(Traffic::gradients, params * g_),
                  traffic(Traffic::optimizer_states, params * state));
    w.hold = params * (g_ + state);
    w.compute = timed(std::span(&op, 1), c);
    w.write = plus(traffic(Traffic::optimizer_states, params * state),
                   traffic(Traffic::weights, params * b_));
    return w;
  }

  double embedding_bytes() const { return lm_head_bytes() * (m_.tied_embeddings ? 1 : 2); }

  // The last writes of an attention layer's gradients (layer -1: the LM head's), on every
  // attention chiplet.
  Deps final_attention_writes(int layer) {
    Deps out;
    for (std::size_t a = 0; a < plan_.attention_chiplets.size(); ++a)
      append(out, gradient_writes_[layer < 0 ? GradientKey{GradientOf::lm_head, 0, int(a)}
                                             : GradientKey{GradientOf::attention, layer, int(a)}]);
    return out;
  }

  // With several attention chiplets (data-parallel attention) their gradients of `bytes` of
  // weights are summed before the update; returns what the update waits for.
  Deps reduced(double bytes, Deps written) {
    const auto& attn = plan_.attention_chiplets;
    if (attn.size() <= 1)
      return written;
    written = joined("gradients written", std::move(written));
    std::map<int, Deps> ready;
    for (const int a : attn)
      ready[a] = written;
    Deps gate =
        exchange(net::all_reduce(net_, attn, gradient_bytes(bytes), net::AllReduceAlgorithm::ring),
                 ready, written, false)
            .flows;
    append(gate, written);
    return joined("gradients reduced", std::move(gate));
  }

  // Each attention chiplet updates its share of a layer's (layer -1: the embeddings') weights.
  void update_attention(int layer, const Deps& gate) {
    const auto& attn = plan_.attention_chiplets;
    const std::string name =
        layer < 0 ? std::string("adam embeddings") : fmt::format("adam L{} attention", layer);
    for (std::size_t a = 0; a < attn.size(); ++a) {
      const double bytes = layer < 0 ? embedding_bytes() : attention_weight_bytes(layer, a);
      run(adam_work(attn[a], bytes / b_ / double(attn.size()), name), gate, gate);
    }
  }

  // Each expert chiplet updates its experts of one MoE layer that got a gradient this step
  // (those no token chose have none, and Adam skips a parameter without a gradient, as
  // PyTorch's does), once their last writes are done and `gate` is.
  void update_experts(std::size_t li, const Deps& gate) {
    for (const int c : plan_.expert_chiplets) {
      Deps deps = gate;
      double params = 0;
      for (const int e : experts_on(li, c)) {
        const auto it = gradient_writes_.find({GradientOf::expert, int(li), e});
        if (it == gradient_writes_.end() || it->second.empty())
          continue;
        params += double(model::routed_expert_params(m_));
        append(deps, it->second);
      }
      if (params == 0)
        continue;
      // Every piece of the update waits for every write: one barrier stands for them.
      const std::string name = fmt::format("adam L{} experts", moe_layers_[li]);
      deps = joined(name + " gradients written", std::move(deps));
      run(adam_work(c, params, name), deps, deps);
    }
  }

  // Per-layer schedule: a layer's update once its last micro-batch's gradients are written.
  void update_layer(int layer) {
    update_attention(layer,
                     reduced(attention_weight_bytes(layer, 0), final_attention_writes(layer)));
    if (const int li = moe_index(layer); li >= 0)
      update_experts(static_cast<std::size_t>(li), {});
  }

  // The embeddings last: a tied input embedding's gradient is complete only when backward is.
  void update_embeddings() {
    Deps written = final_attention_writes(-1);
    append(written, final_attention_writes(0));
    update_attention(-1, reduced(embedding_bytes(), written));
  }

  // Every task so far that no other waits for (gradient writes among them).
  Deps sinks() const {
    const auto& tasks = plan_.graph.tasks();
    std::vector<bool> waited(tasks.size(), false);
    for (const sim::Task& t : tasks)
      for (const TaskId d : t.deps)
        waited[static_cast<std::size_t>(d)] = true;
    Deps out;
    for (std::size_t t = 0; t < tasks.size(); ++t)
      if (!waited[t])
        out.push_back(static_cast<TaskId>(t));
    return out;
  }

  // End-of-step schedule: every update after everything else (the last gradient writes too),
  // as one phase.
  void update_at_end() {
    const TaskId after = barrier("backward done", sinks());
    optimizer_phase_ = true;
    double bytes = embedding_bytes();
    for (int l = 0; l < m_.layers; ++l)
      bytes += attention_weight_bytes(l, 0);
    const Deps gate = reduced(bytes, {after});
    for (int l = 0; l < m_.layers; ++l)
      update_attention(l, gate);
    update_attention(-1, gate);
    for (std::size_t li = 0; li < layer_placement_.size(); ++li)
      update_experts(li, {after});
  }

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
  std::vector<std::vector<int>> stacks_;                           // per chiplet
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
  Deps computes_before_a2a_;  // computes since the last exclusive all-to-all phase
  TaskId last_a2a_ = -1;      // the end of that phase
  // Dispatch and combine per micro-batch and MoE layer; backward reuses them.
  using Plans = std::pair<net::CollectivePlan, net::CollectivePlan>;
  std::vector<std::vector<Plans>> plans_;
};

}  // namespace

std::string_view to_string(OptimizerSchedule schedule) {
  return schedule == OptimizerSchedule::per_layer ? "per-layer" : "end-of-step";
}

StepPlan build_training_step(const StepInputs& inputs, const Policy& policy,
                             const StepConfig& config) {
  return StepBuilder(inputs, policy, config).build();
}

}  // namespace mozart::workload
