#include "mozart/placement/placement.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"
#include "mozart/core/json_text.hpp"
#include "mozart/core/limits.hpp"
#include "mozart/core/output_plan.hpp"
#include "mozart/core/units.hpp"

namespace mozart::placement {
namespace {

using core::InputError;

std::vector<int> expert_chiplets(const hw::HwSpec& hw) {
  auto chiplets = hw.chiplets_with_role(hw::Role::expert);
  if (chiplets.empty())
    for (int c = 0; c < static_cast<int>(hw.chiplets.size()); ++c)
      if (hw.chiplets[static_cast<std::size_t>(c)].holds_weights)
        chiplets.push_back(c);
  return chiplets;
}

std::vector<std::vector<int>> adjacency(const hw::HwSpec& hw) {
  std::vector<std::vector<int>> next(static_cast<std::size_t>(hw.node_count()));
  for (const auto& link : hw.links) {
    next[static_cast<std::size_t>(link.a)].push_back(link.b);
    next[static_cast<std::size_t>(link.b)].push_back(link.a);
  }
  return next;
}

std::vector<int> hops_from(const std::vector<std::vector<int>>& next, int source) {
  std::vector<int> hops(next.size(), -1);
  std::deque<int> queue{source};
  hops[static_cast<std::size_t>(source)] = 0;
  while (!queue.empty()) {
    const int node = queue.front();
    queue.pop_front();
    for (const int n : next[static_cast<std::size_t>(node)])
      if (hops[static_cast<std::size_t>(n)] < 0) {
        hops[static_cast<std::size_t>(n)] = hops[static_cast<std::size_t>(node)] + 1;
        queue.push_back(n);
      }
  }
  return hops;
}

// The name of the group a chiplet belongs to: its switch, else a shared memory stack, else itself.
std::string group_name(const hw::HwSpec& hw, const std::vector<std::vector<int>>& next,
                       int chiplet) {
  for (const int n : next[static_cast<std::size_t>(chiplet)])
    if (hw.is_switch(n))
      return hw.node_name(n);
  for (const auto& memory : hw.memories)
    if (memory.chiplets.size() > 1 &&
        std::find(memory.chiplets.begin(), memory.chiplets.end(), chiplet) != memory.chiplets.end())
      return memory.name;
  return hw.chiplets[static_cast<std::size_t>(chiplet)].name;
}

double memory_per_chiplet(const hw::HwSpec& hw, int chiplet) {
  double bytes = 0;
  for (const auto& memory : hw.memories)
    if (std::find(memory.chiplets.begin(), memory.chiplets.end(), chiplet) != memory.chiplets.end())
      bytes += memory.bytes / static_cast<double>(memory.chiplets.size());
  return bytes;
}

void group_contiguously(DeviceLayout& layout, int group_size) {
  layout.group.clear();
  layout.group_names.clear();
  for (int c = 0; c < layout.chiplet_count(); ++c) {
    if (c % group_size == 0)
      layout.group_names.push_back(fmt::format("group{}", c / group_size));
    layout.group.push_back(c / group_size);
  }
}

[[noreturn]] void fail(const std::string& source, std::size_t layer, const std::string& field,
                       const std::string& value, const std::string& expected) {
  throw InputError({source, fmt::format("layers[{}].{}", layer, field), 0}, value, expected);
}

}  // namespace

std::vector<int> DeviceLayout::chiplets_in_group(int g) const {
  std::vector<int> out;
  for (int c = 0; c < chiplet_count(); ++c)
    if (group[static_cast<std::size_t>(c)] == g)
      out.push_back(c);
  return out;
}

DeviceLayout layout_from_hw(const hw::HwSpec& hw, int experts, int slots, int group_size) {
  DeviceLayout layout;
  layout.hardware = hw.name;
  const auto chiplets = expert_chiplets(hw);
  if (chiplets.empty())
    throw InputError(hw.name, "has no chiplet that holds expert weights");
  const auto next = adjacency(hw);
  std::map<std::string, int> groups;
  for (const int c : chiplets) {
    layout.chiplets.push_back(hw.chiplets[static_cast<std::size_t>(c)].name);
    const auto name = group_name(hw, next, c);
    auto [it, inserted] = groups.emplace(name, static_cast<int>(layout.group_names.size()));
    if (inserted)
      layout.group_names.push_back(name);
    layout.group.push_back(it->second);
  }
  if (group_size > 0)
    group_contiguously(layout, group_size);
  auto sources = hw.chiplets_with_role(hw::Role::attention);
  if (sources.empty())
    sources = chiplets;
  layout.hops.assign(chiplets.size(), 0.0);
  for (const int s : sources) {
    const auto hops = hops_from(next, s);
    for (std::size_t i = 0; i < chiplets.size(); ++i)
      layout.hops[i] +=
          hops[static_cast<std::size_t>(chiplets[i])] / static_cast<double>(sources.size());
  }
  layout.memory_bytes = memory_per_chiplet(hw, chiplets.front());
  for (const int c : chiplets)
    layout.memory_bytes = std::min(layout.memory_bytes, memory_per_chiplet(hw, c));
  const int count = layout.chiplet_count();
  layout.slots = slots > 0 ? slots : (experts + count - 1) / count;
  return layout;
}

DeviceLayout uniform_layout(int chiplets, int group_size, int slots, const std::string& name) {
  DeviceLayout layout;
  layout.hardware = name;
  for (int c = 0; c < chiplets; ++c)
    layout.chiplets.push_back(fmt::format("device{}", c));
  group_contiguously(layout, std::max(1, group_size));
  layout.slots = slots;
  layout.hops.assign(static_cast<std::size_t>(chiplets), 1.0);
  return layout;
}

std::vector<std::vector<int>> Placement::experts_on(std::size_t layer) const {
  std::vector<std::vector<int>> out(static_cast<std::size_t>(layout.chiplet_count()));
  const auto& chiplets_of = layers[layer].chiplets_of;
  for (std::size_t e = 0; e < chiplets_of.size(); ++e)
    for (const int c : chiplets_of[e])
      out[static_cast<std::size_t>(c)].push_back(static_cast<int>(e));
  return out;
}

void validate(const Placement& p, const std::string& source) {
  const int chiplets = p.layout.chiplet_count();
  if (chiplets == 0 || p.layout.group.size() != static_cast<std::size_t>(chiplets))
    throw InputError({source, "layout", 0}, std::to_string(chiplets),
                     "chiplets, each with a group");
  for (const int g : p.layout.group)
    if (g < 0 || g >= p.layout.group_count())
      throw InputError({source, "layout.group", 0}, std::to_string(g),
                       fmt::format("a group in [0, {}]", p.layout.group_count() - 1));
  for (std::size_t l = 0; l < p.layers.size(); ++l) {
    const auto& layer = p.layers[l];
    if (layer.layer_id < 0 || (l > 0 && layer.layer_id <= p.layers[l - 1].layer_id))
      fail(source, l, "layer", std::to_string(layer.layer_id),
           l == 0 ? std::string("a non-negative layer index")
                  : fmt::format("a layer index above the previous one ({})",
                                p.layers[l - 1].layer_id));
    if (layer.chiplets_of.size() != static_cast<std::size_t>(p.experts))
      fail(source, l, "experts", std::to_string(layer.chiplets_of.size()),
           fmt::format("all {} experts of the model", p.experts));
    std::vector<int> used(static_cast<std::size_t>(chiplets), 0);
    for (std::size_t e = 0; e < layer.chiplets_of.size(); ++e) {
      const auto& homes = layer.chiplets_of[e];
      if (homes.empty())
        fail(source, l, fmt::format("expert {}", e), "(nowhere)", "at least one chiplet");
      for (std::size_t i = 0; i < homes.size(); ++i) {
        const int c = homes[i];
        if (c < 0 || c >= chiplets)
          fail(source, l, fmt::format("expert {}", e), std::to_string(c),
               fmt::format("a chiplet in [0, {}]", chiplets - 1));
        if (std::find(homes.begin(), homes.begin() + static_cast<std::ptrdiff_t>(i), c) !=
            homes.begin() + static_cast<std::ptrdiff_t>(i))
          fail(source, l, fmt::format("expert {}", e), std::to_string(c),
               "distinct chiplets per expert");
        ++used[static_cast<std::size_t>(c)];
      }
    }
    for (int c = 0; c < chiplets; ++c)
      if (used[static_cast<std::size_t>(c)] > p.layout.slots)
        fail(source, l, fmt::format("chiplet {}", p.layout.chiplets[static_cast<std::size_t>(c)]),
             fmt::format("{} experts", used[static_cast<std::size_t>(c)]),
             fmt::format("at most {} slots", p.layout.slots));
  }
}

static std::string source_of(const Placement& p) {
  return p.source.empty() ? fmt::format("the {} placement", p.placer) : p.source;
}

void check_expert_memory(const Placement& p, double expert_bytes) {
  if (expert_bytes <= 0 || p.layout.memory_bytes <= 0)
    return;
  std::vector<double> held(static_cast<std::size_t>(p.layout.chiplet_count()), 0.0);
  for (const auto& layer : p.layers)
    for (const auto& chiplets : layer.chiplets_of)
      for (const int c : chiplets)
        held[static_cast<std::size_t>(c)] += 1;
  const auto fullest = std::max_element(held.begin(), held.end());
  const double needed = *fullest * expert_bytes;
  if (needed <= p.layout.memory_bytes)
    return;
  // Every size in the capacity's units, as the spec gives it.
  const core::ByteUnits units = core::byte_units_of(p.layout.memory_bytes);
  throw InputError(
      {p.layout.hardware, "memory per expert chiplet", 0},
      core::format_bytes(p.layout.memory_bytes, units),
      fmt::format("room for the {} of expert weights {} places on {} ({:g} experts of {}); the "
                  "model does not fit",
                  core::format_bytes(needed, units), source_of(p),
                  p.layout.chiplets[static_cast<std::size_t>(fullest - held.begin())], *fullest,
                  core::format_bytes(expert_bytes, units)));
}

void check_matches(const Placement& p, const std::string& used_with, int experts,
                   const std::vector<int>& layer_ids, const DeviceLayout* layout) {
  const std::string source = source_of(p);
  if (p.experts != experts)
    throw InputError({source, "experts", 0}, std::to_string(p.experts),
                     fmt::format("the {} routed experts of {}", experts, used_with));
  for (const int id : layer_ids)
    if (std::none_of(p.layers.begin(), p.layers.end(),
                     [&](const LayerPlacement& l) { return l.layer_id == id; }))
      throw InputError(
          {source, "layers", 0}, fmt::format("layers without MoE layer {}", id),
          fmt::format("a placement of every MoE layer of {} ({} of them, {} to {})", used_with,
                      layer_ids.size(), layer_ids.front(), layer_ids.back()));
  if (layout == nullptr || layout->chiplets == p.layout.chiplets)
    return;
  const std::size_t n = std::min(layout->chiplets.size(), p.layout.chiplets.size());
  std::size_t first = 0;
  while (first < n && layout->chiplets[first] == p.layout.chiplets[first])
    ++first;
  throw InputError(
      {source, "layout.chiplets", 0},
      fmt::format("{} chiplets, chiplet {} '{}'", p.layout.chiplets.size(), first,
                  first < p.layout.chiplets.size() ? p.layout.chiplets[first] : "(none)"),
      fmt::format("the {} expert chiplets of {}, in order, chiplet {} '{}' (a placement made "
                  "for other hardware?)",
                  layout->chiplets.size(), layout->hardware, first,
                  first < layout->chiplets.size() ? layout->chiplets[first] : "(none)"));
}

nlohmann::ordered_json to_json(const Placement& p) {
  nlohmann::ordered_json out;
  out["model"] = p.model;
  out["experts"] = p.experts;
  out["placer"] = p.placer;
  out["layout"] = {{"hardware", p.layout.hardware},
                   {"chiplets", p.layout.chiplets},
                   {"group", p.layout.group},
                   {"group_names", p.layout.group_names},
                   {"slots", p.layout.slots},
                   {"hops", p.layout.hops},
                   {"memory_bytes", p.layout.memory_bytes}};
  auto& layers = out["layers"] = nlohmann::ordered_json::array();
  for (std::size_t l = 0; l < p.layers.size(); ++l) {
    nlohmann::ordered_json layer{{"layer", p.layers[l].layer_id},
                                 {"chiplets_of", p.layers[l].chiplets_of}};
    if (l < p.solver.size() && p.solver[l]) {
      const auto& s = *p.solver[l];
      // No solve time here: a placement file depends only on its inputs.
      layer["solver"] = {
          {"status", s.status}, {"objective", s.objective}, {"bound", s.bound}, {"gap", s.gap}};
    }
    layers.push_back(std::move(layer));
  }
  return out;
}

namespace {

// A typed reader of placement JSON: each mistake is one InputError naming the file, the field
// path, the value found and what was expected (never a json exception's text).
class JsonFields {
 public:
  explicit JsonFields(const std::string& source) : source_(source) {}

  [[noreturn]] void fail(const std::string& path, const nlohmann::json& value,
                         const std::string& expected) const {
    throw InputError({source_, path, 0}, core::json_value_text(value), expected);
  }

  const nlohmann::json& at(const nlohmann::json& j, const std::string& path,
                           const std::string& key) const {
    if (!j.is_object())
      fail(path, j, "an object");
    const auto it = j.find(key);
    if (it == j.end())
      throw InputError({source_, join(path, key), 0}, "nothing", "this required field");
    return *it;
  }

  const nlohmann::json* find(const nlohmann::json& j, const std::string& key) const {
    const auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  }

  int integer(const nlohmann::json& v, const std::string& path, long long min,
              long long max) const {
    const std::string expected = fmt::format("an integer in [{}, {}]", min, max);
    if (!v.is_number_integer())
      fail(path, v, v.is_number() ? "an integer, not a fraction: " + expected : expected);
    if (v.is_number_unsigned() ? v.get<unsigned long long>() > static_cast<unsigned long long>(max)
                               : (v.get<long long>() < min || v.get<long long>() > max))
      fail(path, v, expected);
    return v.get<int>();
  }

  double number(const nlohmann::json& v, const std::string& path) const {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
      fail(path, v, "a finite non-negative number");
    return v.get<double>();
  }

  std::string string(const nlohmann::json& v, const std::string& path) const {
    if (!v.is_string())
      fail(path, v, "a string");
    return v.get<std::string>();
  }

  const nlohmann::json& array(const nlohmann::json& v, const std::string& path) const {
    if (!v.is_array())
      fail(path, v, "a list");
    return v;
  }

  template <typename Read>
  auto list(const nlohmann::json& v, const std::string& path, Read read) const {
    std::vector<decltype(read(v, path))> out;
    for (std::size_t i = 0; i < array(v, path).size(); ++i) {
      const std::string item = fmt::format("{}[{}]", path, i);
      out.push_back(read(v[i], item));
    }
    return out;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  const std::string& source_;
};

constexpr long long kMaxChiplets = 1 << 20;
constexpr long long kMaxSlots = 1 << 20;

DeviceLayout layout_from_json(const JsonFields& r, const nlohmann::json& l) {
  DeviceLayout layout;
  if (const auto* hardware = r.find(l, "hardware"))
    layout.hardware = r.string(*hardware, "layout.hardware");
  auto text = [&](const nlohmann::json& v, const std::string& path) { return r.string(v, path); };
  layout.chiplets = r.list(r.at(l, "layout", "chiplets"), "layout.chiplets", text);
  if (layout.chiplets.empty() || static_cast<long long>(layout.chiplets.size()) > kMaxChiplets)
    r.fail("layout.chiplets", r.at(l, "layout", "chiplets"),
           fmt::format("1 to {} chiplet names", kMaxChiplets));
  layout.group_names = r.list(r.at(l, "layout", "group_names"), "layout.group_names", text);
  const long long groups = static_cast<long long>(layout.group_names.size());
  layout.group = r.list(r.at(l, "layout", "group"), "layout.group",
                        [&](const nlohmann::json& v, const std::string& path) {
                          return r.integer(v, path, 0, std::max(0LL, groups - 1));
                        });
  if (layout.group.size() != layout.chiplets.size())
    r.fail("layout.group", r.at(l, "layout", "group"), "one group per chiplet");
  layout.slots = r.integer(r.at(l, "layout", "slots"), "layout.slots", 1, kMaxSlots);
  layout.hops.assign(layout.chiplets.size(), 1.0);
  if (const auto* hops = r.find(l, "hops")) {
    layout.hops = r.list(*hops, "layout.hops", [&](const nlohmann::json& v, const std::string& p) {
      return r.number(v, p);
    });
    if (layout.hops.size() != layout.chiplets.size())
      r.fail("layout.hops", *hops, "one entry per chiplet");
  }
  if (const auto* memory = r.find(l, "memory_bytes"))
    layout.memory_bytes = r.number(*memory, "layout.memory_bytes");
  return layout;
}

std::optional<SolverReport> solver_from_json(const JsonFields& r, const nlohmann::json& layer,
                                             const std::string& path) {
  const auto* s = r.find(layer, "solver");
  if (s == nullptr)
    return std::nullopt;
  const std::string at = path + ".solver";
  auto value = [&](const char* key) { return r.at(*s, at, key).get<double>(); };
  for (const char* key : {"objective", "bound", "gap"})
    if (!r.at(*s, at, key).is_number())
      r.fail(at + "." + key, r.at(*s, at, key), "a number");
  return SolverReport{r.string(r.at(*s, at, "status"), at + ".status"), value("objective"),
                      value("bound"), value("gap"), 0.0};
}

}  // namespace

Placement placement_from_json(const nlohmann::json& j, const std::string& source) {
  const JsonFields r(source);
  Placement p;
  p.source = source;
  p.model = r.string(r.at(j, "", "model"), "model");
  p.experts = r.integer(r.at(j, "", "experts"), "experts", 1, core::kMaxRoutedExperts);
  if (const auto* placer = r.find(j, "placer"))
    p.placer = r.string(*placer, "placer");
  p.layout = layout_from_json(r, r.at(j, "", "layout"));
  const int last_chiplet = p.layout.chiplet_count() - 1;
  const auto& layers = r.array(r.at(j, "", "layers"), "layers");
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const std::string path = fmt::format("layers[{}]", l);
    LayerPlacement layer;
    layer.layer_id = r.integer(r.at(layers[l], path, "layer"), path + ".layer", 0, 1 << 20);
    layer.chiplets_of =
        r.list(r.at(layers[l], path, "chiplets_of"), path + ".chiplets_of",
               [&](const nlohmann::json& homes, const std::string& at) {
                 return r.list(homes, at, [&](const nlohmann::json& c, const std::string& chiplet) {
                   return r.integer(c, chiplet, 0, last_chiplet);
                 });
               });
    p.layers.push_back(std::move(layer));
    p.solver.push_back(solver_from_json(r, layers[l], path));
  }
  validate(p, source);
  return p;
}

std::string to_csv(const Placement& p) {
  auto layout = to_json(p);
  layout.erase("layers");
  std::string out = "# " + layout.dump() + "\nlayer,expert,chiplet,group,replica\n";
  for (const auto& layer : p.layers)
    for (std::size_t e = 0; e < layer.chiplets_of.size(); ++e)
      for (std::size_t r = 0; r < layer.chiplets_of[e].size(); ++r) {
        const int c = layer.chiplets_of[e][r];
        out += fmt::format(
            "{},{},{},{},{}\n", layer.layer_id, e, p.layout.chiplets[static_cast<std::size_t>(c)],
            p.layout
                .group_names[static_cast<std::size_t>(p.layout.group[static_cast<std::size_t>(c)])],
            r);
      }
  return out;
}

Placement placement_from_csv(std::string_view text, const std::string& source) {
  const auto first_end = text.find('\n');
  if (!text.starts_with("# ") || first_end == std::string_view::npos)
    throw InputError({source, "", 1}, std::string(text.substr(0, 40)),
                     "a '# {layout JSON}' first line");
  auto head = nlohmann::json::parse(text.substr(2, first_end - 2), nullptr, false);
  if (head.is_discarded() || !head.is_object())
    throw InputError({source, "layout", 1}, head.is_discarded() ? "(unparseable)" : head.dump(),
                     "a JSON object");
  head["layers"] = nlohmann::json::array();
  Placement p = placement_from_json(head, source);
  std::map<int, std::size_t> layer_index;
  std::size_t at = first_end + 1;
  int line = 1;
  while (at < text.size()) {
    const auto end = std::min(text.find('\n', at), text.size());
    const std::string row(text.substr(at, end - at));
    at = end + 1;
    ++line;
    if (row.empty() || row.starts_with("layer,"))
      continue;
    int layer = 0, expert = 0, replica = 0;
    char chiplet[256] = {0}, group[256] = {0};
    if (std::sscanf(row.c_str(), "%d,%d,%255[^,],%255[^,],%d", &layer, &expert, chiplet, group,
                    &replica) != 5)
      throw InputError({source, "row", line}, row, "layer,expert,chiplet,group,replica");
    const auto c = std::find(p.layout.chiplets.begin(), p.layout.chiplets.end(), chiplet);
    if (c == p.layout.chiplets.end())
      throw InputError({source, "chiplet", line}, chiplet, "a chiplet of the layout");
    if (expert < 0 || expert >= p.experts)
      throw InputError({source, "expert", line}, std::to_string(expert),
                       fmt::format("an expert in [0, {}]", p.experts - 1));
    auto [it, inserted] = layer_index.emplace(layer, p.layers.size());
    if (inserted)
      p.layers.push_back(
          {layer, std::vector<std::vector<int>>(static_cast<std::size_t>(p.experts))});
    p.layers[it->second].chiplets_of[static_cast<std::size_t>(expert)].push_back(
        static_cast<int>(c - p.layout.chiplets.begin()));
  }
  // Rows may come in any order; the layers of a placement ascend.
  std::sort(p.layers.begin(), p.layers.end(), [](const LayerPlacement& a, const LayerPlacement& b) {
    return a.layer_id < b.layer_id;
  });
  validate(p, source);
  return p;
}

Placement read_placement(const std::string& path) {
  const std::string text = core::read_text_file(path);
  if (core::extension_of(path) == ".csv")
    return placement_from_csv(text, path);
  const auto json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded())
    throw InputError({path, "", 0}, "(unparseable)", "a placement JSON object");
  return placement_from_json(json, path);
}

std::string placement_file_text(const Placement& placement, const std::string& path) {
  return core::extension_of(path) == ".csv" ? to_csv(placement) : to_json(placement).dump(1) + "\n";
}

}  // namespace mozart::placement
