// Small training steps for the workload tests: zoo models cut to a few layers, generated
// traces, a placement from a separate priors trace.
#pragma once

#include <string>
#include <vector>

#include "mozart/hw/zoo.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/net/network.hpp"
#include "mozart/study/setup.hpp"
#include "mozart/workload/step_result.hpp"

namespace mozart::workload {

// The first `layers` layers of a zoo model: the same experts and widths, a shorter stack.
inline model::MoeModel truncated(const std::string& name, int layers) {
  model::MoeModel m = model::load_model(name);
  m.layers = layers;
  std::erase_if(m.dense_layers, [layers](int l) { return l >= layers; });
  return m;
}

struct Case {
  model::MoeModel model;
  hw::HwSpec hw;
  trace::Trace trace;
  trace::Trace priors;  // routing the step does not run: the placer's and streaming's priors
  placement::Placement placement;
  StepConfig config;
};

inline Case make_setup(const std::string& model, int layers, const Policy& policy,
                       hw::HwSpec hw = hw::load_hw("mozart-nop-tree-ucie"), int micro_batches = 2,
                       int sequences = 2, int seq_len = 64) {
  Case s{truncated(model, layers), std::move(hw), {}, {}, {}, {}};
  s.config.micro_batches = micro_batches;
  s.config.micro_batch = {sequences, seq_len, true};
  const std::size_t tokens = std::size_t(micro_batches) * std::size_t(sequences) * seq_len;
  s.trace = study::generated_trace(s.model, tokens, seq_len, 1);
  s.priors = study::generated_trace(s.model, 4096, seq_len, 2);
  s.placement = study::place_experts(s.model, s.hw, s.priors, policy.placer);
  return s;
}

inline StepResult simulate(const Case& s, const Policy& policy, const StepOptions& options = {}) {
  const net::Network network(s.hw);
  StepInputs inputs{s.model, network, s.placement, s.trace};
  inputs.priors = &s.priors;
  return simulate_training_step(inputs, policy, s.config, options);
}

}  // namespace mozart::workload
