// Reading and writing routing traces.
//
//   native  mozart's binary format (.mzt): a 64-byte header with magic, version, dimensions and
//           an XXH3 checksum, then 64-byte-aligned columns that can be mapped straight from disk;
//   jsonl   one record per token and layer, as routing loggers write them:
//           {"layer": 3, "token_idx": 17, "experts": [7, 0], "gating_probs": [0.8, 0.2]}
//           plus optional "seq_id", "position" and "domain"; mozart's writer adds a first line
//           {"mozart_trace": 1, ...} with what the records cannot say (expert count, model);
//   npy     an integer array [tokens, layers, k] of expert ids;
//   csv     a header row, then one row per token and layer: token, layer, sequence, position,
//           domain, e0..e{k-1}, optionally g0..g{k-1}.
//
// Every reader validates what it read (trace.hpp's validate) and reports the first fault with
// its record or line number; a missing (token, layer) record is reported, not guessed. No
// allocation is sized by a field's value before it is checked against what the file holds (a
// token index against the number of records, NPY and native dimensions against the file's
// size), and a trace above memory_limit() (memory.hpp) is refused with the estimate. A trace
// without records (no tokens) is refused in every format with the same message.
//
// Text formats stream: the reader holds one chunk of lines (a few MiB) besides the trace, and
// writers write as they go, through a temporary file renamed into place when complete.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "mozart/trace/trace.hpp"

namespace mozart::trace {

enum class Format { native, jsonl, npy, csv };

std::string_view to_string(Format format);
std::optional<Format> parse_format(std::string_view name);
// By extension: .mzt/.bin, .jsonl/.ndjson, .npy, .csv. An unknown one is an InputError.
Format format_of_path(const std::string& path);

// What the foreign formats do not record. `experts` is required for JSONL, NPY and CSV files
// that lack mozart's metadata line; `layer_ids` names the model layers of an NPY file's layer
// axis (default 0, 1, ...); a `top_k` or `experts` that disagrees with the file is an error.
struct ReadOptions {
  std::optional<Format> format;  // default: from the file's extension
  TraceShape hint;               // zeros and empty vectors mean "not given"
  std::string model;
  Progress progress;  // counts bytes of the input read
  // JSONL only: the field that holds each role (token, layer, experts, gates, logits, sequence,
  // position, domain), for logs whose names are not the common ones; a mapped role answers to
  // its field alone, and a record without a mapped field is an error naming it. `logits` (one
  // router logit per expert) takes the top-k (hint.top_k) and, unless gates are given, their
  // softmax probabilities as gates.
  std::map<std::string, std::string> fields;
  // JSONL and CSV: keep only the tokens with a record at every layer (renumbered in order)
  // instead of refusing a file with missing records; `report` hears how many were dropped.
  bool drop_incomplete = false;
  std::function<void(const std::string&)> report;
};

Trace read_trace(const std::string& path, const ReadOptions& options = {});
// The same from bytes in memory; `source` names them in errors.
Trace parse_trace(std::string_view bytes, Format format, const ReadOptions& options,
                  const std::string& source);

std::string serialise_trace(const Trace& trace, Format format);
// Written whole or not at all: streamed to `path`.tmp.<pid>, renamed over `path` at the end,
// removed on error. `progress` counts (token, layer) records, or bytes for the native format.
void write_trace(const Trace& trace, const std::string& path,
                 std::optional<Format> format = std::nullopt, const Progress& progress = {});

// The header of a native file.
struct NativeHeader {
  std::uint32_t version = 0;
  bool has_gates = false;
  bool has_domains = false;
  std::uint32_t layers = 0;
  std::uint32_t top_k = 0;
  std::uint32_t experts = 0;
  std::uint64_t tokens = 0;
  std::uint64_t checksum = 0;
};

inline constexpr std::uint32_t kNativeVersion = 1;

}  // namespace mozart::trace
