// JSONL traces, parsed with simdjson's DOM document stream (its kernels are chosen at run
// time for the CPU, where the on-demand front end would be fixed at compile time).
#include <algorithm>

#include <fmt/format.h>
#include <simdjson.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/format_detail.hpp"
#include "mozart/trace/progress.hpp"

namespace mozart::trace::detail {
namespace {

using core::InputError;

bool is_any(std::string_view key, std::initializer_list<std::string_view> names) {
  return std::find(names.begin(), names.end(), key) != names.end();
}

// Records are streamed through one simdjson parser a chunk of whole lines at a time.
static_assert(LineChunks::kPadding >= simdjson::SIMDJSON_PADDING);

class Reader {
 public:
  Reader(const std::string& source, Assembler& out) : source_(source), out_(out) {}

  // The records in `text`, whose first line is line `line` of the file.
  void read_chunk(std::string_view text, std::uint64_t line) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
      return;  // blank lines only, which simdjson calls an empty document
    simdjson::dom::document_stream stream;
    const std::size_t batch = std::max<std::size_t>(text.size() + 64, 4096);
    if (auto error =
            parser_
                .parse_many(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), batch)
                .get(stream))
      fail(line, "record", simdjson::error_message(error), "JSON lines");
    std::size_t counted = 0;  // newlines before `counted` are in `line`
    for (auto it = stream.begin(); it != stream.end(); ++it) {
      const std::size_t at = it.current_index();
      line += count_lines(text.substr(counted, at - counted));
      counted = at;
      simdjson::dom::element doc;
      if (auto error = (*it).get(doc))
        fail(line, "record", simdjson::error_message(error), "one JSON object per line");
      read_record(doc, line);
    }
    if (stream.truncated_bytes() > 0) {
      const std::size_t at = text.size() - stream.truncated_bytes();
      fail(line + count_lines(text.substr(counted, at - counted)), "record", "(truncated)",
           "a complete JSON object on each line");
    }
  }

 private:
  [[noreturn]] void fail(std::uint64_t line, const std::string& field, const std::string& value,
                         const std::string& expected) const {
    throw InputError({source_, field, static_cast<int>(std::min<std::uint64_t>(line, INT32_MAX))},
                     value, expected);
  }

  std::int64_t integer(simdjson::dom::element value, std::uint64_t line, std::string_view key,
                       std::int64_t max) const {
    std::int64_t n = 0;
    if (value.get_int64().get(n) || n < 0 || n > max)
      fail(line, std::string(key), simdjson::minify(value),
           fmt::format("an integer in [0, {}]", max));
    return n;
  }

  template <typename T, typename Get>
  void read_array(simdjson::dom::element value, std::uint64_t line, std::string_view key,
                  std::vector<T>& into, Get get) const {
    simdjson::dom::array array;
    if (value.get_array().get(array))
      fail(line, std::string(key), "(not an array)", "an array");
    into.clear();
    for (simdjson::dom::element element : array)
      into.push_back(get(element));
  }

  void read_record(simdjson::dom::element doc, std::uint64_t line) {
    Record record;
    record.line = line;
    bool has_ids = false;
    bool has_gates = false;
    simdjson::dom::object object;
    if (doc.get_object().get(object))
      fail(line, "record", "(not an object)", "one JSON object per line");
    for (const auto field : object) {
      const std::string_view key = field.key;
      const simdjson::dom::element value = field.value;
      if (key == "layer") {
        record.layer = integer(value, line, key, 1 << 20);
      } else if (is_any(key, {"token_idx", "token"})) {
        record.token = integer(value, line, key, std::int64_t{1} << 40);
      } else if (is_any(key, {"seq_id", "sequence"})) {
        record.sequence = integer(value, line, key, 0xFFFFFFFFll);
      } else if (is_any(key, {"position", "pos"})) {
        record.position = integer(value, line, key, 0xFFFFFFFFll);
      } else if (key == "domain") {
        std::string_view name;
        if (value.get_string().get(name))
          fail(line, "domain", "(not a string)", "a domain name");
        record.domain = out_.intern_domain(name, line);
      } else if (is_any(key, {"experts", "expert_ids", "topk_ids"})) {
        has_ids = true;
        read_array(value, line, key, ids_,
                   [&](simdjson::dom::element v) { return integer(v, line, "experts[]", 65535); });
      } else if (is_any(key, {"gating_probs", "gates", "topk_weights"})) {
        has_gates = true;
        read_array(value, line, key, gates_, [&](simdjson::dom::element v) {
          double g = 0;
          if (v.get_double().get(g))
            fail(line, "gates[]", simdjson::minify(v), "a number");
          return g;
        });
      }
    }
    if (record.layer < 0)
      fail(line, "layer", "(missing)", "a layer index");
    if (record.token < 0)
      fail(line, "token_idx", "(missing)", "a token index");
    if (!has_ids)
      fail(line, "experts", "(missing)", "the token's top-k expert ids");
    if (has_gates && gates_.empty())
      fail(line, "gating_probs", "0 gates", "one gate per expert");
    out_.add(record, ids_, has_gates ? std::span<const double>(gates_) : std::span<const double>());
  }

  const std::string& source_;
  Assembler& out_;
  simdjson::dom::parser parser_;
  std::vector<std::int64_t> ids_;
  std::vector<double> gates_;
};

// Mozart's metadata line, if the first line of `chunk` is one: fills `trace` and returns the
// bytes it takes (0 when there is none).
std::size_t read_metadata(std::string_view chunk, std::uint64_t line, Trace& trace,
                          const std::string& source) {
  const auto start = chunk.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos)
    return 0;
  const auto end = std::min(chunk.find('\n', start), chunk.size());
  const auto text = chunk.substr(start, end - start);
  if (text.find("\"mozart_trace\"") == std::string_view::npos)
    return 0;
  const auto meta = nlohmann::json::parse(text, nullptr, false);
  if (meta.is_discarded())
    throw InputError(
        {source, "metadata", static_cast<int>(line + count_lines(chunk.substr(0, start)))},
        "(unparseable)", "a JSON object");
  apply_metadata(meta, trace, source);
  return end;
}

}  // namespace

Trace read_jsonl(LineChunks& input, const ReadOptions& options) {
  std::string_view chunk = input.next();
  Trace trace;
  const std::size_t skip = read_metadata(chunk, input.first_line(), trace, input.source());
  Assembler records(std::move(trace), options, input.source(), "token_idx");
  Reader reader(input.source(), records);
  ProgressTicker ticker(options.progress, input.total_bytes(), 1);
  reader.read_chunk(chunk.substr(skip), input.first_line() + count_lines(chunk.substr(0, skip)));
  ticker.at(input.bytes_done());
  while (!(chunk = input.next()).empty()) {
    reader.read_chunk(chunk, input.first_line());
    ticker.at(input.bytes_done());
  }
  ticker.finish();
  return records.finish();
}

void write_jsonl(const Trace& trace, Sink& sink, const Progress& progress) {
  BufferedWriter out(sink);
  out.append(metadata(trace).dump());
  out.append("\n");
  // What repeats is formatted once: each layer's opening, each domain's JSON string, and each
  // token's fields.
  std::vector<std::string> opening;
  for (const int id : trace.shape.layer_ids)
    opening.push_back(fmt::format("{{\"layer\": {}, \"token_idx\": ", id));
  std::vector<std::string> domains;
  std::size_t longest = 0;
  for (const auto& name : trace.domain_names) {
    domains.push_back(", \"domain\": " + nlohmann::json(name).dump());
    longest = std::max(longest, domains.back().size());
  }
  const bool gates = !trace.gates.empty();
  const auto k = static_cast<std::size_t>(trace.top_k());
  const std::size_t room = 256 + longest + k * (8 + 2 + kMaxFloatText);
  const auto id = [](Cursor& c, ExpertId e) { c.integer(e); };
  const auto gate = [](Cursor& c, float g) { c.number(g); };
  std::string token;
  ProgressTicker ticker(progress, trace.records(), kRecordsPerTick);
  for (std::size_t t = 0; t < trace.tokens; ++t) {
    token = fmt::format("{}, \"seq_id\": {}, \"position\": {}, \"experts\": [", t,
                        trace.sequence[t], trace.position[t]);
    for (int l = 0; l < trace.layers(); ++l) {
      Cursor c(out.reserve(room));
      c.text(opening[static_cast<std::size_t>(l)]);
      c.text(token);
      c.joined(trace.choices(l, t).data(), k, ", ", id);
      c.text("]");
      if (gates) {
        c.text(", \"gating_probs\": [");
        c.joined(trace.gates.data() + trace.offset(l, t), k, ", ", gate);
        c.text("]");
      }
      if (!trace.domain.empty())
        c.text(domains[trace.domain[t]]);
      c.text("}\n");
      out.commit(c.end());
    }
    out.flush_if_full();
    ticker.at((t + 1) * static_cast<std::size_t>(trace.layers()));
  }
  out.flush();
  ticker.finish();
}

}  // namespace mozart::trace::detail
