// Trace formats: lossless round trips, and a clear error for each kind of bad input.
#include "mozart/trace/formats.hpp"

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/generator.hpp"

namespace mozart::trace {
namespace {

Trace small_trace(bool gates) {
  GeneratorParams p;
  p.gates = gates;
  p.domains = {"code", "prose"};
  p.sequence_length = 16;
  return generate({{1, 3, 5}, 16, 4}, 100, p, 7, "tiny");
}

// The error message of parsing `bytes`, or "" when it parses.
std::string error_of(std::string_view bytes, Format format, ReadOptions options = {}) {
  try {
    parse_trace(bytes, format, options, "input");
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

bool same(const Trace& a, const Trace& b) {
  return a.model == b.model && a.shape.layer_ids == b.shape.layer_ids &&
         a.shape.experts == b.shape.experts && a.shape.top_k == b.shape.top_k &&
         a.tokens == b.tokens && a.experts == b.experts && a.gates == b.gates &&
         a.sequence == b.sequence && a.position == b.position && a.domain == b.domain &&
         a.domain_names == b.domain_names;
}

TEST(TraceFormats, EveryFormatRoundTripsExactly) {
  for (const bool gates : {false, true}) {
    const Trace original = small_trace(gates);
    for (const Format format : {Format::native, Format::jsonl, Format::csv}) {
      const Trace back = parse_trace(serialise_trace(original, format), format, {}, "memory");
      EXPECT_TRUE(same(original, back)) << to_string(format) << " gates=" << gates;
    }
  }
}

TEST(TraceFormats, NpyKeepsTheExpertIds) {
  const Trace original = small_trace(false);
  ReadOptions options;
  options.hint = original.shape;
  const Trace back = parse_trace(serialise_trace(original, Format::npy), Format::npy, options, "m");
  EXPECT_EQ(back.experts, original.experts);
  EXPECT_EQ(back.shape.layer_ids, original.shape.layer_ids);
}

TEST(TraceFormats, NativeWritesAreDeterministic) {
  EXPECT_EQ(serialise_trace(small_trace(true), Format::native),
            serialise_trace(small_trace(true), Format::native));
}

TEST(TraceFormats, NativeRejectsCorruption) {
  const std::string good = serialise_trace(small_trace(true), Format::native);
  EXPECT_NE(error_of(good.substr(0, good.size() - 10), Format::native).find("truncated"),
            std::string::npos);
  EXPECT_NE(error_of(good.substr(0, 20), Format::native).find("header"), std::string::npos);
  std::string magic = good;
  magic[0] = 'X';
  EXPECT_NE(error_of(magic, Format::native).find("MOZTRACE"), std::string::npos);
  std::string version = good;
  version[8] = 9;
  EXPECT_NE(error_of(version, Format::native).find("version"), std::string::npos);
  std::string flipped = good;
  flipped[flipped.size() - 100] ^= 1;
  EXPECT_NE(error_of(flipped, Format::native).find("checksum"), std::string::npos);
}

TEST(TraceFormats, JsonlReadsLoggerRecords) {
  const std::string text =
      "{\"layer\": 3, \"token_idx\": 0, \"experts\": [7, 0], \"gating_probs\": [0.8, 0.2]}\n"
      "{\"layer\": 3, \"token_idx\": 1, \"experts\": [1, 2], \"gating_probs\": [0.6, 0.4]}\n"
      "\n"
      "{\"token_idx\": 0, \"layer\": 5, \"experts\": [4, 5], \"gating_probs\": [0.5, 0.5], "
      "\"extra\": 1}\n"
      "{\"layer\": 5, \"token_idx\": 1, \"experts\": [6, 7], \"gating_probs\": [0.9, 0.1]}\n";
  ReadOptions options;
  options.hint.experts = 8;
  const Trace t = parse_trace(text, Format::jsonl, options, "log.jsonl");
  EXPECT_EQ(t.shape.layer_ids, (std::vector<int>{3, 5}));
  EXPECT_EQ(t.tokens, 2u);
  EXPECT_EQ(t.choices(1, 0)[0], 4);
  EXPECT_FLOAT_EQ(t.gates[t.offset(0, 0)], 0.8f);
  EXPECT_NE(error_of(text, Format::jsonl).find("--experts"), std::string::npos);
}

TEST(TraceFormats, JsonlFaultsNameTheLine) {
  ReadOptions options;
  options.hint.experts = 8;
  const std::string first = "{\"layer\": 0, \"token_idx\": 0, \"experts\": [1, 2]}\n";
  const auto fault = [&](const std::string& second) {
    return error_of(first + second, Format::jsonl, options);
  };
  EXPECT_NE(fault("{\"layer\": 0, \"token_idx\": 1, \"experts\": [1, 9]}\n").find(":2"),
            std::string::npos);
  EXPECT_NE(fault("{\"layer\": 0, \"token_idx\": 1, \"experts\": [1, 2, 3]}\n").find("2 ids"),
            std::string::npos);
  EXPECT_NE(fault("{\"layer\": 0, \"token_idx\": 1, \"experts\": [3, 3]}\n").find("distinct"),
            std::string::npos);
  EXPECT_NE(fault("{\"layer\": 0, \"token_idx\": 0, \"experts\": [3, 4]}\n").find("again"),
            std::string::npos);
  EXPECT_NE(fault("{\"layer\": 0, \"token_idx\": 2, \"experts\": [3, 4]}\n").find("missing"),
            std::string::npos);
  EXPECT_NE(fault("{\"layer\": 0, \"token_idx\": 1, \"exp").find("input:2"), std::string::npos);
  EXPECT_NE(fault("{\"layer\": 0, \"token_idx\": 1, \"experts\": [1, 2], \"gates\": [-1, 2]}\n")
                .find("gates"),
            std::string::npos);
}

TEST(TraceFormats, CsvFaults) {
  ReadOptions options;
  options.hint.experts = 8;
  const std::string header = "token,layer,e0,e1,g0,g1\n";
  EXPECT_EQ(error_of(header + "0,0,1,2,0.5,0.5\n", Format::csv, options), "");
  EXPECT_NE(error_of(header + "0,0,1,2,nan,0.5\n", Format::csv, options).find(":2"),
            std::string::npos);
  EXPECT_NE(error_of(header + "0,0,1,2\n", Format::csv, options).find("cells"), std::string::npos);
  EXPECT_NE(error_of("token,layer,x0\n0,0,1\n", Format::csv, options).find("header"),
            std::string::npos);
}

TEST(TraceFormats, NpyFaults) {
  const Trace t = small_trace(false);
  ReadOptions options;
  options.hint.experts = 16;
  const std::string good = serialise_trace(t, Format::npy);
  EXPECT_EQ(error_of(good, Format::npy, options), "");
  EXPECT_NE(error_of(good.substr(0, good.size() - 3), Format::npy, options).find("truncated"),
            std::string::npos);
  options.hint.experts = 4;
  EXPECT_NE(error_of(good, Format::npy, options).find("expert id"), std::string::npos);
  std::string dtype = good;
  dtype.replace(dtype.find("<i2"), 3, "<f4");
  options.hint.experts = 16;
  EXPECT_NE(error_of(dtype, Format::npy, options).find("integer dtype"), std::string::npos);
  std::string huge = good;
  huge.replace(huge.find("(100,"), 5, "(99999999999999999999999,");
  EXPECT_NE(error_of(huge, Format::npy, options).find("below 2^64"), std::string::npos);
}

TEST(TraceFormats, FormatFromExtension) {
  EXPECT_EQ(format_of_path("a/b.mzt"), Format::native);
  EXPECT_EQ(format_of_path("x.jsonl"), Format::jsonl);
  EXPECT_THROW(format_of_path("x.txt"), core::InputError);
}

}  // namespace
}  // namespace mozart::trace
