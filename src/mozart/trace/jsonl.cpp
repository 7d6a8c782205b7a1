// JSONL traces, parsed with simdjson's DOM document stream (its kernels are chosen at run
// time for the CPU, where the on-demand front end would be fixed at compile time).
#include <algorithm>

#include <fmt/format.h>
#include <simdjson.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/format_detail.hpp"

namespace mozart::trace::detail {
namespace {

using core::InputError;

bool is_any(std::string_view key, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

// The meta line mozart writes first, if present: its JSON and the byte where records begin.
std::pair<nlohmann::json, std::size_t> split_metadata(std::string_view bytes) {
  const auto start = bytes.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos)
    return {nullptr, bytes.size()};
  const auto end = std::min(bytes.find('\n', start), bytes.size());
  const auto line = bytes.substr(start, end - start);
  if (line.find("\"mozart_trace\"") == std::string_view::npos)
    return {nullptr, 0};
  auto meta = nlohmann::json::parse(line, nullptr, false);
  return {std::move(meta), end};
}

class Reader {
 public:
  explicit Reader(const TextSource& text) : text_(text) {}

  [[noreturn]] void fail(std::size_t offset, const std::string& field, const std::string& value,
                         const std::string& expected) const {
    text_.fail(offset, field, value, expected);
  }

  RawRecords read(std::string_view body, const std::vector<std::string>& known_domains) {
    RawRecords out;
    for (const auto& name : known_domains)
      out.intern_domain(name);
    // One record per line: reserving up front saves the copies of growing the columns.
    lines_ = static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n')) + 1;
    out.records.reserve(lines_);
    // Chunks of whole lines through one padded buffer: memory stays small and warm.
    std::size_t start = 0;
    while (start < body.size()) {
      std::size_t end = std::min(start + kChunk, body.size());
      if (end < body.size()) {
        const auto newline = body.rfind('\n', end - 1);
        if (newline == std::string_view::npos || newline < start)
          fail(start, "record", "(a line over 4 MiB)", "one record per line");
        end = newline + 1;
      }
      read_chunk(body.substr(start, end - start), start, end == body.size(), out);
      start = end;
    }
    return out;
  }

 private:
  static constexpr std::size_t kChunk = std::size_t{4} << 20;

  void read_chunk(std::string_view chunk, std::size_t base, bool last, RawRecords& out) {
    // simdjson reads up to SIMDJSON_PADDING bytes past the end.
    buffer_.resize(chunk.size() + simdjson::SIMDJSON_PADDING);
    std::copy(chunk.begin(), chunk.end(), buffer_.begin());
    std::fill(buffer_.begin() + static_cast<std::ptrdiff_t>(chunk.size()), buffer_.end(), '\0');
    simdjson::dom::document_stream stream;
    const std::size_t batch = std::max<std::size_t>(chunk.size() + 64, 4096);
    if (auto error = parser_
                         .parse_many(reinterpret_cast<const std::uint8_t*>(buffer_.data()),
                                     chunk.size(), batch)
                         .get(stream))
      fail(base, "record", simdjson::error_message(error), "JSON lines");
    for (auto it = stream.begin(); it != stream.end(); ++it) {
      const std::size_t offset = base + it.current_index();
      if (out.records.size() == 1) {
        out.ids.reserve(lines_ * static_cast<std::size_t>(out.top_k));
        if (out.has_gates)
          out.gates.reserve(lines_ * static_cast<std::size_t>(out.top_k));
      }
      simdjson::dom::element doc;
      if (auto error = (*it).get(doc))
        fail(offset, "record", simdjson::error_message(error), "one JSON object per line");
      read_record(doc, offset, out);
    }
    if (stream.truncated_bytes() > 0)
      fail(base + chunk.size() - stream.truncated_bytes(), "record", "(truncated)",
           last ? "a complete JSON object on the last line" : "one JSON object per line");
  }

  std::int64_t integer(simdjson::dom::element value, std::size_t offset, std::string_view key,
                       std::int64_t max) const {
    std::int64_t n = 0;
    if (value.get_int64().get(n) || n < 0 || n > max)
      fail(offset, std::string(key), simdjson::minify(value),
           fmt::format("an integer in [0, {}]", max));
    return n;
  }

  template <typename T, typename Get>
  int read_array(simdjson::dom::element value, std::size_t offset, std::string_view key,
                 Column<T>& into, Get get) const {
    simdjson::dom::array array;
    if (value.get_array().get(array))
      fail(offset, std::string(key), "(not an array)", "an array");
    int count = 0;
    for (simdjson::dom::element element : array) {
      into.push_back(get(element));
      ++count;
    }
    return count;
  }

  void read_record(simdjson::dom::element doc, std::size_t offset, RawRecords& out) const {
    RawRecord record;
    record.offset = offset;
    int ids = -1;
    int gates = -1;
    simdjson::dom::object object;
    if (doc.get_object().get(object))
      fail(offset, "record", "(not an object)", "one JSON object per line");
    for (const auto field : object) {
      const std::string_view key = field.key;
      const simdjson::dom::element value = field.value;
      if (key == "layer") {
        record.layer = integer(value, offset, key, 1 << 20);
      } else if (is_any(key, {"token_idx", "token"})) {
        record.token = integer(value, offset, key, std::int64_t{1} << 40);
      } else if (is_any(key, {"seq_id", "sequence"})) {
        record.sequence = integer(value, offset, key, 0xFFFFFFFFll);
      } else if (is_any(key, {"position", "pos"})) {
        record.position = integer(value, offset, key, 0xFFFFFFFFll);
      } else if (key == "domain") {
        std::string_view name;
        if (value.get_string().get(name))
          fail(offset, "domain", "(not a string)", "a domain name");
        record.domain = out.intern_domain(std::string(name));
      } else if (is_any(key, {"experts", "expert_ids", "topk_ids"})) {
        ids = read_array(value, offset, key, out.ids, [&](simdjson::dom::element v) {
          return integer(v, offset, "experts[]", 65535);
        });
      } else if (is_any(key, {"gating_probs", "gates", "topk_weights"})) {
        gates = read_array(value, offset, key, out.gates, [&](simdjson::dom::element v) {
          double g = 0;
          if (v.get_double().get(g))
            fail(offset, "gates[]", simdjson::minify(v), "a number");
          return g;
        });
      }
    }
    if (record.layer < 0)
      fail(offset, "layer", "(missing)", "a layer index");
    if (record.token < 0)
      fail(offset, "token_idx", "(missing)", "a token index");
    if (ids < 0)
      fail(offset, "experts", "(missing)", "the token's top-k expert ids");
    if (out.top_k == 0)
      out.top_k = ids;
    if (ids != out.top_k || ids == 0)
      fail(offset, "experts", fmt::format("{} ids", ids),
           fmt::format("{} ids, as in the first record", out.top_k));
    if (gates >= 0 && gates != ids)
      fail(offset, "gating_probs", fmt::format("{} gates", gates),
           fmt::format("{} gates, one per expert", ids));
    if (out.records.empty())
      out.has_gates = gates >= 0;
    if ((gates >= 0) != out.has_gates)
      fail(offset, "gating_probs", gates >= 0 ? "present" : "(missing)",
           "gates in every record or in none");
    out.records.push_back(record);
  }

  const TextSource& text_;
  simdjson::dom::parser parser_;
  Column<char> buffer_;
  std::size_t lines_ = 0;
};

}  // namespace

Trace parse_jsonl(std::string_view bytes, const ReadOptions& options, const std::string& source) {
  auto [meta, body_at] = split_metadata(bytes);
  Trace trace;
  if (meta.is_discarded())
    throw InputError({source, "metadata", 1}, "(unparseable)", "a JSON object");
  if (!meta.is_null())
    apply_metadata(meta, trace, source);
  const TextSource text{bytes, body_at, source};
  RawRecords records = Reader(text).read(bytes.substr(body_at), trace.domain_names);
  return assemble_records(std::move(trace), records, options, text);
}

std::string write_jsonl(const Trace& trace) {
  fmt::memory_buffer out;
  fmt::format_to(std::back_inserter(out), "{}\n", metadata(trace).dump());
  const bool gates = !trace.gates.empty();
  for (std::size_t t = 0; t < trace.tokens; ++t) {
    for (int l = 0; l < trace.layers(); ++l) {
      const auto ids = trace.choices(l, t);
      fmt::format_to(std::back_inserter(out),
                     "{{\"layer\": {}, \"token_idx\": {}, \"seq_id\": {}, \"position\": {}, "
                     "\"experts\": [{}]",
                     trace.shape.layer_ids[static_cast<std::size_t>(l)], t, trace.sequence[t],
                     trace.position[t], fmt::join(ids, ", "));
      if (gates) {
        const auto* g = trace.gates.data() + trace.offset(l, t);
        fmt::format_to(std::back_inserter(out), ", \"gating_probs\": [{}]",
                       fmt::join(g, g + trace.top_k(), ", "));
      }
      if (!trace.domain.empty())
        fmt::format_to(std::back_inserter(out), ", \"domain\": {}",
                       nlohmann::json(trace.domain_names[trace.domain[t]]).dump());
      fmt::format_to(std::back_inserter(out), "}}\n");
    }
  }
  return fmt::to_string(out);
}

}  // namespace mozart::trace::detail
