// Internal to the trace module: one reader and writer per format, and the metadata they share.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/trace/formats.hpp"

namespace mozart::trace::detail {

// What mozart writes beside the records: model, expert count, k, layer ids and domain names.
nlohmann::json metadata(const Trace& trace);
// Fills model, shape and domain names of `trace` from a metadata object.
void apply_metadata(const nlohmann::json& meta, Trace& trace, const std::string& source);

// The shape of a foreign file: what the file says (`observed`, zeros where silent) checked
// against and completed by the user's hint.
TraceShape resolve_shape(const TraceShape& observed, const TraceShape& hint,
                         const std::string& source);

// A text input whose byte offsets are reported as line numbers. `base` is where the records
// begin in `text`; offsets passed to fail() are relative to it.
struct TextSource {
  std::string_view text;
  std::size_t base = 0;
  std::string source;

  [[noreturn]] void fail(std::size_t offset, const std::string& field, const std::string& value,
                         const std::string& expected) const;
};

// Records of the text formats as read, before the trace's dimensions are known.
struct RawRecord {
  std::int64_t layer = -1;  // the model's layer index
  std::int64_t token = -1;
  std::int64_t sequence = -1;
  std::int64_t position = -1;
  int domain = -1;
  std::size_t offset = 0;  // where the record starts, for its line number
};

struct RawRecords {
  Column<RawRecord> records;
  Column<std::int64_t> ids;  // top_k per record
  Column<double> gates;      // top_k per record, or empty
  int top_k = 0;
  bool has_gates = false;
  std::vector<std::string> domains;
  std::unordered_map<std::string, int> domain_index;

  int intern_domain(const std::string& name);
};

// Completes `trace` (model, domain names and any metadata shape already set) from the records:
// checks k and the expert ids against the resolved shape, then places each record at its
// (layer, token) slot. A duplicate or missing slot is an error.
Trace assemble_records(Trace trace, const RawRecords& records, const ReadOptions& options,
                       const TextSource& text);

Trace parse_native(std::string_view bytes, const std::string& source);
std::string write_native(const Trace& trace);
NativeHeader parse_native_header(std::string_view bytes, const std::string& source);

Trace parse_jsonl(std::string_view bytes, const ReadOptions& options, const std::string& source);
std::string write_jsonl(const Trace& trace);

Trace parse_npy(std::string_view bytes, const ReadOptions& options, const std::string& source);
std::string write_npy(const Trace& trace);

Trace parse_csv(std::string_view bytes, const ReadOptions& options, const std::string& source);
std::string write_csv(const Trace& trace);

}  // namespace mozart::trace::detail
