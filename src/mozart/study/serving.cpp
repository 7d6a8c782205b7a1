#include "mozart/study/serving.hpp"

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/placement/placers.hpp"
#include "mozart/study/setup.hpp"

namespace mozart::study {

trace::Trace serving_trace(const model::MoeModel& m, const workload::ServeConfig& config,
                           int groups, std::uint64_t seed) {
  const std::size_t per = workload::tokens_per_iteration(config, groups);
  const std::size_t its = std::size_t(config.iterations);
  if (config.phase != workload::ServePhase::decode)
    return generated_trace(m, per * its, config.prompt, seed);
  // Sequence-major as drawn (sequence s's i-th token is s * its + i); served iteration-major.
  const trace::Trace drawn = generated_trace(m, per * its, config.iterations, seed);
  trace::Trace out = trace::make_trace(drawn.shape, drawn.tokens, drawn.model);
  const std::size_t k = std::size_t(drawn.top_k());
  for (std::size_t i = 0; i < its; ++i) {
    for (std::size_t s = 0; s < per; ++s) {
      const std::size_t from = s * its + i, to = i * per + s;
      out.sequence[to] = drawn.sequence[from];
      out.position[to] = drawn.position[from];
      for (int l = 0; l < drawn.layers(); ++l)
        for (std::size_t j = 0; j < k; ++j)
          out.experts[out.offset(l, to) + j] = drawn.experts[drawn.offset(l, from) + j];
    }
  }
  return out;
}

placement::Placement place_over_ep(const model::MoeModel& m, const hw::HwSpec& hw,
                                   const trace::Trace& priors, const std::string& placer, int ep,
                                   std::uint64_t seed, const std::string& command) {
  placement::DeviceLayout layout = placement::layout_from_hw(hw, m.routed_experts);
  const int devices = layout.chiplet_count();
  if (ep < 1 || devices % ep != 0)
    throw core::InputError({command, "--ep", 0}, std::to_string(ep),
                           fmt::format("a divisor of the {} expert devices", devices));
  layout.slots = (m.routed_experts + ep - 1) / ep;
  placement::PlacerOptions options;
  options.seed = seed;
  const placement::Placement one = placement::place(
      priors, placement::uniform_layout(ep, 1, layout.slots, hw.name), placer, options);
  placement::Placement out = one;
  out.layout = layout;
  out.model = m.name;
  for (placement::LayerPlacement& l : out.layers)
    for (std::vector<int>& holders : l.chiplets_of) {
      const std::vector<int> first = holders;
      for (int group = 1; group < devices / ep; ++group)
        for (int c : first)
          holders.push_back(c + group * ep);
    }
  return out;
}

}  // namespace mozart::study
