// What each chiplet computes, and what its SRAM and memory must hold.
#include <algorithm>

#include <fmt/format.h>

#include "mozart/workload/step_builder.hpp"

namespace mozart::workload::detail {

const std::vector<model::OpCost>& StepBuilder::attention_ops(int layer, std::size_t a) {
  auto& cache = attention_ops_[{layer, a}];
  if (cache.empty())
    for (model::OpCost& op : model::layer_forward_ops(m_, layer, attention_batch_[a]))
      if (op.expert < 0)
        cache.push_back(std::move(op));
  return cache;
}

const hw::ChipletKind& StepBuilder::kind_of(int chiplet) const {
  return hw_.kinds[static_cast<std::size_t>(hw_.chiplets[static_cast<std::size_t>(chiplet)].kind)];
}

OpSum StepBuilder::timed(std::span<const model::OpCost> ops, int chiplet) const {
  return time_ops(ops, kind_of(chiplet), m_.dtype);
}

OpSum StepBuilder::backward_of(std::span<const model::OpCost> forward, int chiplet) const {
  OpSum s = timed(model::backward_ops(forward, model::Pass::backward_input), chiplet);
  s += timed(model::backward_ops(forward, model::Pass::backward_weight), chiplet);
  return s;
}

double StepBuilder::backward_hold(double weight_bytes) const {
  return weight_bytes + gradient_bytes(weight_bytes);
}

double StepBuilder::attention_weight_bytes(int layer, std::size_t a) {
  double w = 0;
  for (const auto& op : attention_ops(layer, a))
    w += op.weight_bytes;
  return w;
}

std::vector<ChipletDemand> StepBuilder::memory_demand() {
  const std::size_t n = hw_.chiplets.size();
  const auto mbs = static_cast<std::size_t>(cfg_.micro_batches);
  const auto layers = static_cast<std::size_t>(m_.layers);
  std::vector<ChipletDemand> demand(n);
  for (ChipletDemand& d : demand)
    d.saved.assign(mbs, std::vector<double>(layers, 0));
  for (std::size_t a = 0; a < plan_.attention_chiplets.size(); ++a) {
    ChipletDemand& d = demand[static_cast<std::size_t>(plan_.attention_chiplets[a])];
    d.working = std::max(d.working, attention_working_bytes(m_, attention_batch_[a]));
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

void StepBuilder::plan_memory_use() {
  demand_ = memory_demand();
  // Per weight byte: the weight, its accumulated gradient and (with Adam) its states.
  const double resident =
      1.0 + g_ / b_ + (cfg_.optimizer ? cfg_.adam.state_bytes_per_param / b_ : 0);
  memory_ = plan_memory(hw_, demand_, resident, m_.name, tokens_per_mb_, cfg_.weights_may_overflow);
  plan_.sram_reserved = memory_.sram_reserved;
  plan_.sram_window = memory_.sram_window;
  plan_.memory_weights = memory_.stack_weights;
  plan_.memory_needed = memory_.stack_needed;
  for (std::size_t c = 0; c < windows_.size(); ++c)
    windows_[c] = SramWindow(memory_.sram_window[c]);
}

double StepBuilder::expert_saved_bytes(double tokens) const {
  return tokens * (double(m_.hidden) + 3.0 * m_.expert_ffn) * b_;
}

double StepBuilder::saved_bytes(int mb, int layer, int c) const {
  return demand_[static_cast<std::size_t>(c)]
      .saved[static_cast<std::size_t>(mb)][static_cast<std::size_t>(layer)];
}

bool StepBuilder::spilled(int mb, int layer, int c) const {
  return memory_.spilled[static_cast<std::size_t>(c)][static_cast<std::size_t>(mb)]
                        [static_cast<std::size_t>(layer)];
}

}  // namespace mozart::workload::detail
