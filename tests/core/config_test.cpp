#include "mozart/core/config.hpp"

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"

namespace mozart::core {
namespace {

// The message of the InputError thrown by f, or "" if none was thrown.
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, ReadsTypedValuesWithPaths) {
  ConfigNode root = ConfigNode::parse("a:\n  b: 3\n  c: 2 GB/s\n  d: [1, 2]\n", "f.yaml");
  EXPECT_EQ(root.at("a").at("b").as_int(0, 10), 3);
  EXPECT_DOUBLE_EQ(root.at("a").at("c").as_quantity(Dimension::bytes_per_s), 2e9);
  EXPECT_EQ(root.at("a").at("d").items()[1].path(), "a.d[1]");
  EXPECT_EQ(root.at("a").get_int("missing", 7, 0, 10), 7);
}

TEST(Config, UnknownKeyNamesTheKeyAndSuggestsTheNearest) {
  ConfigNode root = ConfigNode::parse("topology:\n  fanout: [4, 4]\n", "hw.yaml");
  std::string message = error_of([&] {
    root.at("topology").expect_keys({"kind", "fanouts", "root"});
  });
  EXPECT_NE(message.find("hw.yaml:2"), std::string::npos) << message;
  EXPECT_NE(message.find("unknown key 'fanout'"), std::string::npos) << message;
  EXPECT_NE(message.find("'fanouts'"), std::string::npos) << message;
}

TEST(Config, DuplicateKeyNamesFileKeyAndBothLines) {
  std::string message =
      error_of([] { ConfigNode::parse("a:\n  b: 1\n  c: 2\n  b: 3\n", "dup.yaml"); });
  EXPECT_NE(message.find("dup.yaml:4: field 'a.b'"), std::string::npos) << message;
  EXPECT_NE(message.find("key 'b' again (first on line 2)"), std::string::npos) << message;
}

TEST(Config, DuplicateKeyInsideAListOrAFlowMapIsRefused) {
  EXPECT_NE(error_of([] { ConfigNode::parse("l:\n  - {x: 1, x: 2}\n", "f.yaml"); }), "");
  EXPECT_NE(error_of([] { ConfigNode::parse("{\"k\": 1, \"k\": 1}", "f.json"); }), "");
  // The same key in different maps, and aliases of one map, are fine.
  EXPECT_EQ(error_of([] { ConfigNode::parse("a: &m {x: 1}\nb: *m\nc: {x: 2}\n", "f.yaml"); }), "");
}

TEST(Config, TextThatIsNotUtf8IsRefusedWithItsLine) {
  std::string message = error_of([] { ConfigNode::parse("a: 1\nname: x\xA5y\n", "f.yaml"); });
  EXPECT_NE(message.find("f.yaml:2"), std::string::npos) << message;
  EXPECT_NE(message.find("byte 0xA5 at offset 12"), std::string::npos) << message;
  for (const char* bad : {"\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82"})
    EXPECT_NE(error_of([&] { ConfigNode::parse(std::string("a: ") + bad, "f.yaml"); }), "") << bad;
  EXPECT_EQ(
      error_of([] { ConfigNode::parse("a: \xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80", "f.yaml"); }), "");
}

TEST(Config, ControlCharactersAreRefusedInTheFileAndFromEscapes) {
  // A raw control byte: refused at parsing, with its line and offset.
  std::string message = error_of([] { ConfigNode::parse("a: 1\nname: x\x0By\n", "f.yaml"); });
  EXPECT_NE(message.find("f.yaml:2"), std::string::npos) << message;
  EXPECT_NE(message.find("byte 0x0B at offset 12"), std::string::npos) << message;
  message = error_of([] { ConfigNode::parse(std::string("name: hbm\0_g3\n", 14), "f.yaml"); });
  EXPECT_NE(message.find("byte 0x00 at offset 9"), std::string::npos) << message;
  // One made by a double-quoted escape: refused where the string is read, the bytes written out.
  const ConfigNode root = ConfigNode::parse("name: \"x\\0y\"\n", "f.yaml");
  message = error_of([&] { (void)root.at("name").as_string(); });
  EXPECT_NE(message.find("name"), std::string::npos) << message;
  EXPECT_NE(message.find("x\\x00y"), std::string::npos) << message;
  // Tabs, line ends (CRLF too) and non-ASCII text stay.
  const ConfigNode ok = ConfigNode::parse(
      "a: 1\r\nb: \"x\\ty\"\nc: gr\xC3\xB6\xC3\x9F"
      "e\n",
      "f.yaml");
  EXPECT_EQ(ok.at("b").as_string(), "x\ty");
  EXPECT_EQ(ok.at("c").as_string(),
            "gr\xC3\xB6\xC3\x9F"
            "e");
}

TEST(Config, KeysThatAreNotNamesAreRefused) {
  for (const char* text : {"a: 1\n? [x, y]\n: 2\n", "{[1]: 2}", "a:\n  ? \n  : 3\n"}) {
    const std::string message = error_of([&] { ConfigNode::parse(text, "k.yaml"); });
    EXPECT_NE(message.find("keys that are plain names"), std::string::npos) << text << message;
  }
}

TEST(Config, MalformedYamlIsAnInputErrorWithLine) {
  std::string message = error_of([] { ConfigNode::parse("a: [1, 2\nb: 3\n", "bad.yaml"); });
  EXPECT_NE(message.find("bad.yaml"), std::string::npos) << message;
  EXPECT_NE(message.find("malformed"), std::string::npos) << message;
}

TEST(Config, OutOfRangeAndWrongTypesNameFieldValueAndExpectation) {
  ConfigNode root = ConfigNode::parse("n: -3\nq: 0 GB\nb: maybe\ns: [1]\n", "x.yaml");
  std::string message = error_of([&] { root.at("n").as_int(1, 100); });
  EXPECT_NE(message.find("field 'n'"), std::string::npos) << message;
  EXPECT_NE(message.find("'-3'"), std::string::npos) << message;
  EXPECT_NE(message.find("[1, 100]"), std::string::npos) << message;
  EXPECT_NE(error_of([&] { root.at("q").as_quantity(Dimension::bytes); }).find("positive"),
            std::string::npos);
  EXPECT_NE(error_of([&] { root.at("b").as_bool(); }).find("true or false"), std::string::npos);
  EXPECT_NE(error_of([&] { root.at("s").as_string(); }).find("a string"), std::string::npos);
  EXPECT_NE(error_of([&] { root.at("missing"); }).find("required"), std::string::npos);
}

}  // namespace
}  // namespace mozart::core
