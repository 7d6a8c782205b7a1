#include "mozart/study/setup.hpp"

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/model/routing.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/placement/placers.hpp"
#include "mozart/trace/generator.hpp"

namespace mozart::study {

trace::DefaultLaw family_law(const model::MoeModel& m) {
  return trace::default_law(model::routing_family(m).law, m.name);
}

std::string model_family(const std::string& model) {
  try {
    return model::load_model(model).family;
  } catch (const core::InputError&) {
    return "(unknown)";
  }
}

std::vector<std::string> family_law_warnings(const model::MoeModel& m) {
  const auto family = model::routing_family(m);
  const auto law = family_law(m);
  const std::string law_family = model_family(law.calibrated_on);
  std::vector<std::string> warnings;
  if (!family.known)
    warnings.push_back(
        fmt::format("{}'s family '{}' is not in mozart's family table: an "
                    "auxiliary-loss balancing is assumed (docs/traces.md)",
                    m.name, m.family));
  if (law_family != m.family)
    warnings.push_back(fmt::format(
        "no routing data of {} (family {}, {} balancing): its default law '{}' takes its values "
        "from {}'s routing (family {})",
        m.name, m.family.empty() ? "(none)" : m.family, model::to_string(family.balancing),
        law.name, law.calibrated_on, law_family));
  return warnings;
}

trace::Trace generated_trace(const model::MoeModel& m, std::size_t tokens, int seq_len,
                             std::uint64_t seed, bool gates) {
  trace::GeneratorParams params = family_law(m).params;
  params.sequence_length = seq_len;
  params.gates = gates;
  const trace::TraceShape shape{m.moe_layers(), m.routed_experts, m.top_k};
  return trace::generate(shape, tokens, params, seed, m.name);
}

placement::Placement place_experts(const model::MoeModel& m, const hw::HwSpec& hw,
                                   const trace::Trace& priors, const std::string& placer,
                                   std::uint64_t seed) {
  return place_experts(m, hw, priors, placement::layer_inputs(priors, placer), placer, seed);
}

placement::Placement place_experts(const model::MoeModel& m, const hw::HwSpec& hw,
                                   const trace::Trace& priors,
                                   const std::vector<placement::LayerInput>& inputs,
                                   const std::string& placer, std::uint64_t seed) {
  const auto layout = placement::layout_from_hw(hw, m.routed_experts);
  placement::PlacerOptions options;
  options.seed = seed;
  auto p = placement::place(priors, inputs, layout, placer, options);
  p.model = m.name;
  return p;
}

hw::HwSpec with_memory(hw::HwSpec hw, hw::MemoryKind kind, double bytes_per_s, double bytes,
                       double energy_per_bit_j) {
  for (hw::MemoryStack& s : hw.memories) {
    s.kind = kind;
    s.bytes_per_s = bytes_per_s;
    s.bytes = bytes;
    s.energy_per_bit_j = energy_per_bit_j;
  }
  return hw;
}

hw::HwSpec with_link_scale(hw::HwSpec hw, double factor) {
  for (hw::Link& l : hw.links)
    l.spec.bytes_per_s *= factor;
  return hw;
}

hw::HwSpec with_memory_scale(hw::HwSpec hw, double factor) {
  for (hw::MemoryStack& s : hw.memories)
    s.bytes_per_s *= factor;
  return hw;
}

}  // namespace mozart::study
