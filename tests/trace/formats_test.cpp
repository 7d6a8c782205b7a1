// Trace formats: lossless round trips, and a clear error for each kind of bad input.
#include "mozart/trace/formats.hpp"

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>
#include <xxhash.h>

#include "mozart/core/error.hpp"
#include "mozart/core/random.hpp"
#include "mozart/trace/generator.hpp"
#include "mozart/trace/memory.hpp"
#include "mozart/trace/priors.hpp"
#include "mozart/trace/stream.hpp"

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

// The text formats check each record as it is read (no second pass over the trace): a repeated
// expert, a gate outside [0, 1] or one too large for a float, and k above the expert count are
// refused naming the line, in mozart's own record shape, in any other JSON spelling, and in CSV.
TEST(TraceFormats, TextRecordChecksNameTheLine) {
  ReadOptions options;
  options.hint.experts = 8;
  const std::string meta =
      R"({"mozart_trace": 1, "model": "", "experts": 8, "top_k": 2, "layer_ids": [0], )"
      R"("domains": []})"
      "\n";
  const std::string own =
      R"({"layer": 0, "token_idx": 0, "seq_id": 0, "position": 0, "experts": [1, 2], )"
      R"("gating_probs": [0.5, 0.5]})"
      "\n";
  const auto second = [](const std::string& ids, const std::string& gates) {
    return R"({"layer": 0, "token_idx": 1, "seq_id": 0, "position": 1, "experts": [)" + ids +
           R"(], "gating_probs": [)" + gates + "]}\n";
  };
  const auto general = [](const std::string& ids, const std::string& gates) {
    return R"({"experts":[)" + ids + R"(],"gates":[)" + gates + R"(],"token_idx":1,"layer":0})" +
           "\n";
  };
  EXPECT_EQ(error_of(meta + own + second("3, 4", "0.25, 0.75"), Format::jsonl), "");
  for (const auto& make : {+second, +general}) {
    const auto fault = [&](const std::string& ids, const std::string& gates) {
      return error_of(meta + own + make(ids, gates), Format::jsonl, options);
    };
    EXPECT_NE(fault("3, 3", "0.5, 0.5").find("input:3: field 'experts': got '3'"),
              std::string::npos)
        << fault("3, 3", "0.5, 0.5");
    EXPECT_NE(fault("3, 3", "0.5, 0.5").find("distinct"), std::string::npos);
    EXPECT_NE(fault("3, 4", "1.5, 0.5").find("input:3: field 'gate': got '1.5'"), std::string::npos)
        << fault("3, 4", "1.5, 0.5");
    EXPECT_NE(fault("3, 4", "0.5, 1e39").find("input:3: field 'gate': got 'inf'"),
              std::string::npos)
        << fault("3, 4", "0.5, 1e39");
  }
  EXPECT_NE(error_of(meta + own + general("3, 4", "-0.5, 0.5"), Format::jsonl, options)
                .find("input:3: field 'gate': got '-0.5'"),
            std::string::npos);
  const std::string header = "token,layer,e0,e1,g0,g1\n";
  EXPECT_NE(error_of(header + "0,0,1,2,0.5,0.5\n1,0,5,5,0.5,0.5\n", Format::csv, options)
                .find("input:3: field 'experts': got '5'"),
            std::string::npos);
  EXPECT_NE(error_of(header + "0,0,1,2,0.5,0.5\n1,0,5,6,0.5,2\n", Format::csv, options)
                .find("input:3: field 'gate': got '2'"),
            std::string::npos);
  ReadOptions narrow;
  narrow.hint.experts = 1;
  EXPECT_NE(
      error_of(header + "0,0,0,0,0.5,0.5\n", Format::csv, narrow).find("field 'top_k': got '2'"),
      std::string::npos)
      << error_of(header + "0,0,0,0,0.5,0.5\n", Format::csv, narrow);
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

// ---- Streaming, bounded allocations, empty traces (issue 13) ----

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("mozart_formats_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::uint64_t hash(const std::string& bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

// The hashes of the writers' output before they streamed (commit 1c9a383), for the traces of
// small_trace(): the streamed writers must produce the same bytes. Re-taken when the generator
// gave each layer its own structure stream (which changed small_trace()), after the writers had
// been checked against the old hashes.
TEST(TraceFormats, StreamedWritersWriteTheSameBytesAsBefore) {
  const std::pair<Format, std::uint64_t> without_gates[] = {{Format::native, 0x9b9a0af64a6fbc87ull},
                                                            {Format::jsonl, 0xc117572020763f67ull},
                                                            {Format::npy, 0x78003876cf9fabb2ull},
                                                            {Format::csv, 0x36b29e6a44fa24b6ull}};
  const std::pair<Format, std::uint64_t> with_gates[] = {{Format::native, 0x1b0b9f93b5a5e2ccull},
                                                         {Format::jsonl, 0x42b94fa16e661bfbull},
                                                         {Format::npy, 0x78003876cf9fabb2ull},
                                                         {Format::csv, 0xee339f88191a3cc2ull}};
  for (const auto& [format, expected] : without_gates)
    EXPECT_EQ(hash(serialise_trace(small_trace(false), format)), expected) << to_string(format);
  for (const auto& [format, expected] : with_gates)
    EXPECT_EQ(hash(serialise_trace(small_trace(true), format)), expected) << to_string(format);
}

Trace hand_trace() {
  Trace t = make_trace({{2, 5}, 4, 2}, 2, "m");
  t.experts = {1, 0, 3, 2, 0, 3, 2, 1};
  t.gates = {0.75f, 0.25f, 0.5f, 0.5f, 1.0f, 0.0f, 0.1f, 0.9f};
  t.domain_names = {"a\"b", "c"};
  t.domain = {1, 0};
  return t;
}

TEST(TraceFormats, TextWritersWriteTheDocumentedLines) {
  const std::string meta =
      R"({"domains":["a\"b","c"],"experts":4,"layer_ids":[2,5],"model":"m","mozart_trace":1,)"
      R"("top_k":2})";
  EXPECT_EQ(serialise_trace(hand_trace(), Format::jsonl),
            meta + "\n" +
                R"({"layer": 2, "token_idx": 0, "seq_id": 0, "position": 0, "experts": [1, 0], )"
                R"("gating_probs": [0.75, 0.25], "domain": "c"})"
                "\n"
                R"({"layer": 5, "token_idx": 0, "seq_id": 0, "position": 0, "experts": [0, 3], )"
                R"("gating_probs": [1, 0], "domain": "c"})"
                "\n"
                R"({"layer": 2, "token_idx": 1, "seq_id": 0, "position": 1, "experts": [3, 2], )"
                R"("gating_probs": [0.5, 0.5], "domain": "a\"b"})"
                "\n"
                R"({"layer": 5, "token_idx": 1, "seq_id": 0, "position": 1, "experts": [2, 1], )"
                R"("gating_probs": [0.1, 0.9], "domain": "a\"b"})"
                "\n");
  EXPECT_EQ(serialise_trace(hand_trace(), Format::csv),
            "# " + meta +
                "\ntoken,layer,sequence,position,domain,e0,e1,g0,g1\n0,2,0,0,c,1,0,0.75,0.25\n"
                "0,5,0,0,c,0,3,1,0\n1,2,0,1,a\"b,3,2,0.5,0.5\n1,5,0,1,a\"b,2,1,0.1,0.9\n");
}

TEST(TraceFormats, FilesRoundTripThroughTheStreamedReadersAndWriters) {
  const Trace original = small_trace(true);
  for (const Format format : {Format::native, Format::jsonl, Format::csv, Format::npy}) {
    const std::string path = temp_path(std::string("round.") + std::string(to_string(format)));
    std::vector<std::pair<std::size_t, std::size_t>> written, read;
    write_trace(original, path, format,
                [&](std::size_t done, std::size_t total) { written.emplace_back(done, total); });
    EXPECT_EQ(std::filesystem::file_size(path), serialise_trace(original, format).size());
    ReadOptions options;
    options.format = format;
    options.hint = original.shape;
    options.progress = [&](std::size_t done, std::size_t total) { read.emplace_back(done, total); };
    const Trace back = read_trace(path, options);
    if (format == Format::npy)
      EXPECT_EQ(back.experts, original.experts);
    else
      EXPECT_TRUE(same(original, back)) << to_string(format);
    for (const auto* reports : {&written, &read}) {
      ASSERT_FALSE(reports->empty()) << to_string(format);
      EXPECT_EQ(reports->back().first, reports->back().second) << to_string(format);
      for (std::size_t i = 1; i < reports->size(); ++i)
        EXPECT_LE((*reports)[i - 1].first, (*reports)[i].first);
    }
    EXPECT_EQ(read.back().second, std::filesystem::file_size(path));
    std::filesystem::remove(path);
  }
}

TEST(TraceFormats, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  const std::string dir = temp_path("no_such_dir");
  EXPECT_THROW(write_trace(small_trace(false), dir + "/t.jsonl"), core::InputError);
  EXPECT_FALSE(std::filesystem::exists(dir));
  // A write that fails half way (a file size limit of 4 KiB stands in for a full disk).
  const std::string path = temp_path("kept.jsonl");
  { std::ofstream(path) << "old"; }
  struct rlimit saved {};
  ::getrlimit(RLIMIT_FSIZE, &saved);
  const auto handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  ::setrlimit(RLIMIT_FSIZE, &small);
  std::string message;
  try {
    write_trace(small_trace(true), path);
  } catch (const core::InputError& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, handler);
  EXPECT_NE(message.find("write failed"), std::string::npos) << message;
  EXPECT_EQ(std::filesystem::file_size(path), 3u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp." + std::to_string(::getpid())));
  std::filesystem::remove(path);
}

TEST(TraceFormats, RecordsInAnyOrderMakeTheSameTrace) {
  // Layer-major and shuffled records read as the token-major ones mozart writes.
  const Trace original = small_trace(true);
  const std::string text = serialise_trace(original, Format::jsonl);
  const auto first_newline = text.find('\n');
  std::vector<std::string> lines;
  for (std::size_t at = first_newline + 1; at < text.size();) {
    const auto end = text.find('\n', at);
    lines.push_back(text.substr(at, end - at + 1));
    at = end + 1;
  }
  const std::string meta = text.substr(0, first_newline + 1);
  std::string layer_major = meta, reversed = meta;
  for (int l = 0; l < original.layers(); ++l)
    for (std::size_t t = 0; t < original.tokens; ++t)
      layer_major +=
          lines[t * static_cast<std::size_t>(original.layers()) + static_cast<std::size_t>(l)];
  for (auto it = lines.rbegin(); it != lines.rend(); ++it)
    reversed += *it;
  EXPECT_TRUE(same(original, parse_trace(layer_major, Format::jsonl, {}, "m")));
  EXPECT_TRUE(same(original, parse_trace(reversed, Format::jsonl, {}, "m")));
  // A duplicate among records out of order names its line.
  const std::string twice = reversed + lines[5];
  EXPECT_NE(error_of(twice, Format::jsonl).find(fmt::format("input:{}", lines.size() + 2)),
            std::string::npos);
}

TEST(TraceFormats, ATokenIndexBeyondTheRecordsIsAnErrorNotAnAllocation) {
  ReadOptions options;
  options.hint.experts = 8;
  const std::string first = "{\"layer\": 0, \"token_idx\": 0, \"experts\": [1, 2]}\n";
  for (const char* token : {"50000000", "1000000000", "1099511627776"}) {
    const auto message =
        error_of(first + "{\"layer\": 0, \"token_idx\": " + token + ", \"experts\": [1, 2]}\n",
                 Format::jsonl, options);
    EXPECT_NE(message.find("input:2: field 'token_idx': got '" + std::string(token) +
                           "', expected a token index below 2"),
              std::string::npos)
        << message;
  }
  const std::string header = "token,layer,e0,e1\n";
  const auto message =
      error_of(header + "0,0,1,2\n0,1,3,4\n50000000,0,1,2\n", Format::csv, options);
  EXPECT_NE(message.find("input:4: field 'token': got '50000000', expected a token index below 2"),
            std::string::npos)
      << message;
}

TEST(TraceFormats, EveryFormatRefusesAnEmptyTraceAlike) {
  const Trace empty = make_trace({{1, 3}, 16, 4}, 0, "empty");
  ReadOptions options;
  options.hint.experts = 16;
  const std::string expected = "a trace without records is refused in every format";
  for (const Format format : {Format::native, Format::jsonl, Format::npy, Format::csv}) {
    const auto message = error_of(serialise_trace(empty, format), format, options);
    EXPECT_NE(message.find(expected), std::string::npos) << to_string(format) << ": " << message;
  }
  for (const Format format : {Format::jsonl, Format::csv})
    EXPECT_NE(error_of("", format, options).find(expected), std::string::npos);
  EXPECT_NE(error_of("token,layer,e0\n", Format::csv, options).find(expected), std::string::npos);
}

TEST(TraceFormats, LinesAreCountedAcrossChunks) {
  // Over 8 MiB of records, so the reader takes several chunks: a fault near the end still
  // names its line.
  GeneratorParams p;
  const Trace t = generate({{0, 1, 2, 3}, 64, 8}, 12'000, p, 3, "big");
  std::string text = serialise_trace(t, Format::jsonl);
  ASSERT_GT(text.size(), std::size_t{9} << 20);
  const std::size_t record = t.records() - 10;  // line record + 2 (after the metadata)
  std::size_t at = 0;
  for (std::size_t line = 0; line <= record; ++line)
    at = text.find('\n', at) + 1;
  const auto experts = text.find("\"experts\": [", at) + 12;
  text.replace(experts, 2, "99");
  const auto message = error_of(text, Format::jsonl);
  EXPECT_NE(message.find(fmt::format("input:{}", record + 2)), std::string::npos) << message;
}

TEST(TraceFormats, ColumnsReservedFromTheFileSizeHoldEveryRecord) {
  // Over 5 MiB of records (chunks hold 4 MiB): after the first chunk the reader reserves its
  // columns from the share of the file read. Files ordered by token and by layer (where the first
  // layer's estimate is the whole file) read back whole, in both text formats.
  GeneratorParams p;
  p.gates = true;
  const Trace t = generate({{0, 1, 2, 3}, 64, 8}, 12'000, p, 5, "big");
  for (const Format format : {Format::jsonl, Format::csv}) {
    const std::string text = serialise_trace(t, format);
    ASSERT_GT(text.size(), std::size_t{5} << 20);
    EXPECT_TRUE(same(t, parse_trace(text, format, {}, "big"))) << to_string(format);
  }
  const std::string text = serialise_trace(t, Format::jsonl);
  const std::size_t meta = text.find('\n') + 1;
  std::vector<std::string_view> lines;
  for (std::size_t at = meta; at < text.size();) {
    const std::size_t end = text.find('\n', at) + 1;
    lines.emplace_back(text.data() + at, end - at);
    at = end;
  }
  std::stable_sort(lines.begin(), lines.end(), [](std::string_view a, std::string_view b) {
    return a.substr(0, a.find(',')) < b.substr(0, b.find(','));  // by "{"layer": L" (L < 10)
  });
  std::string by_layer = text.substr(0, meta);
  for (const auto line : lines)
    by_layer += line;
  EXPECT_TRUE(same(t, parse_trace(by_layer, Format::jsonl, {}, "big")));
}

TEST(TraceFormats, FloatsAreWrittenAsFmtWritesThem) {
  // The writers' own float text against fmt's "{}": edge cases, then random bit patterns
  // (every exponent, so both the hand-written and the fmt branches are checked).
  const auto check = [](float x) {
    char text[64];
    const char* const end = detail::write_float(text, x);
    ASSERT_LE(static_cast<std::size_t>(end - text), detail::kMaxFloatText);
    ASSERT_EQ(std::string(text, static_cast<std::size_t>(end - text)), fmt::format("{}", x))
        << std::hexfloat << x;
  };
  for (const float x : {0.0f, -0.0f, 1.0f, 0.5f, 0.1f, 1e-4f, 9.99e-5f, 1e-5f, 0.0001234f, 10.0f,
                        100.0f, 1e7f, 99999992.0f, 1e8f, 1e20f, 123456.7f, 1.17549435e-38f,
                        std::numeric_limits<float>::denorm_min(), -0.25f})
    check(x);
  core::Rng rng(5);
  for (int i = 0; i < 400'000; ++i) {
    const auto bits = static_cast<std::uint32_t>(rng.below(std::uint64_t{1} << 32));
    float x = 0;
    std::memcpy(&x, &bits, sizeof x);
    if (std::isfinite(x))
      check(x);
    check(static_cast<float>(rng.uniform()));  // gates' range, mostly fixed notation
  }
}

TEST(TraceFormats, JsonlOwnIntegersReadAsAnyJsonReader) {
  // Ids of one, two and three digits (one and two are read without a loop) read alike by the
  // hand parser and by simdjson; a leading zero is refused by both.
  GeneratorParams p;
  p.gates = true;
  const Trace original = generate({{0, 2}, 300, 4}, 200, p, 3, "wide");
  const std::string own = serialise_trace(original, Format::jsonl);
  std::string spaced = own;
  for (std::size_t at = 0; (at = spaced.find(", ", at)) != std::string::npos; at += 3)
    spaced.replace(at, 2, " , ");
  EXPECT_TRUE(same(parse_trace(own, Format::jsonl, {}, "own"), original));
  EXPECT_TRUE(same(parse_trace(spaced, Format::jsonl, {}, "spaced"), original));
  for (const char* id : {"07", "00", "012"}) {
    std::string bad = own;
    const std::size_t at = bad.find("\"experts\": [") + 12;
    bad.replace(at, bad.find_first_of(",]", at) - at, id);
    EXPECT_NE(error_of(bad, Format::jsonl).find("input:2"), std::string::npos) << id;
  }
}

TEST(TraceFormats, JsonlOwnRecordsReadAsAnyJsonReader) {
  // Mozart's own record shape is read by a hand parser, anything else by simdjson: the same
  // records with other spacing (simdjson only) must give the same trace, for every gate text.
  const Trace original = small_trace(true);
  std::string own = serialise_trace(original, Format::jsonl);
  // Gate texts the writer does not produce but a JSON writer may: more digits than a 64-bit
  // mantissa, exponents beyond 10^22, an explicit exponent sign, trailing zeros.
  const std::vector<std::string> texts = {
      "0.1000000000000000055511151231257827021181583404541015625", "1e-30", "0.5E+0", "0.2500",
      "3e-1", "0", "1", "0.00000000000000000000000001",
      // Fraction digits read eight at a time: runs of 7, 8, 9, 16 and 17 digits.
      "0.1234567", "0.12345678", "0.123456789", "0.1234567890123456", "0.12345678901234567e0",
      // "0." and up to 16 digits are read from two 8-byte loads; more digits, an exponent or a
      // mantissa of 2^53 or more take the general reading.
      "0.000000000000001", "0.9999999999999999", "0.99999999999999999", "0.5e-3", "0.00001E2",
      "0.9007199254740993"};
  std::size_t at = own.find("\"gating_probs\": [") + 17;
  for (const auto& text : texts) {
    const std::size_t end = own.find_first_of(",]", at);
    own.replace(at, end - at, text);
    at = own.find("\"gating_probs\": [", at) + 17;
  }
  std::string spaced = own;
  for (std::size_t p = 0; (p = spaced.find(", \"", p)) != std::string::npos; p += 3)
    spaced.replace(p, 3, " ,\"");
  const Trace a = parse_trace(own, Format::jsonl, {}, "own");
  const Trace b = parse_trace(spaced, Format::jsonl, {}, "spaced");
  EXPECT_TRUE(same(a, b));
  EXPECT_FLOAT_EQ(a.gates[0], 0.1f);
  EXPECT_FLOAT_EQ(a.gates[a.offset(1, 0)], 1e-30f);
  // A record in another shape between own ones, and a fault after it, name their lines.
  std::string mixed = serialise_trace(original, Format::jsonl);
  const auto third = mixed.find('\n', mixed.find('\n', mixed.find('\n') + 1) + 1) + 1;
  mixed.insert(third, "\n");  // a blank line 4
  const auto fifth = third + 1;
  mixed.replace(mixed.find("\"layer\": ", fifth), 9, "\"layer\" :");
  EXPECT_TRUE(same(original, parse_trace(mixed, Format::jsonl, {}, "mixed")));
  const auto seventh = mixed.find('\n', mixed.find('\n', fifth) + 1) + 1;
  mixed.insert(mixed.find("\"experts\": [", seventh) + 12, "-");
  EXPECT_NE(error_of(mixed, Format::jsonl).find("input:7: field 'experts[]'"), std::string::npos)
      << error_of(mixed, Format::jsonl);
}

TEST(TraceFormats, ALineLongerThanAChunkIsAnError) {
  const std::string text = "{\"layer\": 0, \"token_idx\": 0, \"experts\": [1], \"pad\": \"" +
                           std::string(std::size_t{9} << 20, 'x') + "\"}\n";
  ReadOptions options;
  options.hint.experts = 4;
  EXPECT_NE(error_of(text, Format::jsonl, options).find("a line over"), std::string::npos);
}

TEST(TraceMemory, EstimateIsTheColumnsBytes) {
  // 10 tokens × 3 layers × top-2: 60 ids of 2 bytes, 60 gates of 4, per token 4 + 4 + 2.
  EXPECT_EQ(trace_bytes(10, 3, 2, true, true), 60u * 6 + 10u * 10);
  EXPECT_EQ(trace_bytes(10, 3, 2, false, false), 60u * 2 + 10u * 8);
  EXPECT_EQ(trace_bytes(std::uint64_t{1} << 40, std::uint64_t{1} << 20, 1024, true, true),
            UINT64_MAX);
}

// Sets MOZART_MEMORY_LIMIT for one test.
class MemoryLimitOf {
 public:
  explicit MemoryLimitOf(const char* value) { ::setenv("MOZART_MEMORY_LIMIT", value, 1); }
  ~MemoryLimitOf() { ::unsetenv("MOZART_MEMORY_LIMIT"); }
};

TEST(TraceMemory, GenerateRefusesATraceOverTheLimitWithTheEstimate) {
  const MemoryLimitOf limit("1 MiB");
  EXPECT_EQ(memory_limit().bytes, std::uint64_t{1} << 20);
  try {
    generate({{0, 1, 2, 3}, 64, 8}, 1'000'000, {}, 1, "m");
    FAIL() << "expected an InputError";
  } catch (const core::InputError& e) {
    const std::string message = e.what();
    // 32e6 ids × 6 bytes + 1e6 tokens × 10 bytes = 202e6 bytes = 192.6 MiB.
    EXPECT_NE(message.find("1000000 tokens × 4 layers × top-8 with gates needing 193 MiB"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("at most 1.00 MiB (MOZART_MEMORY_LIMIT=1 MiB)"), std::string::npos)
        << message;
  }
  EXPECT_NO_THROW(generate({{0, 1}, 64, 8}, 1000, {}, 1, "m"));
}

TEST(TraceMemory, DefaultLimitIsAShareOfPhysicalMemory) {
  ::unsetenv("MOZART_MEMORY_LIMIT");
  const MemoryLimit limit = memory_limit();
  const auto physical = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
                        static_cast<std::uint64_t>(::sysconf(_SC_PAGE_SIZE));
  EXPECT_LE(limit.bytes, physical / 4 * 3);
  EXPECT_GT(limit.bytes, 0u);
  EXPECT_NE(limit.origin.find("3/4"), std::string::npos);
  const MemoryLimitOf bad("lots");
  EXPECT_THROW(memory_limit(), core::InputError);
}

TEST(TraceMemory, ReadersRefuseATraceOverTheLimit) {
  const std::string jsonl = serialise_trace(small_trace(true), Format::jsonl);
  const std::string native = serialise_trace(small_trace(true), Format::native);
  const MemoryLimitOf limit("1 KiB");
  for (const auto& [bytes, format] :
       {std::pair(jsonl, Format::jsonl), std::pair(native, Format::native)}) {
    const auto message = error_of(bytes, format);
    EXPECT_NE(message.find("field 'memory'"), std::string::npos) << message;
  }
}

TEST(TraceMemory, PriorsRefuseCountMatricesOverTheLimit) {
  // 65,536 experts (a typo'd --experts, or a header that says so): 2 × 65536² counts per layer.
  Trace t = make_trace({{0, 1}, 65536, 1}, 1, "wide");
  const MemoryLimitOf limit("1 GiB");
  try {
    compute_priors(t);
    FAIL() << "expected an InputError";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("2 layers × 65536² experts needing 128 GiB"),
              std::string::npos)
        << e.what();
  }
}

TEST(TraceFormats, FormatFromExtension) {
  EXPECT_EQ(format_of_path("a/b.mzt"), Format::native);
  EXPECT_EQ(format_of_path("x.jsonl"), Format::jsonl);
  EXPECT_THROW(format_of_path("x.txt"), core::InputError);
}

}  // namespace
}  // namespace mozart::trace

namespace mozart::trace {
namespace {

// Routing logs with their own field names, mapped role by role.
TEST(TraceFormats, JsonlFieldsMapAnyNamesAndRefuseAbsentOnes) {
  const std::string log =
      "{\"tok\": 0, \"l\": 2, \"ids\": [1, 2], \"probs\": [0.6, 0.4], \"s\": 5}\n"
      "{\"tok\": 0, \"l\": 4, \"ids\": [3, 0], \"probs\": [0.7, 0.3], \"s\": 5}\n"
      "{\"tok\": 1, \"l\": 2, \"ids\": [2, 3], \"probs\": [0.5, 0.5], \"s\": 5}\n"
      "{\"tok\": 1, \"l\": 4, \"ids\": [1, 0], \"probs\": [0.9, 0.1], \"s\": 5}\n";
  ReadOptions o;
  o.hint.experts = 4;
  o.fields = {
      {"token", "tok"}, {"layer", "l"}, {"experts", "ids"}, {"gates", "probs"}, {"sequence", "s"}};
  const Trace t = parse_trace(log, Format::jsonl, o, "log.jsonl");
  EXPECT_EQ(t.tokens, 2u);
  EXPECT_EQ(t.shape.layer_ids, (std::vector<int>{2, 4}));
  EXPECT_EQ(t.choices(1, 1)[0], 1);
  EXPECT_FLOAT_EQ(t.gates[t.offset(1, 1)], 0.9f);
  EXPECT_EQ(t.sequence[1], 5u);
  // A mapping to a field the records lack: one error naming it.
  auto absent = o;
  absent.fields["gates"] = "prob";
  EXPECT_EQ(error_of(log, Format::jsonl, absent),
            "input:1: field 'prob': got '(missing)', expected the field --fields gates=prob "
            "names in every record");
  // The default names no longer answer for a mapped role.
  auto defaults = o;
  defaults.fields.erase("token");
  EXPECT_NE(error_of(log, Format::jsonl, defaults).find("token_idx"), std::string::npos);
  auto unknown = o;
  unknown.fields["tokn"] = "tok";
  EXPECT_NE(error_of(log, Format::jsonl, unknown).find("a role among"), std::string::npos);
  // Field names map JSONL only.
  EXPECT_NE(error_of(serialise_trace(t, Format::csv), Format::csv, o).find("JSONL"),
            std::string::npos);
  // A missing record is refused with the count and the first one missing.
  const std::string gap = log.substr(0, log.rfind("{\"tok\": 1, \"l\": 4"));
  EXPECT_NE(error_of(gap, Format::jsonl, o)
                .find("1 of 4 (token, layer) records missing, the "
                      "first token 1 at layer 4"),
            std::string::npos)
      << error_of(gap, Format::jsonl, o);
}

TEST(TraceFormats, DropIncompleteKeepsTheCompleteTokensAndSaysSo) {
  // Token 1 lacks layer 4, token 3 has no record at all; tokens 0 and 2 are kept, in order.
  const std::string log =
      "{\"token\": 0, \"layer\": 2, \"experts\": [1, 2], \"seq_id\": 7}\n"
      "{\"token\": 1, \"layer\": 2, \"experts\": [0, 3], \"seq_id\": 7}\n"
      "{\"token\": 2, \"layer\": 2, \"experts\": [2, 3], \"seq_id\": 8}\n"
      "{\"token\": 4, \"layer\": 2, \"experts\": [3, 1], \"seq_id\": 8}\n"
      "{\"token\": 0, \"layer\": 4, \"experts\": [3, 0], \"seq_id\": 7}\n"
      "{\"token\": 2, \"layer\": 4, \"experts\": [1, 0], \"seq_id\": 8}\n"
      "{\"token\": 4, \"layer\": 4, \"experts\": [0, 2], \"seq_id\": 8}\n";
  ReadOptions o;
  o.hint.experts = 4;
  EXPECT_NE(error_of(log, Format::jsonl, o).find("records are missing"), std::string::npos)
      << error_of(log, Format::jsonl, o);
  std::vector<std::string> notes;
  o.drop_incomplete = true;
  o.report = [&](const std::string& note) { notes.push_back(note); };
  const Trace t = parse_trace(log, Format::jsonl, o, "log.jsonl");
  ASSERT_EQ(t.tokens, 3u);
  EXPECT_NO_THROW(validate(t, "kept"));
  EXPECT_EQ(t.choices(0, 1)[0], 2);  // token 2 at layer 2
  EXPECT_EQ(t.choices(1, 1)[0], 1);  // token 2 at layer 4
  EXPECT_EQ(t.choices(1, 2)[1], 2);  // token 4 at layer 4
  EXPECT_EQ(t.sequence[0], 7u);
  EXPECT_EQ(t.sequence[1], 8u);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0],
            "log.jsonl: dropped 1 token without a record at every layer (the first: "
            "token 1); kept 3");
  // The same through CSV, which shares the assembly.
  const Trace csv =
      parse_trace(serialise_trace(t, Format::csv), Format::csv, o, "kept.csv");  // complete
  EXPECT_EQ(csv.tokens, 3u);
}

TEST(TraceFormats, RouterLogitsGiveTheTopKAndSoftmaxGates) {
  const std::string log =
      "{\"token\": 0, \"layer\": 0, \"logits\": [0.1, 2.0, -1.0, 1.5]}\n"
      "{\"token\": 1, \"layer\": 0, \"logits\": [3.0, 0.0, 0.5, 3.0]}\n";
  ReadOptions o;
  o.hint = {{}, 4, 2};
  o.fields = {{"logits", "logits"}};
  const Trace t = parse_trace(log, Format::jsonl, o, "logits.jsonl");
  EXPECT_EQ(std::vector<ExpertId>(t.choices(0, 0).begin(), t.choices(0, 0).end()),
            (std::vector<ExpertId>{1, 3}));
  EXPECT_EQ(std::vector<ExpertId>(t.choices(0, 1).begin(), t.choices(0, 1).end()),
            (std::vector<ExpertId>{0, 3}));  // a tie goes to the lower id
  const double z = std::exp(0.1) + std::exp(2.0) + std::exp(-1.0) + std::exp(1.5);
  EXPECT_NEAR(t.gates[0], std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(t.gates[1], std::exp(1.5) / z, 1e-6);
  // Fewer logits than k, or no k to take: errors.
  o.hint.top_k = 5;
  o.hint.experts = 8;
  EXPECT_NE(error_of(log, Format::jsonl, o).find("4 logits"), std::string::npos);
  o.hint.top_k = 0;
  EXPECT_NE(error_of(log, Format::jsonl, o).find("top-k"), std::string::npos);
}

}  // namespace
}  // namespace mozart::trace
