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

TEST(HfImport, NumberTooLargeForADoubleIsAnInputError) {
  // Found by fuzz_hf: nlohmann raises out_of_range (not parse_error) for 1e6666.
  try {
    import_hf_config(R"({"model_type": "qwen3_moe", "rms_norm_eps": 1e6666})", "huge.json");
    FAIL() << "expected an InputError";
  } catch (const core::InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("huge.json"), std::string::npos) << message;
    EXPECT_NE(message.find("unreadable JSON"), std::string::npos) << message;
  }
}

TEST(HfImport, ZeroSizesAreRejected) {
  EXPECT_THROW(import_hf_config(R"({"model_type": "mixtral", "hidden_size": 0,
      "intermediate_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1,
      "num_local_experts": 2, "num_experts_per_tok": 1, "vocab_size": 10})",
                                "zero.json"),
               core::InputError);
}

// The OLMoE fixture with fields set to values (raw JSON), imported from its text.
std::string olmoe_error_with(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string text = core::read_text_file(fixture("olmoe"));
  for (const auto& [field, value] : fields) {
    const std::string key = "\"" + field + "\": ";
    const auto at = text.find(key);
    if (at == std::string::npos)
      text.insert(text.find('{') + 1, key + value + ",");
    else
      text.replace(at + key.size(), text.find_first_of(",\n", at) - at - key.size(), value);
  }
  try {
    import_hf_config(text, "config.json");
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

std::string olmoe_error_with(const std::string& field, const std::string& value) {
  return olmoe_error_with({{field, value}});
}

TEST(HfImport, SizesAreReadIn64BitsAndRangeChecked) {
  // 2^32 + 2048 once read as 2048; 2^40 once gave "0 total params".
  std::string message = olmoe_error_with("hidden_size", "4294969344");
  EXPECT_NE(message.find("config.json: field 'hidden_size': got '4294969344'"), std::string::npos)
      << message;
  EXPECT_NE(message.find("[1, 131072]"), std::string::npos) << message;
  EXPECT_NE(olmoe_error_with("hidden_size", "1099511627776"), "");
  EXPECT_NE(olmoe_error_with("vocab_size", "18446744073709551615"), "");
  EXPECT_NE(olmoe_error_with("num_hidden_layers", "2.5"), "");
  EXPECT_NE(olmoe_error_with("head_dim", "4294967424"), "");
  EXPECT_EQ(olmoe_error_with("hidden_size", "2048"), "");
}

TEST(HfImport, AModelEveryLaterCommandWouldRefuseIsRefusedAtImport) {
  // A trace holds an expert id in 16 bits.
  std::string message = olmoe_error_with("num_experts", "70000");
  EXPECT_NE(message.find("'num_experts': got '70000'"), std::string::npos) << message;
  EXPECT_EQ(olmoe_error_with("num_experts", "65536"), "");
  // Each size in range, their product not: more parameters than any real model.
  message = olmoe_error_with({{"intermediate_size", "1000000"}, {"num_experts", "65536"}});
  EXPECT_NE(message.find("parameters"), std::string::npos) << message;
}

TEST(HfImport, LayerPatternFieldsAreChecked) {
  std::string message = olmoe_error_with("moe_layer_freq", "0");
  EXPECT_NE(message.find("'moe_layer_freq': got '0', expected an integer of at least 1"),
            std::string::npos)
      << message;
  EXPECT_NE(olmoe_error_with("decoder_sparse_step", "0"), "");
  message = olmoe_error_with("mlp_only_layers", "[1, 999]");
  EXPECT_NE(message.find("'mlp_only_layers[1]': got '999', expected a layer index in [0, 15]"),
            std::string::npos)
      << message;
  EXPECT_NE(olmoe_error_with("mlp_only_layers", "[\"3\"]"), "");
  EXPECT_NE(olmoe_error_with("first_k_dense_replace", "17"), "");
  EXPECT_EQ(olmoe_error_with("mlp_only_layers", "[0, 15]"), "");
  EXPECT_EQ(olmoe_error_with("decoder_sparse_step", "2"), "");
}

}  // namespace
}  // namespace mozart::model
