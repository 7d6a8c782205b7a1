// The step layer by layer: forward, loss and backward of every micro-batch.
#include <algorithm>

#include <fmt/format.h>

#include "mozart/workload/step_builder.hpp"

namespace mozart::workload::detail {

void StepBuilder::step() {
  const auto mbs = static_cast<std::size_t>(cfg_.micro_batches);
  a2a_flows_.assign(mbs, std::vector<A2aFlows>(layer_placement_.size()));
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
  const bool per_layer = cfg_.optimizer && cfg_.optimizer_schedule == OptimizerSchedule::per_layer;
  for (int l = m_.layers - 1; l >= 0; --l) {
    advance([&](int mb, const Deps& in) { return backward_layer(mb, l, in); });
    if (per_layer)  // issued here so that each chiplet's loads keep their program order
      update_layer(l);
  }
  if (per_layer)
    update_embeddings();
}

Work StepBuilder::weight_work(std::string name, int c, std::span<const model::OpCost> ops, double w,
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

Ran StepBuilder::accumulate(Work w, const GradientKey& key, const Deps& gate,
                            const Deps& compute_deps) {
  Deps& last = gradient_writes_[key];
  if (!last.empty()) {
    w.load = plus(w.load, traffic(Traffic::gradients, total_bytes(w.write)));
    w.read_after = last;
  }
  Ran ran = run(w, gate, compute_deps);
  last = ran.writes;
  return ran;
}

Work StepBuilder::attention_work(int mb, int layer, std::size_t a, bool forward) {
  const int c = plan_.attention_chiplets[a];
  return weight_work(fmt::format("mb{} L{} attention {}", mb, layer, forward ? "fwd" : "bwd"), c,
                     attention_ops(layer, a), attention_weight_bytes(layer, a),
                     forward ? 0 : unspill_bytes(mb, layer, c), forward);
}

Work StepBuilder::expert_work(int mb, std::size_t li, int e, bool forward) {
  const int c = chiplet_of(li, e);
  const double tokens = counts_[static_cast<std::size_t>(mb)][li][static_cast<std::size_t>(e)];
  const int layer = moe_layers_[li];
  // This expert's share of its chiplet's spilled activations.
  const double saved = !forward && unspill_bytes(mb, layer, c) > 0 ? expert_saved_bytes(tokens) : 0;
  return weight_work(fmt::format("mb{} L{} expert{} {} ({} tokens)", mb, layer, e,
                                 forward ? "fwd" : "bwd", tokens),
                     c, model::expert_forward_ops(m_, tokens, e), expert_bytes(), saved, forward);
}

Deps StepBuilder::forward_layer(int mb, int layer, const Deps& input) {
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
  const ExchangePlans::Entry& plans = exchange_plans(mb, li);
  plan_.dispatched_tokens += plans.tokens;
  plan_.dispatched_copies += plans.copies;
  A2aFlows& flows = a2a_flows_[static_cast<std::size_t>(mb)][li];
  const Exchange dispatch = exchange(plans.plans.dispatch, attention_done, all_attention);
  flows.first = dispatch.added;
  const std::map<int, Deps> experts_done = expert_pass(
      mb, li, true, policy_.streaming ? Deps{} : (policy_.overlap ? all_attention : dispatch.flows),
      dispatch, all_attention);
  spill_after_forward(mb, layer, experts_done);
  Deps all_experts;
  for (const auto& [c, d] : experts_done)
    append(all_experts, d);
  const Exchange combine = exchange(plans.plans.combine, experts_done, all_experts);
  flows.second = combine.added;
  Deps out = combine.flows;
  append(out, all_experts);
  append(out, all_attention);
  return joined(fmt::format("mb{} L{} fwd done", mb, layer), std::move(out));
}

std::map<int, Deps> StepBuilder::expert_pass(int mb, std::size_t li, bool forward, const Deps& gate,
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
      const Ran ran = forward ? run(work, expert_gate, deps)
                              : accumulate(std::move(work), {GradientOf::expert, int(li), x.expert},
                                           expert_gate, deps);
      append(computes, ran.computes);
    }
  }
  return done;
}

void StepBuilder::spill_after_forward(int mb, int layer, const std::map<int, Deps>& computes) {
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

double StepBuilder::unspill_bytes(int mb, int layer, int c) const {
  return spilled(mb, layer, c) ? saved_bytes(mb, layer, c) : 0;
}

Deps StepBuilder::spill_writes(int mb, int layer, int c) const {
  const auto it = spill_write_.find({mb, c, layer});
  return it == spill_write_.end() ? Deps{} : it->second;
}

Deps StepBuilder::loss(int mb, const Deps& input) {
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

Deps StepBuilder::backward_layer(int mb, int layer, const Deps& grad_in) {
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
    const A2aFlows& flows = a2a_flows_[static_cast<std::size_t>(mb)][li];
    const Exchange grads_out = exchange_again(flows.first, ready, grad_in);
    const std::map<int, Deps> experts_done = expert_pass(
        mb, li, false, policy_.streaming ? Deps{} : (policy_.overlap ? grad_in : grads_out.flows),
        grads_out, grad_in);
    Deps all_experts;
    for (const auto& [c, d] : experts_done)
      append(all_experts, d);
    const Exchange grads_back = exchange_again(flows.second, experts_done, all_experts);
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

}  // namespace mozart::workload::detail
