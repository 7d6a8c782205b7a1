// Each model's routing family: the zoo's and imported configs' model_type decides how the router
// is balanced and which generator law stands in for its routing.
#include "mozart/model/routing.hpp"

#include <set>

#include <gtest/gtest.h>

#include "mozart/core/io.hpp"
#include "mozart/model/hf_import.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/trace/generator.hpp"

namespace mozart::model {
namespace {

MoeModel imported(const std::string& name) {
  const std::string path = std::string(MOZART_TEST_DATA) + "/hf/published/" + name + ".json";
  return import_hf(core::read_text_file(path), path).model;
}

TEST(RoutingFamily, EveryZooModelHasAKnownFamilyAndAnExistingLaw) {
  for (const auto& name : preset_names()) {
    const auto m = find_preset(name);
    ASSERT_TRUE(m) << name;
    const auto family = routing_family(*m);
    EXPECT_TRUE(family.known) << name << " (" << m->family << ")";
    EXPECT_FALSE(family.source.empty()) << name;
    EXPECT_NO_THROW(trace::default_law(family.law)) << name << ": " << family.law;
  }
}

TEST(RoutingFamily, BalancingFollowsTheFamily) {
  EXPECT_EQ(routing_family(*find_preset("deepseek-v3")).balancing, Balancing::loss_free_bias);
  EXPECT_EQ(routing_family(*find_preset("kimi-k2")).balancing, Balancing::loss_free_bias);
  EXPECT_EQ(routing_family(*find_preset("glm-4.5")).balancing, Balancing::loss_free_bias);
  for (const char* aux : {"olmoe-1b-7b", "mixtral-8x7b", "qwen3-30b-a3b", "dbrx",
                          "deepseek-moe-16b", "deepseek-v2", "gpt-oss-120b"})
    EXPECT_EQ(routing_family(*find_preset(aux)).balancing, Balancing::aux_loss) << aux;
  // The two families with routing data of their own use their own calibration.
  EXPECT_EQ(routing_family(*find_preset("olmoe-1b-7b")).law, "olmoe");
  EXPECT_EQ(routing_family(*find_preset("mixtral-8x22b")).law, "mixtral");
  EXPECT_EQ(routing_family(*find_preset("deepseek-v3")).law, "loss-free-bias");
  // Device-limited routing is named where the family has it.
  EXPECT_FALSE(routing_family(*find_preset("deepseek-v2")).restriction.empty());
  EXPECT_TRUE(routing_family(*find_preset("qwen3-30b-a3b")).restriction.empty());
}

TEST(RoutingFamily, ImportedConfigsAreClassifiedByModelType) {
  EXPECT_EQ(imported("deepseek-ai--DeepSeek-V3.2").family, "deepseek_v32");
  EXPECT_EQ(routing_family(imported("deepseek-ai--DeepSeek-V3.2")).balancing,
            Balancing::loss_free_bias);
  EXPECT_EQ(routing_family(imported("moonshotai--Kimi-K2-Instruct")).balancing,
            Balancing::loss_free_bias);
  EXPECT_EQ(routing_family(imported("XiaomiMiMo--MiMo-V2-Flash")).balancing,
            Balancing::loss_free_bias);
  EXPECT_EQ(routing_family(imported("MiniMaxAI--MiniMax-M2.5")).balancing,
            Balancing::loss_free_bias);
  // A multimodal config's language model carries its own model_type.
  const auto vl = imported("Qwen--Qwen3-VL-30B-A3B-Instruct");
  EXPECT_EQ(vl.family, "qwen3_vl_moe_text");
  EXPECT_TRUE(routing_family(vl).known);
  EXPECT_EQ(routing_family(vl).balancing, Balancing::aux_loss);
  EXPECT_EQ(routing_family(imported("openai--gpt-oss-20b")).law, "olmoe");
}

TEST(RoutingFamily, AnUnknownFamilyIsTakenAsAuxLossAndSaysSo) {
  const auto family = routing_family(std::string("not_a_family"));
  EXPECT_FALSE(family.known);
  EXPECT_EQ(family.balancing, Balancing::aux_loss);
  EXPECT_EQ(family.law, "olmoe");
  EXPECT_FALSE(routing_family(imported("google--gemma-4-26B-A4B")).known);
}

TEST(RoutingFamily, TheTableNamesEachFamilyOnce) {
  const auto names = known_routing_families();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), names.size());
}

}  // namespace
}  // namespace mozart::model
