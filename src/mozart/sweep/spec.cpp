#include "mozart/sweep/spec.hpp"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"

namespace mozart::sweep {
namespace {

// Far beyond any sweep one would run; stops a typo like 1e9 values before memory does.
constexpr std::size_t kMaxPoints = 1'000'000;

[[noreturn]] void fail(const std::string& source, const YAML::Node& node, const std::string& field,
                       const std::string& value, const std::string& expected) {
  const int line = node.Mark().is_null() ? 0 : node.Mark().line + 1;
  throw core::InputError({source, field, line}, value, expected);
}

// A value as one line of YAML: scalars as written, lists and maps in flow style.
std::string value_text(const YAML::Node& node) {
  if (node.IsScalar())
    return node.Scalar();
  YAML::Emitter out;
  out.SetMapFormat(YAML::Flow);
  out.SetSeqFormat(YAML::Flow);
  out << node;
  return out.c_str();
}

std::string key_text(const std::string& source, const YAML::Node& key, const std::string& where) {
  if (!key.IsScalar() || key.Scalar().empty())
    fail(source, key, where, "a key that is not a name", "field names");
  return key.Scalar();
}

std::uint64_t fnv1a(const std::string& text, std::uint64_t h = 14695981039346656037ull) {
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

struct Grid {
  std::vector<std::string> fields;
  std::vector<std::vector<std::string>> values;  // per field
};

Grid read_grid(const std::string& source, const YAML::Node& grid) {
  Grid g;
  if (!grid.IsMap() || grid.size() == 0)
    fail(source, grid, "grid", grid.IsMap() ? "an empty map" : "not a map",
         "a map of fields to non-empty lists of values");
  for (const auto& entry : grid) {
    const std::string field = key_text(source, entry.first, "grid");
    const YAML::Node& values = entry.second;
    if (!values.IsSequence() || values.size() == 0)
      fail(source, values, "grid." + field, values.IsSequence() ? "[]" : value_text(values),
           "a non-empty list of values");
    g.fields.push_back(field);
    g.values.emplace_back();
    for (const auto& v : values)
      g.values.back().push_back(value_text(v));
  }
  return g;
}

using Listed = std::vector<std::vector<Assignment>>;

Listed read_points(const std::string& source, const YAML::Node& points) {
  if (!points.IsSequence() || points.size() == 0)
    fail(source, points, "points", points.IsSequence() ? "[]" : value_text(points),
         "a non-empty list of maps of fields to values");
  Listed out;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const YAML::Node& p = points[i];
    const std::string where = fmt::format("points[{}]", i);
    if (!p.IsMap() || p.size() == 0)
      fail(source, p, where, value_text(p), "a non-empty map of fields to values");
    out.emplace_back();
    for (const auto& entry : p)
      out.back().push_back({key_text(source, entry.first, where), value_text(entry.second)});
  }
  return out;
}

void add_field(std::vector<std::string>& fields, const std::string& field) {
  if (std::find(fields.begin(), fields.end(), field) == fields.end())
    fields.push_back(field);
}

// The grid's combinations (first field slowest), each crossed with every listed point.
void expand(SweepSpec& spec, const Grid& grid, const Listed& listed) {
  for (const auto& f : grid.fields)
    add_field(spec.swept, f);
  for (const auto& point : listed)
    for (const auto& a : point) {
      if (std::find(grid.fields.begin(), grid.fields.end(), a.field) != grid.fields.end())
        throw core::InputError({spec.source, "points", 0}, a.field,
                               "a field the grid does not sweep already");
      add_field(spec.swept, a.field);
    }
  std::size_t combinations = 1;
  for (const auto& v : grid.values) {
    combinations *= v.size();
    if (combinations > kMaxPoints)
      break;
  }
  const std::size_t lists = listed.empty() ? 1 : listed.size();
  if (combinations > kMaxPoints || combinations * lists > kMaxPoints)
    throw core::InputError({spec.source, "grid", 0}, "more than a million points",
                           fmt::format("at most {} points", kMaxPoints));
  for (std::size_t c = 0; c < combinations; ++c)
    for (std::size_t l = 0; l < lists; ++l) {
      std::vector<std::string> values(spec.swept.size());
      std::size_t rest = c;
      for (std::size_t f = grid.fields.size(); f-- > 0;) {
        values[f] = grid.values[f][rest % grid.values[f].size()];
        rest /= grid.values[f].size();
      }
      if (!listed.empty())
        for (const auto& a : listed[l]) {
          const auto at = std::find(spec.swept.begin(), spec.swept.end(), a.field);
          values[std::size_t(at - spec.swept.begin())] = a.value;
        }
      spec.points.push_back(std::move(values));
    }
}

std::string hash_of(const SweepSpec& spec) {
  std::string canonical = "run\x1f" + spec.run + "\x1e";
  for (const auto& a : spec.base)
    canonical += a.field + "\x1f" + a.value + "\x1e";
  for (const auto& f : spec.swept)
    canonical += f + "\x1f";
  for (const auto& p : spec.points) {
    canonical += "\x1d";
    for (const auto& v : p)
      canonical += v + "\x1f";
  }
  return fmt::format("{:016x}", fnv1a(canonical));
}

}  // namespace

SweepSpec parse_sweep(const std::string& text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw core::InputError({source, "", e.mark.is_null() ? 0 : e.mark.line + 1}, e.msg,
                           "a YAML sweep file");
  }
  if (!root.IsMap())
    fail(source, root, "", "not a map", "a map with run, base and grid or points");
  SweepSpec spec;
  spec.source = source;
  for (const auto& entry : root) {
    const std::string key = key_text(source, entry.first, "");
    if (key != "sweep" && key != "run" && key != "base" && key != "grid" && key != "points")
      fail(source, entry.first, key, key, "one of sweep, run, base, grid, points");
  }
  if (root["sweep"])
    spec.name = value_text(root["sweep"]);
  if (!root["run"] || !root["run"].IsScalar())
    fail(source, root, "run", root["run"] ? value_text(root["run"]) : "nothing",
         "what each point runs: simulate or collective");
  spec.run = root["run"].Scalar();
  if (const YAML::Node base = root["base"]) {
    if (!base.IsMap())
      fail(source, base, "base", value_text(base), "a map of fields to values");
    for (const auto& entry : base)
      spec.base.push_back({key_text(source, entry.first, "base"), value_text(entry.second)});
  }
  if (!root["grid"] && !root["points"])
    fail(source, root, "grid", "nothing", "a grid or a list of points to sweep");
  const Grid grid = root["grid"] ? read_grid(source, root["grid"]) : Grid{};
  const Listed listed = root["points"] ? read_points(source, root["points"]) : Listed{};
  expand(spec, grid, listed);
  spec.hash = hash_of(spec);
  return spec;
}

SweepSpec read_sweep(const std::string& path) {
  return parse_sweep(core::read_text_file(path), path);
}

std::vector<Assignment> point_settings(const SweepSpec& spec, std::size_t index) {
  std::vector<Assignment> out = spec.base;
  const auto& values = spec.points.at(index);
  for (std::size_t f = 0; f < spec.swept.size(); ++f) {
    if (values[f].empty())
      continue;
    auto at = std::find_if(out.begin(), out.end(),
                           [&](const Assignment& a) { return a.field == spec.swept[f]; });
    if (at == out.end())
      out.push_back({spec.swept[f], values[f]});
    else
      at->value = values[f];
  }
  return out;
}

std::string setting(const std::vector<Assignment>& settings, const std::string& field,
                    const std::string& fallback) {
  for (const auto& a : settings)
    if (a.field == field)
      return a.value;
  return fallback;
}

}  // namespace mozart::sweep
