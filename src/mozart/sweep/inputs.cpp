#include "mozart/sweep/inputs.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "mozart/core/config.hpp"
#include "mozart/core/error.hpp"
#include "mozart/core/io.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/model/zoo.hpp"

namespace mozart::sweep {
namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos)
      return parts;
    start = dot + 1;
  }
}

// Every path in a document, prefixed ("hw.topology.link.bandwidth", "hw.memories.0").
void collect_paths(const YAML::Node& node, const std::string& prefix,
                   std::vector<std::string>& out) {
  // Each path is a copy: `out` grows while the children are walked.
  if (node.IsMap())
    for (const auto& e : node) {
      const std::string path = prefix + "." + e.first.Scalar();
      out.push_back(path);
      collect_paths(e.second, path, out);
    }
  else if (node.IsSequence())
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string path = prefix + "." + std::to_string(i);
      out.push_back(path);
      collect_paths(node[i], path, out);
    }
}

std::string not_a_field(const YAML::Node& root, const std::string& prefix, const std::string& field,
                        const std::string& what) {
  std::vector<std::string> paths;
  collect_paths(root, prefix, paths);
  std::string near;
  for (const auto& n : nearest(field, paths))
    near += (near.empty() ? "" : ", ") + n;
  return fmt::format("field '{}' is not a field of {}{}", field, what,
                     near.empty() ? "" : "; nearest: " + near);
}

struct Document {
  YAML::Node root;
  std::string source;
  std::string what;  // "hardware mozart-nop-tree-ucie", for messages
};

// Sets `field` (prefix.PATH) to `value` in the document. A new key is allowed in an existing
// map (an optional setting the document leaves out): the reader then says whether it exists.
// Returns false when the path does not lead anywhere.
bool set_path(YAML::Node root, const std::string& path, const std::string& value) {
  const auto parts = split(path);
  YAML::Node node = root;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    if (node.IsSequence()) {
      std::size_t index = 0;
      const auto& p = parts[i];
      const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), index);
      if (ec != std::errc() || end != p.data() + p.size() || index >= node.size())
        return false;
      if (last)
        node[index] = YAML::Load(value);
      else
        node.reset(node[index]);
    } else if (node.IsMap()) {
      if (!node[parts[i]] && !last)
        return false;
      if (last)
        node[parts[i]] = YAML::Load(value);
      else
        node.reset(node[parts[i]]);
    } else {
      return false;
    }
  }
  return true;
}

std::string emit(const YAML::Node& root) {
  YAML::Emitter out;
  out << root;
  return out.c_str();
}

template <class Read>
auto read_with(const Document& doc, const std::vector<Assignment>& settings,
               const std::string& prefix, Read read) {
  YAML::Node root = YAML::Clone(doc.root);
  std::vector<std::string> added;
  for (const auto& a : settings) {
    if (a.field.rfind(prefix + ".", 0) != 0)
      continue;
    const std::string path = a.field.substr(prefix.size() + 1);
    const auto parts = split(path);
    if (!set_path(root, path, a.value))
      throw core::InputError(doc.source, not_a_field(doc.root, prefix, a.field, doc.what));
    YAML::Node before = doc.root;
    bool existed = true;
    for (const auto& p : parts) {
      if (!before.IsMap() && !before.IsSequence()) {
        existed = false;
        break;
      }
      YAML::Node next = before.IsMap() ? before[p] : before[std::size_t(std::stoul(p))];
      if (!next) {
        existed = false;
        break;
      }
      before.reset(next);
    }
    if (!existed)
      added.push_back(a.field);
  }
  try {
    return read(core::ConfigNode::parse(emit(root), doc.source));
  } catch (const core::InputError&) {
    // A key the document did not have, that its reader refuses: not a field.
    if (!added.empty())
      throw core::InputError(doc.source, not_a_field(doc.root, prefix, added.front(), doc.what));
    throw;
  }
}

Document hw_document(const std::vector<Assignment>& settings) {
  const std::string name = setting(settings, "hw");
  if (name.empty())
    throw core::InputError("sweep", "a field hw.* needs a base hw (a preset or YAML file)");
  Document doc;
  if (auto text = hw::preset_text(name)) {
    doc.root = YAML::Load(*text);
    doc.source = "<preset " + name + ">";
  } else {
    hw::load_hw(name);  // a file the reader refuses: its own error first
    doc.root = YAML::Load(core::read_text_file(name));
    doc.source = name;
  }
  doc.what = "hardware " + name;
  return doc;
}

Document model_document(const std::vector<Assignment>& settings) {
  const std::string name = setting(settings, "model");
  if (name.empty())
    throw core::InputError("sweep", "a field model.* needs a base model (zoo name or file)");
  return {YAML::Load(model::to_yaml(model::load_model(name))), "<model " + name + ">",
          "model " + name};
}

bool has_prefix(const std::vector<Assignment>& settings, const std::string& prefix) {
  return std::any_of(settings.begin(), settings.end(),
                     [&](const Assignment& a) { return a.field.rfind(prefix, 0) == 0; });
}

std::string key_of(const std::vector<Assignment>& settings, const std::string& name) {
  std::string key;
  for (const auto& a : settings)
    if (a.field == name || a.field.rfind(name + ".", 0) == 0)
      key += a.field + "=" + a.value + "\x1e";
  return key;
}

}  // namespace

std::vector<std::string> nearest(const std::string& word,
                                 const std::vector<std::string>& candidates, std::size_t count) {
  std::vector<std::pair<std::size_t, std::string>> scored;
  for (const auto& c : candidates)
    scored.emplace_back(edit_distance(word, c), c);
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < scored.size() && i < count; ++i)
    out.push_back(scored[i].second);
  return out;
}

hw::HwSpec point_hw(const std::vector<Assignment>& settings) {
  if (!has_prefix(settings, "hw."))
    return hw::load_hw(setting(settings, "hw"));
  return read_with(hw_document(settings), settings, "hw",
                   [](const core::ConfigNode& root) { return hw::read_hw(root); });
}

model::MoeModel point_model(const std::vector<Assignment>& settings) {
  if (!has_prefix(settings, "model."))
    return model::load_model(setting(settings, "model"));
  return read_with(model_document(settings), settings, "model",
                   [](const core::ConfigNode& root) { return model::read_model(root); });
}

void check_points(const SweepSpec& spec, const std::vector<std::string>& options) {
  std::vector<std::string> known = options;
  for (const auto& a : spec.base)
    if (a.field.rfind("hw.", 0) != 0 && a.field.rfind("model.", 0) != 0 &&
        std::find(options.begin(), options.end(), a.field) == options.end())
      throw core::InputError(
          spec.source, fmt::format("base: field '{}' is not an option of run "
                                   "{}; nearest: {}",
                                   a.field, spec.run, fmt::join(nearest(a.field, known), ", ")));
  for (const auto& f : spec.swept)
    if (f.rfind("hw.", 0) != 0 && f.rfind("model.", 0) != 0 &&
        std::find(options.begin(), options.end(), f) == options.end())
      throw core::InputError(spec.source,
                             fmt::format("field '{}' is not an option of run {} nor hw.PATH or "
                                         "model.PATH; nearest: {}",
                                         f, spec.run, fmt::join(nearest(f, known), ", ")));
  // Each distinct hardware and model once: a bad value stops the sweep before it starts.
  std::set<std::string> seen;
  for (std::size_t i = 0; i < spec.points.size(); ++i) {
    const auto settings = point_settings(spec, i);
    try {
      if (!setting(settings, "hw").empty() && seen.insert(key_of(settings, "hw")).second)
        point_hw(settings);
      if (!setting(settings, "model").empty() && seen.insert(key_of(settings, "model")).second)
        point_model(settings);
    } catch (const core::InputError& e) {
      throw core::InputError(spec.source, fmt::format("point {}: {}", i, e.what()));
    }
  }
}

}  // namespace mozart::sweep
