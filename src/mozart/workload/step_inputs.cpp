// The step's inputs checked, its chiplets set up, tokens and priors counted.
#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/workload/step_builder.hpp"

namespace mozart::workload::detail {

void StepBuilder::check_inputs() {
  const auto& p = in_.placement;
  const auto& t = in_.trace;
  if (!p.model.empty() && p.model != m_.name)
    throw core::InputError({in_.placement_source, "model", 0}, p.model,
                           fmt::format("a placement of {}", m_.name));
  placement::check_matches(p, m_.name, m_.routed_experts, moe_layers_);
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
    throw core::InputError({in_.trace_source, "tokens", 0}, std::to_string(t.tokens),
                           fmt::format("at least {} tokens for {} micro-batches of {} tokens "
                                       "from token {}",
                                       need, cfg_.micro_batches, tokens_per_mb_, cfg_.first_token));
  for (const int id : moe_layers_) {
    const auto at = std::find_if(p.layers.begin(), p.layers.end(),
                                 [id](const auto& l) { return l.layer_id == id; });
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

void StepBuilder::check_trace(const trace::Trace& t, const std::string& source) const {
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

void StepBuilder::setup_chiplets() {
  plan_.platform = sim::make_platform(net_);
  plan_.graph = sim::TaskGraph(plan_.platform.engines);
  const int n = static_cast<int>(hw_.chiplets.size());
  plan_.attention_chiplets = attention_chiplets(hw_);
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
  attention_batch_ = attention_shares(cfg_.micro_batch, plan_.attention_chiplets.size());
  for (std::size_t a = 0; a < attention_batch_.size(); ++a)
    for (int s = 0; s < attention_batch_[a].sequences; ++s)
      attention_of_sequence_.push_back(plan_.attention_chiplets[a]);
  index_placement();
}

int StepBuilder::moe_index(int layer) const {
  const auto at = std::find(moe_layers_.begin(), moe_layers_.end(), layer);
  return at == moe_layers_.end() ? -1 : static_cast<int>(at - moe_layers_.begin());
}

void StepBuilder::index_placement() {
  const auto experts = static_cast<std::size_t>(m_.routed_experts);
  const std::size_t chiplets = hw_.chiplets.size();
  chiplet_of_.resize(layer_placement_.size() * experts);
  experts_on_.assign(layer_placement_.size() * chiplets, {});
  for (std::size_t li = 0; li < layer_placement_.size(); ++li)
    for (std::size_t e = 0; e < experts; ++e) {
      const int slot = layer_placement_[li]->chiplets_of[e][0];
      const int c = plan_.expert_chiplets[static_cast<std::size_t>(slot)];
      chiplet_of_[li * experts + e] = c;
      experts_on_[li * chiplets + static_cast<std::size_t>(c)].push_back(static_cast<int>(e));
    }
}

void StepBuilder::count_tokens() {
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

void StepBuilder::count_priors() {
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
  plan_.priors = in_.priors ? fmt::format("{} ({} tokens)", in_.priors_source, tokens)
                            : fmt::format("the previous step: the {} tokens of {} before token {}",
                                          tokens, in_.trace_source, cfg_.first_token);
}

void StepBuilder::note_prefetches() {
  if (!policy_.streaming)
    return;
  plan_.prefetch.assign(prior_.size(), std::vector<bool>(prior_.empty() ? 0 : prior_[0].size()));
  for (std::size_t li = 0; li < prior_.size(); ++li)
    for (std::size_t e = 0; e < prior_[li].size(); ++e)
      plan_.prefetch[li][e] = likely_used(li, int(e));
}

}  // namespace mozart::workload::detail
