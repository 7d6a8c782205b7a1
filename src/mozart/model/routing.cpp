#include "mozart/model/routing.hpp"

#include <algorithm>
#include <array>

namespace mozart::model {
namespace {

struct Entry {
  std::string_view model_type;
  Balancing balancing;
  std::string_view law;
  std::string_view restriction;
  std::string_view source;
};

constexpr std::string_view kDeviceLimitedV2 =
    "device-limited routing: a token's experts lie on at most 3 of 8 device groups";
constexpr std::string_view kNodeLimitedV3 =
    "node-limited routing: a token's experts lie on at most 4 of 8 expert groups";

// Balancing as each family's paper or published config.json states it. The laws with data are
// calibrated on that model's own routing; every other aux-loss family borrows OLMoE's (the
// finer-grained of the two with data, as most of these families are).
constexpr std::array kFamilies = {
    Entry{"olmoe", Balancing::aux_loss, "olmoe", "",
          "OLMoE paper (arXiv 2409.02060): load-balancing loss 0.01 and router z-loss"},
    Entry{"mixtral", Balancing::aux_loss, "mixtral", "",
          "transformers' Mixtral config: router_aux_loss_coef 0.02"},
    Entry{"dbrx", Balancing::aux_loss, "olmoe", "", "DBRX config.json: ffn_config.moe_loss_weight"},
    Entry{"deepseek", Balancing::aux_loss, "olmoe", "",
          "DeepSeekMoE paper (arXiv 2401.06066): expert-level balance loss"},
    Entry{"deepseek_v2", Balancing::aux_loss, "olmoe", kDeviceLimitedV2,
          "DeepSeek-V2 paper (arXiv 2405.04434): expert-, device- and communication-level "
          "balance losses, device-limited routing (M = 3)"},
    Entry{"deepseek_v3", Balancing::loss_free_bias, "loss-free-bias", kNodeLimitedV3,
          "DeepSeek-V3 report (arXiv 2412.19437) 2.1.2: auxiliary-loss-free bias balancing, "
          "node-limited routing (M = 4)"},
    Entry{"deepseek_v32", Balancing::loss_free_bias, "loss-free-bias", kNodeLimitedV3,
          "DeepSeek-V3.2 config.json: topk_method noaux_tc (DeepSeek-V3's routing)"},
    Entry{"kimi_k2", Balancing::loss_free_bias, "loss-free-bias", "",
          "Kimi-K2 config.json: topk_method noaux_tc (DeepSeek-V3's routing)"},
    Entry{"glm4_moe", Balancing::loss_free_bias, "loss-free-bias", "",
          "GLM-4.5 report (arXiv 2508.06471): loss-free balance routing, sigmoid gates"},
    Entry{"mimo_v2_flash", Balancing::loss_free_bias, "loss-free-bias", "",
          "MiMo-V2-Flash config.json: topk_method noaux_tc"},
    Entry{"minimax_m2", Balancing::loss_free_bias, "loss-free-bias", "",
          "MiniMax-M2 config.json: use_routing_bias with sigmoid scores"},
    Entry{"qwen2_moe", Balancing::aux_loss, "olmoe", "",
          "Qwen1.5/2-MoE config.json: router_aux_loss_coef 0.001"},
    Entry{"qwen3_moe", Balancing::aux_loss, "olmoe", "",
          "Qwen3 report (arXiv 2505.09388): global-batch load-balancing loss"},
    Entry{"qwen3_vl_moe", Balancing::aux_loss, "olmoe", "", "Qwen3-VL: Qwen3-MoE's routing"},
    Entry{"qwen3_vl_moe_text", Balancing::aux_loss, "olmoe", "", "Qwen3-VL: Qwen3-MoE's routing"},
    Entry{"qwen3_next", Balancing::aux_loss, "olmoe", "",
          "Qwen3-Next config.json: router_aux_loss_coef 0.001"},
    Entry{"qwen3_5_moe", Balancing::aux_loss, "olmoe", "",
          "Qwen3.5 config.json: router_aux_loss_coef 0.001"},
    Entry{"qwen3_5_moe_text", Balancing::aux_loss, "olmoe", "",
          "Qwen3.5 config.json: router_aux_loss_coef 0.001"},
    Entry{"gpt_oss", Balancing::aux_loss, "olmoe", "",
          "gpt-oss config.json: router_aux_loss_coef 0.9"},
    Entry{"llama4", Balancing::aux_loss, "olmoe", "",
          "Llama 4 config.json: router_aux_loss_coef 0.001"},
    Entry{"llama4_text", Balancing::aux_loss, "olmoe", "",
          "Llama 4 config.json: router_aux_loss_coef 0.001"},
    Entry{"jamba", Balancing::aux_loss, "olmoe", "",
          "Jamba config.json: router_aux_loss_coef 0.001"},
};

}  // namespace

std::string_view to_string(Balancing balancing) {
  switch (balancing) {
    case Balancing::aux_loss:
      return "aux-loss";
    case Balancing::loss_free_bias:
      return "loss-free-bias";
  }
  return "?";
}

RoutingFamily routing_family(const std::string& model_type) {
  const auto* it = std::find_if(kFamilies.begin(), kFamilies.end(),
                                [&](const Entry& e) { return e.model_type == model_type; });
  if (it == kFamilies.end())
    return {Balancing::aux_loss, "olmoe", "",
            "not in mozart's family table: an auxiliary loss is assumed", false};
  return {it->balancing, std::string(it->law), std::string(it->restriction),
          std::string(it->source), true};
}

std::vector<std::string> known_routing_families() {
  std::vector<std::string> out;
  for (const Entry& e : kFamilies)
    out.emplace_back(e.model_type);
  return out;
}

}  // namespace mozart::model
