#include "mozart/net/traffic.hpp"

#include <algorithm>
#include <map>
#include <queue>
#include <sstream>

#include <fmt/format.h>

#include "mozart/core/config.hpp"
#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"
#include "mozart/core/units.hpp"

namespace mozart::net {
namespace {

// A flow as written, before names and ids are resolved.
struct Row {
  std::string id, source, destination, bytes, start;
  std::vector<std::string> after;
  int line = 0;
  std::string field;         // where the row is: "flows[3]" or "row 4"
  bool explicit_id = false;  // false: `id` is the row's number
};

[[noreturn]] void reject(const std::string& path, const Row& row, const std::string& field,
                         const std::string& value, const std::string& expected) {
  throw core::InputError(core::InputLocation{path, row.field + "." + field, row.line}, value,
                         expected);
}

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string_view::npos)
    return {};
  return std::string(s.substr(first, s.find_last_not_of(" \t\r") - first + 1));
}

std::vector<std::string> split(const std::string& text, std::string_view separators) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t end = std::min(text.find_first_of(separators, begin), text.size());
    out.push_back(trim(std::string_view(text).substr(begin, end - begin)));
    begin = end + 1;
  }
  return out;
}

std::vector<Row> read_csv(const std::string& path) {
  const std::string text = core::read_text_file(path);
  std::istringstream lines(text);
  std::string line;
  std::vector<std::string> columns;
  std::vector<Row> rows;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    const std::string content = trim(line);
    if (content.empty() || content[0] == '#')
      continue;
    std::vector<std::string> cells = split(content, ",");
    if (columns.empty()) {
      columns = cells;
      for (const char* required : {"source", "destination", "bytes"})
        if (std::find(columns.begin(), columns.end(), required) == columns.end())
          throw core::InputError(core::InputLocation{path, "header", number}, content,
                                 "a header naming source, destination and bytes (optionally "
                                 "start, after, id)");
      for (size_t i = 0; i < columns.size(); ++i) {
        const std::string& c = columns[i];
        if (c != "source" && c != "destination" && c != "bytes" && c != "start" && c != "after" &&
            c != "id")
          throw core::InputError(core::InputLocation{path, "header", number},
                                 core::quote_user_text(c),
                                 "a column among source, destination, bytes, start, after, id");
        if (std::find(columns.begin(), columns.begin() + long(i), c) != columns.begin() + long(i))
          throw core::InputError(core::InputLocation{path, "header", number}, c,
                                 "each column once");
      }
      continue;
    }
    if (cells.size() != columns.size()) {
      throw core::InputError(
          core::InputLocation{path, fmt::format("row {}", rows.size() + 1), number},
          core::quote_user_text(content), fmt::format("{} comma-separated cells", columns.size()));
    }
    Row row;
    row.line = number;
    row.field = fmt::format("row {}", rows.size() + 1);
    row.id = std::to_string(rows.size() + 1);
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string& c = columns[i];
      if (c == "source")
        row.source = cells[i];
      else if (c == "destination")
        row.destination = cells[i];
      else if (c == "bytes")
        row.bytes = cells[i];
      else if (c == "start")
        row.start = cells[i];
      else if (c == "id" && !cells[i].empty())  // an empty cell: no id, the row number
        row.id = cells[i], row.explicit_id = true;
      else
        for (std::string& id : split(cells[i], "; "))
          if (!id.empty())
            row.after.push_back(std::move(id));
    }
    rows.push_back(std::move(row));
  }
  if (columns.empty())
    throw core::InputError(path, "a traffic file needs a header line and at least one flow");
  return rows;
}

std::vector<Row> read_structured(const std::string& path) {
  const core::ConfigNode root = core::ConfigNode::load_file(path);
  const core::ConfigNode list = root.is_map() ? root.at("flows") : root;
  if (root.is_map())
    root.expect_keys({"flows"});
  std::vector<Row> rows;
  for (const core::ConfigNode& item : list.items()) {
    item.expect_keys({"id", "source", "destination", "bytes", "start", "after"});
    Row row;
    row.line = item.line();
    row.field = item.path();
    row.id = item.has("id") ? item.at("id").as_string() : "";
    row.explicit_id = !row.id.empty();  // an empty id, as a missing one: the flow's number
    if (!row.explicit_id)
      row.id = std::to_string(rows.size() + 1);
    row.source = item.at("source").as_string();
    row.destination = item.at("destination").as_string();
    row.bytes = item.at("bytes").as_string();
    row.start = item.get_string("start", "");
    if (auto after = item.find("after")) {
      if (after->is_sequence())
        for (const core::ConfigNode& id : after->items())
          row.after.push_back(id.as_string());
      else
        row.after.push_back(after->as_string());
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

int node_of(const std::string& path, const Row& row, const char* field, const std::string& name,
            const hw::HwSpec& hw) {
  const std::optional<int> node = hw.find_node(name);
  if (!node)
    reject(path, row, field, core::quote_user_text(name),
           fmt::format("a chiplet or switch of {}", hw.name));
  return *node;
}

// The flows in an order where each comes after those it waits for (file order where free).
std::vector<size_t> dependency_order(const std::string& path, const std::vector<Row>& rows,
                                     const std::vector<std::vector<size_t>>& after) {
  std::vector<size_t> waiting(rows.size(), 0);
  std::vector<std::vector<size_t>> dependents(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    waiting[i] = after[i].size();
    for (size_t d : after[i])
      dependents[d].push_back(i);
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
  for (size_t i = 0; i < rows.size(); ++i)
    if (waiting[i] == 0)
      ready.push(i);
  std::vector<size_t> order;
  while (!ready.empty()) {
    const size_t i = ready.top();
    ready.pop();
    order.push_back(i);
    for (size_t d : dependents[i])
      if (--waiting[d] == 0)
        ready.push(d);
  }
  if (order.size() != rows.size()) {
    const size_t stuck =
        size_t(std::find_if(waiting.begin(), waiting.end(), [](size_t w) { return w > 0; }) -
               waiting.begin());
    reject(path, rows[stuck], "after", core::quote_user_text(rows[stuck].id),
           "flows that do not wait for each other in a cycle");
  }
  return order;
}

}  // namespace

Traffic read_traffic(const std::string& path, const hw::HwSpec& hw) {
  const bool csv = path.size() >= 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  const std::vector<Row> rows = csv ? read_csv(path) : read_structured(path);
  if (rows.empty())
    throw core::InputError(path, "a traffic file needs at least one flow");
  // Ids are unique, whether written or a row's number: an `after` naming an id two flows
  // share would be ambiguous, so an explicit id equal to another flow's number is refused.
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto [at, fresh] = index.emplace(rows[i].id, i);
    if (fresh)
      continue;
    const Row& other = rows[at->second];
    if (!rows[i].explicit_id)
      reject(path, rows[i], "id", "",
             fmt::format("an id: the row number '{}' a flow without one takes is {}'s id",
                         rows[i].id, other.field));
    reject(path, rows[i], "id", core::quote_user_text(rows[i].id),
           other.explicit_id
               ? fmt::format("an id no other flow has ({} has it too)", other.field)
               : fmt::format("an id no other flow has ({} has none, so it is numbered '{}')",
                             other.field, other.id));
  }
  std::vector<std::vector<size_t>> after(rows.size());
  std::vector<TrafficFlow> flows(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& row = rows[i];
    TrafficFlow& f = flows[i];
    f.id = row.id;
    f.src = node_of(path, row, "source", row.source, hw);
    f.dst = node_of(path, row, "destination", row.destination, hw);
    // A flow to its own source crosses no channel: counting it would add payload that never
    // meets the network (and it takes no time), so it is refused rather than guessed at.
    if (f.dst == f.src)
      reject(path, row, "destination", core::quote_user_text(row.destination),
             "a node other than the source (a flow to itself crosses no channel: leave it out)");
    const std::optional<double> bytes = core::parse_quantity(row.bytes, core::Dimension::bytes);
    if (!bytes || !(*bytes > 0))
      reject(path, row, "bytes", core::quote_user_text(row.bytes),
             fmt::format("a positive size {}", core::range_of(core::Dimension::bytes)));
    f.bytes = *bytes;
    if (!row.start.empty()) {
      const std::optional<double> start = core::parse_quantity(row.start, core::Dimension::seconds);
      if (!start || !(*start >= 0))
        reject(path, row, "start", core::quote_user_text(row.start),
               "a time >= 0, e.g. '2 us' or '0.5' (seconds)");
      f.start_s = *start;
    }
    for (const std::string& id : row.after) {
      auto found = index.find(id);
      if (found == index.end())
        reject(path, row, "after", core::quote_user_text(id), "the id of a flow in the file");
      after[i].push_back(found->second);
    }
  }
  const std::vector<size_t> order = dependency_order(path, rows, after);
  std::vector<int> position(rows.size());
  for (size_t p = 0; p < order.size(); ++p)
    position[order[p]] = int(p);
  Traffic traffic;
  for (size_t i : order) {
    TrafficFlow f = flows[i];
    for (size_t d : after[i])
      f.after.push_back(position[d]);
    traffic.flows.push_back(std::move(f));
  }
  return traffic;
}

CollectivePlan plan_traffic(const Network& net, const Traffic& traffic) {
  require_plan_memory(
      net, traffic.flows.size(),
      [&](std::uint64_t i) {
        return std::pair{traffic.flows[i].src, traffic.flows[i].dst};
      },
      fmt::format("traffic of {} flows", traffic.flows.size()));
  CollectivePlan plan;
  plan.flows.reserve(traffic.flows.size());
  for (const TrafficFlow& t : traffic.flows) {
    PlannedFlow f;
    f.label =
        fmt::format("flow {} {}->{}", t.id, net.hw().node_name(t.src), net.hw().node_name(t.dst));
    f.src = t.src;
    f.dst = t.dst;
    f.spec = net.flow(t.src, t.dst, t.bytes);
    f.after = t.after;
    plan.flows.push_back(std::move(f));
    plan.payload_bytes += t.bytes;
  }
  return plan;
}

}  // namespace mozart::net
