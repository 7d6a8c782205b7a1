// How a model family keeps its router balanced, and which of the trace generator's named laws
// stands in for its routing when no routing data of the model is at hand (docs/traces.md,
// "Defaults by family"). A family is the Hugging Face model_type the zoo and the import record.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "mozart/model/spec.hpp"

namespace mozart::model {

// aux_loss: a Switch/GShard-style load-balancing loss in training (it balances the training
// mixture on average, not each domain); loss_free_bias: a per-expert bias on the routing score,
// updated every step toward equal load (DeepSeek-V3's auxiliary-loss-free balancing).
enum class Balancing { aux_loss, loss_free_bias };

struct RoutingFamily {
  Balancing balancing = Balancing::aux_loss;
  // The trace generator's law for the family (trace::default_law): "olmoe" and "mixtral" are
  // calibrated on those models' routing; "loss-free-bias" is derived for bias balancing.
  std::string law;
  // What else restricts the family's routing that the law does not model (device-limited
  // routing), or "" for nothing.
  std::string restriction;
  std::string source;  // where the classification comes from
  bool known = true;   // false: a family not in the table, taken as aux-loss
};

std::string_view to_string(Balancing balancing);

// The family of `model_type` (e.g. "deepseek_v3", "qwen3_moe"); an unknown one is aux-loss
// balanced (the common case) with known == false.
RoutingFamily routing_family(const std::string& model_type);
inline RoutingFamily routing_family(const MoeModel& model) {
  return routing_family(model.family);
}

// Every model_type the table knows, in its order.
std::vector<std::string> known_routing_families();

}  // namespace mozart::model
