#include "mozart/model/spec.hpp"

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/model/zoo.hpp"

namespace mozart::model {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    read_model(core::ConfigNode::parse(yaml, "m.yaml"));
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

const char* kValid = R"(
name: tiny
layers: 2
hidden: 64
vocab: 100
attention: {kind: gqa, heads: 4, kv_heads: 2}
experts: {routed: 4, top_k: 2, expert_ffn: 32}
)";

TEST(ModelSpec, YamlRoundTripsEveryPreset) {
  for (const std::string& name : preset_names()) {
    MoeModel m = *find_preset(name);
    MoeModel back = read_model(core::ConfigNode::parse(to_yaml(m), "roundtrip"));
    EXPECT_EQ(to_json(back), to_json(m)) << name;
  }
}

TEST(ModelSpec, DefaultsFollowFromTheArchitecture) {
  MoeModel m = read_model(core::ConfigNode::parse(kValid, "m.yaml"));
  EXPECT_EQ(m.head_dim, 16);
  EXPECT_EQ(m.moe_layer_count(), 2);
  EXPECT_EQ(m.shared_expert_ffn, 0);  // no shared experts
}

TEST(ModelSpec, BadInputIsNamed) {
  std::string base = kValid;
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = base;
    s.replace(s.find(from), from.size(), to);
    return s;
  };
  EXPECT_NE(error_of(replaced("top_k: 2", "top_k: 5")).find("experts.top_k"), std::string::npos);
  EXPECT_NE(error_of(replaced("hidden: 64", "hiden: 64")).find("unknown key 'hiden'"),
            std::string::npos);
  EXPECT_NE(error_of(replaced("hidden: 64", "hidden: 0")).find("field 'hidden'"),
            std::string::npos);
  EXPECT_NE(error_of(replaced("kv_heads: 2", "kv_heads: 3")).find("divisor"), std::string::npos);
  EXPECT_NE(error_of(replaced("kind: gqa", "kind: sparse")).find("mha, gqa, mla"),
            std::string::npos);
  EXPECT_NE(error_of(base + "dense_layers: [0, 1]\n").find("dense"), std::string::npos);
  EXPECT_NE(error_of("name: [").find("malformed"), std::string::npos);
}

}  // namespace
}  // namespace mozart::model
