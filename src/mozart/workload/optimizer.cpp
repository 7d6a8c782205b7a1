// The optimizer: Adam per layer or at the end of the step, after data-parallel gradients are
// reduced.
#include <algorithm>

#include <fmt/format.h>

#include "mozart/workload/step_builder.hpp"

namespace mozart::workload::detail {

Work StepBuilder::adam_work(int c, double params, std::string name) const {
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

Deps StepBuilder::final_attention_writes(int layer) {
  Deps out;
  for (std::size_t a = 0; a < plan_.attention_chiplets.size(); ++a)
    append(out, gradient_writes_[layer < 0 ? GradientKey{GradientOf::lm_head, 0, int(a)}
                                           : GradientKey{GradientOf::attention, layer, int(a)}]);
  return out;
}

Deps StepBuilder::reduced(double bytes, Deps written) {
  const auto& attn = plan_.attention_chiplets;
  if (attn.size() <= 1)
    return written;
  written = joined("gradients written", std::move(written));
  std::map<int, Deps> ready;
  for (const int a : attn)
    ready[a] = written;
  const double reduce_bytes = gradient_bytes(bytes);
  Deps gate;
  if (reduction_ && reduction_->bytes == reduce_bytes) {  // the same plan: its flows again
    gate = exchange_again(reduction_->flows, ready, written, false, &reduction_->after).flows;
  } else {
    net::CollectivePlan plan =
        net::all_reduce(net_, attn, reduce_bytes, net::AllReduceAlgorithm::ring);
    Reduction r{reduce_bytes, {}, {}};
    for (const net::PlannedFlow& f : plan.flows)
      r.after.push_back(f.after);
    Exchange ex = exchange(std::move(plan), ready, written, false);
    r.flows = std::move(ex.added);
    reduction_ = std::move(r);
    gate = std::move(ex.flows);
  }
  append(gate, written);
  return joined("gradients reduced", std::move(gate));
}

void StepBuilder::update_attention(int layer, const Deps& gate) {
  const auto& attn = plan_.attention_chiplets;
  const std::string name =
      layer < 0 ? std::string("adam embeddings") : fmt::format("adam L{} attention", layer);
  for (std::size_t a = 0; a < attn.size(); ++a) {
    const double bytes = layer < 0 ? embedding_bytes() : attention_weight_bytes(layer, a);
    run(adam_work(attn[a], bytes / b_ / double(attn.size()), name), gate, gate);
  }
}

void StepBuilder::update_experts(std::size_t li, const Deps& gate) {
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

void StepBuilder::update_layer(int layer) {
  update_attention(layer, reduced(attention_weight_bytes(layer, 0), final_attention_writes(layer)));
  if (const int li = moe_index(layer); li >= 0)
    update_experts(static_cast<std::size_t>(li), {});
}

void StepBuilder::update_embeddings() {
  Deps written = final_attention_writes(-1);
  append(written, final_attention_writes(0));
  update_attention(-1, reduced(embedding_bytes(), written));
}

Deps StepBuilder::sinks() const {
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

void StepBuilder::update_at_end() {
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

}  // namespace mozart::workload::detail
