// Building blocks of training studies: traces drawn from the generator's default law for the
// model's family (docs/traces.md, "Defaults by family"), placements made from a priors trace,
// and hardware variants (another memory kind, scaled links) for ablations.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mozart/hw/spec.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/placement/placement.hpp"
#include "mozart/placement/placers.hpp"
#include "mozart/trace/generator.hpp"
#include "mozart/trace/trace.hpp"

namespace mozart::study {

// The generator's default law for the model's family (model::routing_family names it).
trace::DefaultLaw family_law(const model::MoeModel& m);
// What a user of that law should be told: that the model's family is not in mozart's family
// table, or that the law takes its values from another family's routing (empty when neither).
// Commands that draw the model's routing from the law print these as warnings.
std::vector<std::string> family_law_warnings(const model::MoeModel& m);
// The family of a zoo model or model file, "(unknown)" when it cannot be loaded.
std::string model_family(const std::string& model);

// `tokens` tokens of sequences `seq_len` long from the family's default law; `seed` draws the
// tokens, so two seeds give two samples of the same routing. Without `gates` the trace holds
// the expert choices only (gates take no draws: the choices are the same), for a caller that
// reads nothing else, as a step and a placer do.
trace::Trace generated_trace(const model::MoeModel& m, std::size_t tokens, int seq_len,
                             std::uint64_t seed, bool gates = true);

// Places the model's experts on the hardware's expert chiplets from the priors of `priors`.
placement::Placement place_experts(const model::MoeModel& m, const hw::HwSpec& hw,
                                   const trace::Trace& priors, const std::string& placer,
                                   std::uint64_t seed = 1);
// The same from the priors trace's placement::layer_inputs(), made once for several placements.
placement::Placement place_experts(const model::MoeModel& m, const hw::HwSpec& hw,
                                   const trace::Trace& priors,
                                   const std::vector<placement::LayerInput>& inputs,
                                   const std::string& placer, std::uint64_t seed = 1);

// Every memory stack replaced by one of `kind` with this bandwidth and capacity (the Mozart
// memory ablation puts an SSD in place of HBM).
hw::HwSpec with_memory(hw::HwSpec hw, hw::MemoryKind kind, double bytes_per_s, double bytes,
                       double energy_per_bit_j);

// Every link's bandwidth multiplied by `factor` (comparisons at an equal link budget; with the
// Mozart paper's per-wire links, the same as `factor` times the wires per link).
hw::HwSpec with_link_scale(hw::HwSpec hw, double factor);

// Every memory stack's bandwidth multiplied by `factor`.
hw::HwSpec with_memory_scale(hw::HwSpec hw, double factor);

}  // namespace mozart::study
