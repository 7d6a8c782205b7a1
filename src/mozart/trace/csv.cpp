// CSV traces: an optional "# {metadata}" line, a header row, then one row per token and layer.
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/format_detail.hpp"
#include "mozart/trace/progress.hpp"

namespace mozart::trace::detail {
namespace {

using core::InputError;

void split(std::string_view line, std::vector<std::string_view>& cells) {
  std::size_t start = 0;
  while (true) {
    const auto comma = line.find(',', start);
    cells.push_back(
        line.substr(start, comma == std::string_view::npos ? line.npos : comma - start));
    if (comma == std::string_view::npos)
      return;
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

[[noreturn]] void fail(const std::string& source, std::uint64_t line, const std::string& field,
                       const std::string& value, const std::string& expected) {
  throw InputError({source, field, static_cast<int>(std::min<std::uint64_t>(line, INT32_MAX))},
                   value, expected);
}

// The text of a file line by line, with line numbers, one chunk in memory at a time.
class Lines {
 public:
  explicit Lines(LineChunks& input) : input_(input) {}

  // The next line without its end (blank lines included); false at the end of the input.
  bool next(std::string_view& text, std::uint64_t& number) {
    while (chunk_.empty()) {
      chunk_ = input_.next();
      if (chunk_.empty())
        return false;
      line_ = input_.first_line();
    }
    const auto end = std::min(chunk_.find('\n'), chunk_.size());
    text = chunk_.substr(0, end);
    chunk_.remove_prefix(std::min(end + 1, chunk_.size()));
    number = line_++;
    return true;
  }

 private:
  LineChunks& input_;
  std::string_view chunk_;
  std::uint64_t line_ = 1;
};

Columns read_header(std::string_view line, const std::string& source, std::uint64_t number) {
  Columns c;
  std::vector<std::string_view> cells;
  split(line, cells);
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
      fail(source, number, "header", std::string(name),
           "columns token, layer, e0.., and optionally sequence, position, domain, g0..");
  }
  std::sort(ids.begin(), ids.end());
  std::sort(gates.begin(), gates.end());
  for (std::size_t j = 0; j < ids.size(); ++j) {
    if (ids[j].first != static_cast<int>(j))
      fail(source, number, "header", fmt::format("e{}", ids[j].first), fmt::format("e{}", j));
    c.ids.push_back(ids[j].second);
  }
  for (const auto& g : gates)
    c.gates.push_back(g.second);
  if (c.token < 0 || c.layer < 0 || c.ids.empty())
    fail(source, number, "header", std::string(line.substr(0, 80)),
         "at least the columns token, layer and e0");
  if (!c.gates.empty() && c.gates.size() != c.ids.size())
    fail(source, number, "header", fmt::format("{} gate columns", c.gates.size()),
         fmt::format("none or {}, one per expert column", c.ids.size()));
  return c;
}

// One data row: its cells parsed into a record and the scratch id and gate vectors.
class RowReader {
 public:
  RowReader(const Columns& columns, const std::string& source, Assembler& out)
      : c_(columns), source_(source), out_(out) {}

  void read(std::string_view line, std::uint64_t number) {
    number_ = number;
    cells_.clear();
    split(line, cells_);
    if (cells_.size() != c_.width)
      fail(source_, number, "row", fmt::format("{} cells", cells_.size()),
           fmt::format("{} cells, as in the header", c_.width));
    Record r;
    r.line = number;
    r.token = integer(c_.token, "token", std::int64_t{1} << 40);
    r.layer = integer(c_.layer, "layer", 1 << 20);
    if (c_.sequence >= 0)
      r.sequence = integer(c_.sequence, "sequence", 0xFFFFFFFFll);
    if (c_.position >= 0)
      r.position = integer(c_.position, "position", 0xFFFFFFFFll);
    if (c_.domain >= 0) {
      const auto name = strip(cells_[static_cast<std::size_t>(c_.domain)]);
      if (!name.empty())
        r.domain = out_.intern_domain(name, number);
    }
    ids_.clear();
    for (const int column : c_.ids)
      ids_.push_back(integer(column, "expert", 65535));
    gates_.clear();
    for (const int column : c_.gates)
      gates_.push_back(number_at(column));
    out_.add(r, ids_, gates_);
  }

 private:
  std::int64_t integer(int column, const char* field, std::int64_t max) const {
    const auto cell = strip(cells_[static_cast<std::size_t>(column)]);
    std::int64_t n = -1;
    const auto [end, error] = std::from_chars(cell.data(), cell.data() + cell.size(), n);
    if (error != std::errc() || end != cell.data() + cell.size() || n < 0 || n > max)
      fail(source_, number_, field, std::string(cell), fmt::format("an integer in [0, {}]", max));
    return n;
  }

  double number_at(int column) const {
    const auto cell = strip(cells_[static_cast<std::size_t>(column)]);
    double x = 0;
    const auto [end, error] = std::from_chars(cell.data(), cell.data() + cell.size(), x);
    if (error != std::errc() || end != cell.data() + cell.size() || !std::isfinite(x))
      fail(source_, number_, "gate", std::string(cell), "a finite number");
    return x;
  }

  const Columns& c_;
  const std::string& source_;
  Assembler& out_;
  std::uint64_t number_ = 0;
  std::vector<std::string_view> cells_;
  std::vector<std::int64_t> ids_;
  std::vector<double> gates_;
};

}  // namespace

Trace read_csv(LineChunks& input, const ReadOptions& options) {
  const std::string& source = input.source();
  Lines lines(input);
  Trace trace;
  std::string_view line;
  std::uint64_t number = 0;
  if (!lines.next(line, number))
    fail_empty(source);
  line = strip(line);
  if (line.starts_with("#")) {
    auto meta = nlohmann::json::parse(line.substr(1), nullptr, false);
    if (meta.is_discarded())
      fail(source, number, "metadata", std::string(line.substr(0, 80)), "# {JSON object}");
    apply_metadata(meta, trace, source);
    if (!lines.next(line, number))
      fail_empty(source);
    line = strip(line);
  }
  const Columns columns = read_header(line, source, number);
  Assembler records(std::move(trace), options, source, "token");
  RowReader rows(columns, source, records);
  ProgressTicker ticker(options.progress, input.total_bytes(), std::size_t{1} << 22);
  std::uint64_t done = input.bytes_done();  // the records added so far come from these bytes
  while (lines.next(line, number)) {
    if (input.bytes_done() != done) {  // `line` begins a new chunk
      records.read_so_far(done, input.total_bytes());
      done = input.bytes_done();
    }
    line = strip(line);
    if (!line.empty())
      rows.read(line, number);
    ticker.at(input.bytes_done());
  }
  ticker.finish();
  return records.finish();
}

void write_csv(const Trace& trace, Sink& sink, const Progress& progress) {
  BufferedWriter out(sink);
  fmt::format_to(out.out(), "# {}\n", metadata(trace).dump());
  out.append("token,layer,sequence,position,domain");
  for (int j = 0; j < trace.top_k(); ++j)
    fmt::format_to(out.out(), ",e{}", j);
  if (!trace.gates.empty())
    for (int j = 0; j < trace.top_k(); ++j)
      fmt::format_to(out.out(), ",g{}", j);
  out.append("\n");
  std::size_t longest = 0;
  for (const auto& name : trace.domain_names)
    longest = std::max(longest, name.size());
  const auto k = static_cast<std::size_t>(trace.top_k());
  const std::size_t room = 128 + longest + k * (8 + 2 + kMaxFloatText);
  const auto id = [](Cursor& c, ExpertId e) { c.integer(e); };
  const auto gate = [](Cursor& c, float g) { c.number(g); };
  std::vector<std::string> layers;  // ",{layer},"
  for (const int layer : trace.shape.layer_ids)
    layers.push_back(fmt::format(",{},", layer));
  std::string token;
  ProgressTicker ticker(progress, trace.records(), kRecordsPerTick);
  for (std::size_t t = 0; t < trace.tokens; ++t) {
    const std::string_view domain =
        trace.domain.empty() ? std::string_view() : trace.domain_names[trace.domain[t]];
    token = fmt::format("{},{},{},", trace.sequence[t], trace.position[t], domain);
    for (int l = 0; l < trace.layers(); ++l) {
      Cursor c(out.reserve(room));
      c.integer(t);
      c.text(layers[static_cast<std::size_t>(l)]);
      c.text(token);
      c.joined(trace.choices(l, t).data(), k, ",", id);
      if (!trace.gates.empty()) {
        c.text(",");
        c.joined(trace.gates.data() + trace.offset(l, t), k, ",", gate);
      }
      c.text("\n");
      out.commit(c.end());
    }
    out.flush_if_full();
    ticker.at((t + 1) * static_cast<std::size_t>(trace.layers()));
  }
  out.flush();
  ticker.finish();
}

}  // namespace mozart::trace::detail
