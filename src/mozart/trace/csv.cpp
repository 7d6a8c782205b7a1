// CSV traces: an optional "# {metadata}" line, a header row, then one row per token and layer.
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/format_detail.hpp"

namespace mozart::trace::detail {
namespace {

using core::InputError;

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> cells;
  std::size_t start = 0;
  while (true) {
    const auto comma = line.find(',', start);
    cells.push_back(
        line.substr(start, comma == std::string_view::npos ? line.npos : comma - start));
    if (comma == std::string_view::npos)
      return cells;
    start = comma + 1;
  }
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == ' '))
    s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ')
    s.remove_prefix(1);
  return s;
}

// Which column holds what, from the header row.
struct Columns {
  int token = -1, layer = -1, sequence = -1, position = -1, domain = -1;
  std::vector<int> ids, gates;
  std::size_t width = 0;
};

Columns read_header(std::string_view line, const TextSource& text, std::size_t offset) {
  Columns c;
  const auto cells = split(line);
  c.width = cells.size();
  std::vector<std::pair<int, int>> ids, gates;  // (j, column)
  for (int i = 0; i < static_cast<int>(cells.size()); ++i) {
    const auto name = strip(cells[static_cast<std::size_t>(i)]);
    int j = 0;
    const auto indexed = [&](char prefix) {
      return name.size() > 1 && name[0] == prefix &&
             std::from_chars(name.data() + 1, name.data() + name.size(), j).ptr ==
                 name.data() + name.size();
    };
    if (name == "token")
      c.token = i;
    else if (name == "layer")
      c.layer = i;
    else if (name == "sequence")
      c.sequence = i;
    else if (name == "position")
      c.position = i;
    else if (name == "domain")
      c.domain = i;
    else if (indexed('e'))
      ids.emplace_back(j, i);
    else if (indexed('g'))
      gates.emplace_back(j, i);
    else
      text.fail(offset, "header", std::string(name),
                "columns token, layer, e0.., and optionally sequence, position, domain, g0..");
  }
  std::sort(ids.begin(), ids.end());
  std::sort(gates.begin(), gates.end());
  for (std::size_t j = 0; j < ids.size(); ++j) {
    if (ids[j].first != static_cast<int>(j))
      text.fail(offset, "header", fmt::format("e{}", ids[j].first), fmt::format("e{}", j));
    c.ids.push_back(ids[j].second);
  }
  for (const auto& g : gates)
    c.gates.push_back(g.second);
  if (c.token < 0 || c.layer < 0 || c.ids.empty())
    text.fail(offset, "header", std::string(line.substr(0, 80)),
              "at least the columns token, layer and e0");
  if (!c.gates.empty() && c.gates.size() != c.ids.size())
    text.fail(offset, "header", fmt::format("{} gate columns", c.gates.size()),
              fmt::format("none or {}, one per expert column", c.ids.size()));
  return c;
}

std::int64_t integer(std::string_view cell, const TextSource& text, std::size_t offset,
                     const char* field, std::int64_t max) {
  cell = strip(cell);
  std::int64_t n = -1;
  const auto [end, error] = std::from_chars(cell.data(), cell.data() + cell.size(), n);
  if (error != std::errc() || end != cell.data() + cell.size() || n < 0 || n > max)
    text.fail(offset, field, std::string(cell), fmt::format("an integer in [0, {}]", max));
  return n;
}

double number(std::string_view cell, const TextSource& text, std::size_t offset) {
  cell = strip(cell);
  double x = 0;
  const auto [end, error] = std::from_chars(cell.data(), cell.data() + cell.size(), x);
  if (error != std::errc() || end != cell.data() + cell.size() || !std::isfinite(x))
    text.fail(offset, "gate", std::string(cell), "a finite number");
  return x;
}

void read_row(std::string_view line, const Columns& c, const TextSource& text, std::size_t offset,
              RawRecords& out) {
  const auto cells = split(line);
  if (cells.size() != c.width)
    text.fail(offset, "row", fmt::format("{} cells", cells.size()),
              fmt::format("{} cells, as in the header", c.width));
  RawRecord r;
  r.offset = offset;
  r.token = integer(cells[static_cast<std::size_t>(c.token)], text, offset, "token",
                    std::int64_t{1} << 40);
  r.layer = integer(cells[static_cast<std::size_t>(c.layer)], text, offset, "layer", 1 << 20);
  if (c.sequence >= 0)
    r.sequence = integer(cells[static_cast<std::size_t>(c.sequence)], text, offset, "sequence",
                         0xFFFFFFFFll);
  if (c.position >= 0)
    r.position = integer(cells[static_cast<std::size_t>(c.position)], text, offset, "position",
                         0xFFFFFFFFll);
  if (c.domain >= 0) {
    const auto name = strip(cells[static_cast<std::size_t>(c.domain)]);
    if (!name.empty())
      r.domain = out.intern_domain(std::string(name));
  }
  for (const int column : c.ids)
    out.ids.push_back(
        integer(cells[static_cast<std::size_t>(column)], text, offset, "expert", 65535));
  for (const int column : c.gates)
    out.gates.push_back(number(cells[static_cast<std::size_t>(column)], text, offset));
  out.records.push_back(r);
}

template <typename... T>
void put(fmt::memory_buffer& out, fmt::format_string<T...> format, T&&... args) {
  fmt::format_to(std::back_inserter(out), format, std::forward<T>(args)...);
}

}  // namespace

Trace parse_csv(std::string_view bytes, const ReadOptions& options, const std::string& source) {
  Trace trace;
  std::size_t at = 0;
  const auto next_line = [&]() {
    const auto end = std::min(bytes.find('\n', at), bytes.size());
    const auto line = bytes.substr(at, end - at);
    at = end + 1;
    return strip(line);
  };
  std::size_t line_at = 0;
  std::string_view line = next_line();
  if (line.starts_with("#")) {
    auto meta = nlohmann::json::parse(line.substr(1), nullptr, false);
    if (meta.is_discarded())
      throw InputError({source, "metadata", 1}, std::string(line.substr(0, 80)), "# {JSON object}");
    apply_metadata(meta, trace, source);
    line_at = at;
    line = next_line();
  }
  const TextSource text{bytes, 0, source};
  const Columns columns = read_header(line, text, line_at);
  RawRecords records;
  for (const auto& name : trace.domain_names)
    records.intern_domain(name);
  records.top_k = static_cast<int>(columns.ids.size());
  records.has_gates = !columns.gates.empty();
  while (at < bytes.size()) {
    const std::size_t row_at = at;
    line = next_line();
    if (!line.empty())
      read_row(line, columns, text, row_at, records);
  }
  trace.domain_names = records.domains;
  return assemble_records(std::move(trace), records, options, text);
}

std::string write_csv(const Trace& trace) {
  fmt::memory_buffer out;
  put(out, "# {}\n", metadata(trace).dump());
  put(out, "token,layer,sequence,position,domain");
  for (int j = 0; j < trace.top_k(); ++j)
    put(out, ",e{}", j);
  if (!trace.gates.empty())
    for (int j = 0; j < trace.top_k(); ++j)
      put(out, ",g{}", j);
  put(out, "\n");
  for (std::size_t t = 0; t < trace.tokens; ++t) {
    const std::string_view domain =
        trace.domain.empty() ? std::string_view() : trace.domain_names[trace.domain[t]];
    for (int l = 0; l < trace.layers(); ++l) {
      put(out, "{},{},{},{},{},{}", t, trace.shape.layer_ids[static_cast<std::size_t>(l)],
          trace.sequence[t], trace.position[t], domain, fmt::join(trace.choices(l, t), ","));
      if (!trace.gates.empty()) {
        const auto* g = trace.gates.data() + trace.offset(l, t);
        put(out, ",{}", fmt::join(g, g + trace.top_k(), ","));
      }
      put(out, "\n");
    }
  }
  return fmt::to_string(out);
}

}  // namespace mozart::trace::detail
