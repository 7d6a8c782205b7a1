#include "mozart/sweep/results.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"

namespace mozart::sweep {
namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

// Scalars of a JSON summary as columns ("breakdown.compute_s"); lists (per chiplet, per link)
// stay in the point's record.
void flatten(const ordered_json& value, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& out) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items())
      flatten(item, prefix.empty() ? key : prefix + "." + key, out);
  } else if (value.is_string()) {
    out.emplace_back(prefix, value.get<std::string>());
  } else if (!value.is_array() && !value.is_null()) {
    out.emplace_back(prefix, value.dump());
  }
}

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos)
    return text;
  std::string out = "\"";
  for (char c : text)
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_row(const std::vector<std::string>& cells) {
  std::string line;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    if (i > 0)
      line += ',';
    line += csv_cell(cells[i]);
  }
  return line + "\n";
}

ordered_json sweep_record(const SweepSpec& spec) {
  return {{"sweep", spec.name},  {"hash", spec.hash},    {"run", spec.run},
          {"spec", spec.source}, {"fields", spec.swept}, {"points", spec.points.size()}};
}

std::string read_hash(const std::string& path) {
  try {
    const auto j = ordered_json::parse(core::read_text_file(path));
    return j.at("hash").get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return "";
  }
}

}  // namespace

std::string run_point(const SweepSpec& spec, std::size_t index, const Evaluate& evaluate) {
  const auto settings = point_settings(spec, index);
  ordered_json fields = ordered_json::object();
  for (const auto& f : spec.swept)
    fields[f] = setting(settings, f);
  ordered_json record = {{"sweep", spec.hash}, {"point", index}, {"fields", fields}};
  try {
    record["result"] = evaluate(settings);
  } catch (const core::InputError& e) {
    record["error"] = e.what();
  }
  return record.dump(1) + "\n";
}

ResultsDir::ResultsDir(std::string dir, const SweepSpec& spec) : dir_(std::move(dir)), spec_(spec) {
  const std::string marker = dir_ + "/sweep.json";
  std::error_code ec;
  if (fs::exists(marker, ec)) {
    const std::string held = read_hash(marker);
    if (held != spec.hash)
      throw core::InputError(
          marker, fmt::format("holds the results of another sweep (hash '{}', this one is '{}'); "
                              "give another --out-dir",
                              held, spec.hash));
  } else if (fs::exists(dir_, ec) && !fs::is_empty(dir_, ec)) {
    throw core::InputError(dir_,
                           "is not empty and holds no sweep.json: not a sweep's results "
                           "directory; give a new or empty --out-dir");
  }
  fs::create_directories(dir_ + "/points", ec);
  if (ec)
    throw core::InputError(dir_, "cannot be created: " + ec.message());
  if (!fs::exists(marker))
    core::write_file_atomically(marker, sweep_record(spec).dump(1) + "\n");
}

std::string ResultsDir::point_path(std::size_t index) const {
  return fmt::format("{}/points/{:06}.json", dir_, index);
}

bool ResultsDir::finished(std::size_t index) const {
  const std::string path = point_path(index);
  std::error_code ec;
  if (!fs::exists(path, ec))
    return false;
  try {
    const auto j = ordered_json::parse(core::read_text_file(path));
    return j.at("sweep") == spec_.hash && j.at("point") == index;
  } catch (const std::exception&) {
    return false;  // not a record of this point: run it again
  }
}

std::vector<std::size_t> ResultsDir::unfinished() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < spec_.points.size(); ++i)
    if (!finished(i))
      out.push_back(i);
  return out;
}

void ResultsDir::write_point(std::size_t index, const std::string& record) const {
  core::write_file_atomically(point_path(index), record);
}

std::string ResultsDir::write_csv() const {
  std::vector<std::vector<std::pair<std::string, std::string>>> rows;
  std::vector<std::string> metrics;
  std::set<std::string> seen;
  for (std::size_t i = 0; i < spec_.points.size(); ++i) {
    const auto record = ordered_json::parse(core::read_text_file(point_path(i)));
    rows.emplace_back();
    rows.back().emplace_back("error", record.value("error", ""));
    if (record.contains("result"))
      flatten(record["result"], "", rows.back());
    for (auto& [key, value] : rows.back()) {
      // A result named like a swept field ("bytes": the size as a number) gets a prefix.
      if (std::find(spec_.swept.begin(), spec_.swept.end(), key) != spec_.swept.end())
        key = "result." + key;
      if (key != "error" && seen.insert(key).second)
        metrics.push_back(key);
    }
  }
  std::vector<std::string> header = {"point"};
  header.insert(header.end(), spec_.swept.begin(), spec_.swept.end());
  header.push_back("error");
  header.insert(header.end(), metrics.begin(), metrics.end());
  std::string csv = csv_row(header);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto settings = point_settings(spec_, i);
    std::vector<std::string> cells = {std::to_string(i)};
    for (const auto& f : spec_.swept)
      cells.push_back(setting(settings, f));
    std::map<std::string, std::string> by_key(rows[i].begin(), rows[i].end());
    cells.push_back(by_key["error"]);
    for (const auto& m : metrics)
      cells.push_back(by_key.count(m) ? by_key[m] : "");
    csv += csv_row(cells);
  }
  const std::string path = dir_ + "/results.csv";
  core::write_file_atomically(path, csv);
  return path;
}

std::size_t ResultsDir::failed() const {
  std::size_t n = 0;
  for (std::size_t i = 0; i < spec_.points.size(); ++i)
    if (ordered_json::parse(core::read_text_file(point_path(i))).contains("error"))
      ++n;
  return n;
}

}  // namespace mozart::sweep
