#include "mozart/model/hf_import.hpp"

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"
#include "mozart/model/zoo.hpp"

namespace mozart::model {
namespace {

std::string fixture(const std::string& name) {
  return std::string(MOZART_TEST_DATA) + "/hf/" + name + ".json";
}

MoeModel import_fixture(const std::string& name) {
  std::string path = fixture(name);
  return import_hf_config(core::read_text_file(path), path);
}

// The architecture, without the fields that say where it came from.
nlohmann::ordered_json architecture(const MoeModel& m) {
  nlohmann::ordered_json j = to_json(m);
  j.erase("name");
  j.erase("source");
  return j;
}

std::string error_of(const std::string& name) {
  try {
    import_fixture(name);
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(HfImport, EachFamilyImportsToItsPreset) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"olmoe", "olmoe-1b-7b"},           {"qwen3_moe", "qwen3-30b-a3b"},
      {"qwen2_moe", "qwen1.5-moe-a2.7b"}, {"mixtral", "mixtral-8x7b"},
      {"deepseek", "deepseek-moe-16b"},   {"deepseek_v2", "deepseek-v2"},
      {"deepseek_v3", "deepseek-v3"},     {"dbrx", "dbrx"},
  };
  for (const auto& [file, preset] : cases) {
    EXPECT_EQ(architecture(import_fixture(file)), architecture(*find_preset(preset)))
        << file << " vs " << preset;
  }
}

TEST(HfImport, LoadModelRecognisesHfConfigs) {
  EXPECT_EQ(load_model(fixture("deepseek_v3")).dense_layers, (std::vector<int>{0, 1, 2}));
}

TEST(HfImport, UnknownFamilyNamesEveryMissingField) {
  std::string message = error_of("llama_dense");
  EXPECT_NE(message.find("llama"), std::string::npos) << message;
  EXPECT_NE(message.find("routed experts"), std::string::npos) << message;
  EXPECT_NE(message.find("num_local_experts"), std::string::npos) << message;
  EXPECT_NE(message.find("experts per token"), std::string::npos) << message;
}

TEST(HfImport, TopKAboveExpertsIsRejected) {
  std::string message = error_of("topk_too_large");
  EXPECT_NE(message.find("top_k"), std::string::npos) << message;
  EXPECT_NE(message.find("'6'"), std::string::npos) << message;
  EXPECT_NE(message.find("at most the number of routed experts (4)"), std::string::npos) << message;
}

TEST(HfImport, MalformedJsonNamesTheFile) {
  std::string message = error_of("truncated");
  EXPECT_NE(message.find("truncated.json"), std::string::npos) << message;
  EXPECT_NE(message.find("malformed JSON"), std::string::npos) << message;
}

TEST(HfImport, ZeroSizesAreRejected) {
  EXPECT_THROW(import_hf_config(R"({"model_type": "mixtral", "hidden_size": 0,
      "intermediate_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1,
      "num_local_experts": 2, "num_experts_per_tok": 1, "vocab_size": 10})",
                                "zero.json"),
               core::InputError);
}

}  // namespace
}  // namespace mozart::model
