#include "mozart/hw/spec.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <numeric>
#include <queue>
#include <set>

#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::hw {
namespace {

using core::ConfigNode;
using core::Dimension;

constexpr long long kMaxCount = 1 << 20;

LinkSpec read_link(const ConfigNode& node, const LinkSpec& fallback) {
  node.expect_keys({"bandwidth", "latency", "energy_per_bit"});
  LinkSpec link;
  link.bytes_per_s = node.get_quantity("bandwidth", Dimension::bytes_per_s, fallback.bytes_per_s);
  link.latency_s = node.get_quantity("latency", Dimension::seconds, fallback.latency_s, true);
  link.energy_per_bit_j =
      node.get_quantity("energy_per_bit", Dimension::joules, fallback.energy_per_bit_j, true);
  if (link.bytes_per_s <= 0)
    node.at("bandwidth");  // required when there is no fallback
  return link;
}

// An endpoint: the bandwidths of a chiplet's injection and ejection ports. `bandwidth` gives
// both; `injection` and `ejection` give one each (and win over `bandwidth`); a direction given
// by neither is left empty, for the topology's endpoint to fill or for no port.
struct EndpointEntry {
  std::optional<double> injection;
  std::optional<double> ejection;
};

EndpointEntry read_endpoint(const ConfigNode& node) {
  node.expect_keys({"bandwidth", "injection", "ejection"});
  if (!node.is_map() || !(node.has("bandwidth") || node.has("injection") || node.has("ejection")))
    node.fail("a map with bandwidth (both ports) or injection and/or ejection");
  EndpointEntry e;
  if (auto both = node.find("bandwidth"))
    e.injection = e.ejection = both->as_quantity(Dimension::bytes_per_s);
  if (auto in = node.find("injection"))
    e.injection = in->as_quantity(Dimension::bytes_per_s);
  if (auto out = node.find("ejection"))
    e.ejection = out->as_quantity(Dimension::bytes_per_s);
  return e;
}

Switch read_switch(const ConfigNode& node, std::string name) {
  node.expect_keys({"name", "ports", "multicast", "aggregate", "hop_latency"});
  Switch s;
  s.name = std::move(name);
  s.ports = static_cast<int>(node.get_int("ports", 0, 0, kMaxCount));
  s.multicast = node.get_bool("multicast", false);
  s.aggregate = node.get_bool("aggregate", false);
  s.hop_latency_s = node.get_quantity("hop_latency", Dimension::seconds, 0, true);
  return s;
}

ChipletKind read_kind(const std::string& name, const ConfigNode& node) {
  node.expect_keys({"peak_flops", "array", "sram", "energy_per_flop", "endpoint"});
  ChipletKind kind;
  kind.name = name;
  for (const auto& [type_name, value] : node.at("peak_flops").entries()) {
    auto type = core::parse_data_type(type_name);
    if (!type)
      value.fail(type_name, "a data type key: fp32, bf16, fp16 or fp8");
    kind.peak_flops_per_s.emplace_back(*type, value.as_quantity(Dimension::flops_per_s));
  }
  if (kind.peak_flops_per_s.empty())
    node.at("peak_flops").fail("at least one data type");
  ConfigNode array = node.at("array");
  array.expect_keys({"rows", "cols", "count"});
  kind.array.rows = static_cast<int>(array.at("rows").as_int(1, kMaxCount));
  kind.array.cols = static_cast<int>(array.at("cols").as_int(1, kMaxCount));
  kind.array.count = static_cast<int>(array.at("count").as_int(1, kMaxCount));
  ConfigNode sram = node.at("sram");
  sram.expect_keys({"capacity", "bandwidth", "stacked_3d", "energy_per_bit"});
  kind.sram.bytes = sram.at("capacity").as_quantity(Dimension::bytes);
  kind.sram.bytes_per_s = sram.at("bandwidth").as_quantity(Dimension::bytes_per_s);
  kind.sram.stacked_3d = sram.get_bool("stacked_3d", false);
  kind.sram.energy_per_bit_j = sram.get_quantity("energy_per_bit", Dimension::joules, 0, true);
  kind.energy_per_flop_j = node.get_quantity("energy_per_flop", Dimension::joules, 0, true);
  if (auto endpoint = node.find("endpoint")) {
    const EndpointEntry e = read_endpoint(*endpoint);
    kind.injection_bytes_per_s = e.injection;
    kind.ejection_bytes_per_s = e.ejection;
  }
  return kind;
}

Role read_role(const ConfigNode& node) {
  std::string s = node.as_string();
  if (s == "attention")
    return Role::attention;
  if (s == "expert")
    return Role::expert;
  if (s == "any")
    return Role::any;
  node.fail("one of: attention, expert, any");
}

void read_chiplets(const ConfigNode& list, HwSpec& hw) {
  std::set<std::string> groups;
  for (const ConfigNode& item : list.items()) {
    item.expect_keys({"name", "kind", "count", "role", "holds_weights"});
    std::string group = item.at("name").as_string();
    if (!groups.insert(group).second)
      item.at("name").fail("a name not used by another entry");
    ConfigNode kind_node = item.at("kind");
    std::string kind_name = kind_node.as_string();
    auto kind = std::find_if(hw.kinds.begin(), hw.kinds.end(),
                             [&](const ChipletKind& k) { return k.name == kind_name; });
    if (kind == hw.kinds.end())
      kind_node.fail("the name of an entry in chiplet_kinds");
    long long count = item.get_int("count", 1, 1, kMaxCount);
    if (static_cast<long long>(hw.chiplets.size()) + count > kMaxCount)
      item.at("count").fail(fmt::format("at most {} chiplets in all", kMaxCount));
    Role role = item.has("role") ? read_role(item.at("role")) : Role::any;
    bool holds_weights = item.get_bool("holds_weights", true);
    for (long long i = 0; i < count; ++i) {
      Chiplet c;
      c.name = item.has("count") ? fmt::format("{}{}", group, i) : group;
      c.group = group;
      c.index_in_group = static_cast<int>(i);
      c.kind = static_cast<int>(kind - hw.kinds.begin());
      c.role = role;
      c.holds_weights = holds_weights;
      hw.chiplets.push_back(std::move(c));
    }
  }
  if (hw.chiplets.empty())
    list.fail("at least one chiplet");
}

// The integer text[begin, end), all of it.
std::optional<long long> whole_integer(const std::string& text, size_t begin, size_t end) {
  long long value = 0;
  const char* last = text.data() + end;
  const auto [stop, ec] = std::from_chars(text.data() + begin, last, value);
  if (ec != std::errc() || stop != last || begin == end)
    return std::nullopt;
  return value;
}

// A slice group[first:end] of a declared group must lie within it: clamping it would quietly
// attach fewer chiplets than written.
void check_slice(const ConfigNode& node, const HwSpec& hw, const std::string& group,
                 long long first, long long last) {
  const auto size = std::count_if(hw.chiplets.begin(), hw.chiplets.end(),
                                  [&](const Chiplet& c) { return c.group == group; });
  if (size == 0)
    return;  // not a group: reported by the caller
  if (first < 0 || first >= last || last > size) {
    node.fail(fmt::format("a slice {}[first:end] with 0 <= first < end <= {} (the group's size)",
                          group, size));
  }
}

// Chiplets named by a selector: a chiplet name, a group name, or "group[i:j]" (i inclusive,
// j exclusive).
std::vector<int> select_chiplets(const ConfigNode& node, const HwSpec& hw) {
  std::string text = node.as_string();
  std::string group = text;
  long long first = 0, last = kMaxCount;
  if (size_t open = text.find('['); open != std::string::npos) {
    size_t colon = text.find(':', open);
    size_t close = text.find(']', open);
    if (colon == std::string::npos || close != text.size() - 1 || close < colon) {
      node.fail("a chiplet, a group, or group[first:end]");
    }
    group = text.substr(0, open);
    const std::optional<long long> from = whole_integer(text, open + 1, colon);
    const std::optional<long long> to = whole_integer(text, colon + 1, close);
    if (!from || !to)
      node.fail("a chiplet, a group, or group[first:end] with integer bounds");
    first = *from;
    last = *to;
    check_slice(node, hw, group, first, last);
  }
  std::vector<int> out;
  for (int i = 0; i < int(hw.chiplets.size()); ++i) {
    const Chiplet& c = hw.chiplets[i];
    bool in_group = c.group == group && c.index_in_group >= first && c.index_in_group < last;
    if (in_group || (c.name == text && group == text))
      out.push_back(i);
  }
  if (out.empty())
    node.fail("a chiplet or group name declared in `chiplets` (slices must be non-empty)");
  return out;
}

std::vector<int> select_all(const ConfigNode& list, const HwSpec& hw) {
  std::vector<int> out;
  for (const ConfigNode& item : list.items()) {
    for (int c : select_chiplets(item, hw)) {
      if (std::find(out.begin(), out.end(), c) == out.end())
        out.push_back(c);
    }
  }
  return out;
}

MemoryKind read_memory_kind(const ConfigNode& node) {
  std::string s = node.as_string();
  if (s == "hbm")
    return MemoryKind::hbm;
  if (s == "dram")
    return MemoryKind::dram;
  if (s == "ssd")
    return MemoryKind::ssd;
  node.fail("one of: hbm, dram, ssd");
}

// Where a stack hangs: chiplets it is attached to directly, or one network node (a switch, or a
// chiplet reached with its own port link) from which the chiplets it serves are reached.
struct Attachment {
  std::vector<int> chiplets;
  int node = -1;
  std::optional<LinkSpec> port;
};

Attachment read_attachment(const ConfigNode& list, const HwSpec& hw) {
  Attachment at;
  std::vector<ConfigNode> items = list.items();
  for (const ConfigNode& item : items) {
    int node = -1;
    if (item.is_map()) {
      item.expect_keys({"node", "port"});
      const ConfigNode name = item.at("node");
      const std::optional<int> id = hw.find_node(name.as_string());
      if (!id)
        name.fail("the name of a chiplet or switch");
      node = *id;
      if (auto port = item.find("port"))
        at.port = read_link(*port, LinkSpec{});
    } else if (const std::optional<int> id = hw.find_node(item.as_string());
               id && hw.is_switch(*id)) {
      node = *id;
    }
    if (node < 0) {
      std::vector<int> chiplets;
      try {
        chiplets = select_chiplets(item, hw);
      } catch (const core::InputError&) {
        if (item.as_string().find('[') != std::string::npos)
          throw;  // a slice: its own message names the bound
        item.fail("a chiplet, a group, group[first:end], a switch, or {node, port}");
      }
      for (int c : chiplets)
        if (std::find(at.chiplets.begin(), at.chiplets.end(), c) == at.chiplets.end())
          at.chiplets.push_back(c);
      continue;
    }
    if (items.size() != 1)
      item.fail(
          "a stack attached to one network node only (a switch, or {node, port}), not "
          "beside other attachments");
    at.node = node;
  }
  // A stack attached to nothing serves nobody (and nothing downstream expects one).
  if (at.node < 0 && at.chiplets.empty())
    list.fail("at least one chiplet, group, switch or {node, port}");
  return at;
}

// Returns, per stack read, whether it names the chiplets it serves.
std::vector<bool> read_memories(const ConfigNode& list, HwSpec& hw) {
  std::vector<bool> explicit_serves;
  for (const ConfigNode& item : list.items()) {
    item.expect_keys({"name", "kind", "count", "per_chiplet", "capacity", "bandwidth",
                      "energy_per_bit", "attach", "serves"});
    MemoryStack base;
    base.name = item.at("name").as_string();
    base.kind = read_memory_kind(item.at("kind"));
    base.bytes = item.at("capacity").as_quantity(Dimension::bytes);
    base.bytes_per_s = item.at("bandwidth").as_quantity(Dimension::bytes_per_s);
    base.energy_per_bit_j = item.get_quantity("energy_per_bit", Dimension::joules, 0, true);
    Attachment attached = read_attachment(item.at("attach"), hw);
    base.node = attached.node;
    base.port = attached.port;
    base.chiplets = attached.chiplets;
    if (auto serves = item.find("serves")) {
      if (!base.networked())
        serves->fail("no `serves` on a stack attached to chiplets (it serves them)");
      base.chiplets = select_all(*serves, hw);
      if (base.chiplets.empty())
        serves->fail("at least one chiplet");
    }
    long long count = item.get_int("count", 1, 1, kMaxCount);
    if (static_cast<long long>(hw.memories.size()) + count > kMaxCount)
      item.at("count").fail(fmt::format("at most {} memory stacks in all", kMaxCount));
    bool per_chiplet = item.get_bool("per_chiplet", false);
    if (per_chiplet && item.has("count")) {
      item.at("count").fail("no count together with per_chiplet (one stack per chiplet)");
    }
    if (per_chiplet && base.networked())
      item.at("per_chiplet").fail("per_chiplet only on stacks attached to chiplets");
    if (per_chiplet) {
      if (hw.memories.size() + base.chiplets.size() > static_cast<std::size_t>(kMaxCount))
        item.at("per_chiplet").fail(fmt::format("at most {} memory stacks in all", kMaxCount));
      for (int c : base.chiplets) {
        MemoryStack m = base;
        m.name = fmt::format("{}.{}", base.name, hw.chiplets[c].name);
        m.chiplets = {c};
        hw.memories.push_back(std::move(m));
        explicit_serves.push_back(false);
      }
      continue;
    }
    for (long long i = 0; i < count; ++i) {
      MemoryStack m = base;
      if (count > 1)
        m.name = fmt::format("{}{}", base.name, i);
      hw.memories.push_back(std::move(m));
      explicit_serves.push_back(item.has("serves"));
    }
  }
  return explicit_serves;
}

// Hops from `from` to every node (-1 where unreachable).
std::vector<int> hops_from(const HwSpec& hw, int from) {
  std::vector<std::vector<int>> adjacent(static_cast<std::size_t>(hw.node_count()));
  for (const Link& l : hw.links) {
    adjacent[static_cast<std::size_t>(l.a)].push_back(l.b);
    adjacent[static_cast<std::size_t>(l.b)].push_back(l.a);
  }
  std::vector<int> hops(static_cast<std::size_t>(hw.node_count()), -1);
  std::queue<int> frontier;
  hops[static_cast<std::size_t>(from)] = 0;
  frontier.push(from);
  while (!frontier.empty()) {
    const int n = frontier.front();
    frontier.pop();
    for (int m : adjacent[static_cast<std::size_t>(n)])
      if (hops[static_cast<std::size_t>(m)] < 0) {
        hops[static_cast<std::size_t>(m)] = hops[static_cast<std::size_t>(n)] + 1;
        frontier.push(m);
      }
  }
  return hops;
}

// A networked stack without `serves` serves the weight-holding chiplets that have no stack of
// their own and for which its node is the nearest (in hops) of all networked stacks' nodes;
// a chiplet equally near several stripes over them. A stack that so serves nobody is an error.
void assign_networked_stacks(HwSpec& hw, const std::vector<bool>& explicit_serves,
                             const std::string& source) {
  std::vector<bool> has_own(hw.chiplets.size(), false);
  for (std::size_t s = 0; s < hw.memories.size(); ++s)
    if (!hw.memories[s].networked() || explicit_serves[s])
      for (int c : hw.memories[s].chiplets)
        has_own[static_cast<std::size_t>(c)] = true;
  std::map<int, std::vector<int>> hops_of_node;
  for (std::size_t s = 0; s < hw.memories.size(); ++s)
    if (hw.memories[s].networked() && !explicit_serves[s])
      hops_of_node.try_emplace(hw.memories[s].node, hops_from(hw, hw.memories[s].node));
  for (int c = 0; c < int(hw.chiplets.size()); ++c) {
    if (has_own[static_cast<std::size_t>(c)] ||
        !hw.chiplets[static_cast<std::size_t>(c)].holds_weights)
      continue;
    int nearest = -1;
    for (const auto& [node, hops] : hops_of_node) {
      const int h = hops[static_cast<std::size_t>(c)];
      if (h >= 0 && (nearest < 0 || h < nearest))
        nearest = h;
    }
    for (MemoryStack& m : hw.memories)
      if (m.networked() && hops_of_node.count(m.node) &&
          hops_of_node[m.node][static_cast<std::size_t>(c)] == nearest)
        m.chiplets.push_back(c);
  }
  for (std::size_t s = 0; s < hw.memories.size(); ++s)
    if (hw.memories[s].chiplets.empty())
      throw core::InputError(
          core::InputLocation{source, fmt::format("memories.{}.attach", hw.memories[s].name), 0},
          hw.node_name(hw.memories[s].node),
          "a node that is the nearest memory of some weight-holding chiplet without a stack of "
          "its own, or a `serves:` list");
}

// Expands a topology description into switches and links.
class TopologyBuilder {
 public:
  TopologyBuilder(const ConfigNode& node, HwSpec& hw) : node_(node), hw_(hw) {}

  void build() {
    ConfigNode kind = node_.at("kind");
    hw_.topology.kind = kind.as_string();
    const std::string& k = hw_.topology.kind;
    if (k == "tree") {
      node_.expect_keys({"kind", "root", "fanouts", "parallel", "leaves", "switch", "link",
                         "extra_links", "endpoint", "efficiency"});
      build_tree();
    } else if (k == "fat_tree") {
      node_.expect_keys(
          {"kind", "k", "n", "nodes", "switch", "link", "extra_links", "endpoint", "efficiency"});
      build_fat_tree();
    } else if (k == "mesh" || k == "torus") {
      node_.expect_keys({"kind", "rows", "cols", "nodes", "link", "wafer", "extra_links",
                         "endpoint", "efficiency"});
      build_grid(k == "torus");
    } else if (k == "star") {
      node_.expect_keys(
          {"kind", "nodes", "switch", "link", "extra_links", "endpoint", "efficiency"});
      build_star();
    } else if (k == "cluster") {
      node_.expect_keys({"kind", "nodes", "per_node", "switch", "link", "inter_node_switch",
                         "inter_node_link", "extra_links", "endpoint", "efficiency"});
      build_cluster();
    } else if (k == "explicit") {
      node_.expect_keys({"kind", "switches", "link", "links", "endpoint", "efficiency"});
      build_explicit();
    } else {
      kind.fail("one of: tree, fat_tree, mesh, torus, star, cluster, explicit");
    }
    if (auto extra = node_.find("extra_links"))
      add_link_list(*extra, "extra");
    read_endpoints();
    if (auto efficiency = node_.find("efficiency"))
      hw_.topology.efficiency = read_efficiency(*efficiency);
  }

 private:
  LinkSpec default_link() const {
    return node_.has("link") ? read_link(node_.at("link"), LinkSpec{}) : LinkSpec{};
  }

  int add_switch(const std::string& name, const char* key) {
    Switch s = node_.has(key) ? read_switch(node_.at(key), name) : Switch{name, 0, false, false, 0};
    hw_.switches.push_back(std::move(s));
    return int(hw_.chiplets.size() + hw_.switches.size()) - 1;
  }

  void add_link(int a, int b, const LinkSpec& spec, std::string label) {
    hw_.links.push_back(Link{a, b, spec, std::move(label)});
  }

  std::vector<int> group(const char* key) const { return select_chiplets(node_.at(key), hw_); }

  int single_chiplet(const char* key) const {
    std::vector<int> c = group(key);
    if (c.size() != 1)
      node_.at(key).fail("exactly one chiplet");
    return c.front();
  }

  // A tree of switches, fan-outs from the root down to the leaves. The root is a chiplet
  // (`root`) or, without one, a level of switches; `parallel` puts that many switches side by
  // side at each switch level (root level first), each joined to every switch of its parent
  // position, as in tapered and fat trees.
  void build_tree() {
    std::vector<int> leaves = group("leaves");
    for (const ConfigNode& f : node_.at("fanouts").items()) {
      hw_.topology.fanouts.push_back(static_cast<int>(f.as_int(1, kMaxCount)));
    }
    const auto& fanouts = hw_.topology.fanouts;
    if (fanouts.empty())
      node_.at("fanouts").fail("at least one fan-out");
    long long capacity = 1;
    for (int f : fanouts)
      capacity = std::min(capacity * f, kMaxCount + 1);  // no overflow: both are <= 2^20 + 1
    if (capacity != static_cast<long long>(leaves.size())) {
      node_.at("fanouts").fail(
          fmt::format("fan-outs whose product equals the number of leaves ({})", leaves.size()));
    }
    const bool chiplet_root = node_.has("root");
    const size_t levels = fanouts.size() - (chiplet_root ? 1 : 0);  // levels of switches
    std::vector<int>& parallel = hw_.topology.parallel;
    if (auto list = node_.find("parallel")) {
      for (const ConfigNode& p : list->items())
        parallel.push_back(static_cast<int>(p.as_int(1, 1 << 10)));
      if (parallel.size() != levels)
        list->fail(fmt::format("one count per level of switches ({})", levels));
    } else {
      parallel.assign(levels, 1);
    }
    const LinkSpec link = default_link();
    std::vector<std::vector<int>> parents;  // positions of the level above, each its nodes
    size_t level = 0;
    if (chiplet_root) {
      parents.push_back({single_chiplet("root")});
    } else {
      parents.push_back(add_switches("root", parallel[0]));
      level = 1;
    }
    for (size_t f = 0; f + 1 < fanouts.size(); ++f, ++level) {
      std::vector<std::vector<int>> next;
      for (const std::vector<int>& parent : parents) {
        for (int i = 0; i < fanouts[f]; ++i) {
          next.push_back(add_switches(fmt::format("sw{}_{}", f + 1, next.size()), parallel[level]));
          for (int s : next.back())
            for (int p : parent)
              add_link(p, s, link, "nop");
        }
      }
      parents = std::move(next);
    }
    size_t leaf = 0;
    for (const std::vector<int>& parent : parents) {
      for (int i = 0; i < fanouts.back(); ++i, ++leaf)
        for (int p : parent)
          add_link(p, leaves[leaf], link, "nop");
    }
  }

  // `count` switches side by side: `name`, or name.0, name.1 ... when several.
  std::vector<int> add_switches(const std::string& name, int count) {
    std::vector<int> out;
    for (int c = 0; c < count; ++c)
      out.push_back(add_switch(count == 1 ? name : fmt::format("{}.{}", name, c), "switch"));
    return out;
  }

  // A k-ary n-tree: k^n chiplets under n levels of k^(n-1) switches (level 0 the leaves). A
  // switch's index has n-1 base-k digits; switches of levels l and l+1 are joined when their
  // indices agree on every digit but digit l, so every switch has k links down and k up (none
  // up at the top): full bisection bandwidth.
  void build_fat_tree() {
    const int k = static_cast<int>(node_.at("k").as_int(2, 1 << 10));
    const int n = static_cast<int>(node_.at("n").as_int(1, 20));
    long long terminals = 1;
    for (int i = 0; i < n && terminals <= kMaxCount; ++i)
      terminals *= k;
    std::vector<int> nodes = group("nodes");
    if (terminals != static_cast<long long>(nodes.size())) {
      node_.at("nodes").fail(
          fmt::format("a group of k^n = {} chiplets, not {}", terminals, nodes.size()));
    }
    hw_.topology.k = k;
    hw_.topology.n = n;
    const int per_level = static_cast<int>(terminals / k);
    const LinkSpec link = default_link();
    std::vector<std::vector<int>> sw(static_cast<size_t>(n));
    for (int l = 0; l < n; ++l)
      for (int w = 0; w < per_level; ++w)
        sw[l].push_back(add_switch(fmt::format("ft{}_{}", l, w), "switch"));
    for (size_t t = 0; t < nodes.size(); ++t)
      add_link(nodes[t], sw[0][t / static_cast<size_t>(k)], link, "fat_tree");
    int digit = 1;  // k^l: the weight of digit l
    for (int l = 0; l + 1 < n; ++l, digit *= k) {
      for (int w = 0; w < per_level; ++w) {
        const int base = w - (w / digit % k) * digit;  // digit l cleared
        for (int d = 0; d < k; ++d)
          add_link(sw[l][w], sw[l + 1][base + d * digit], link, "fat_tree");
      }
    }
  }

  // Endpoint ports, each direction: a chiplet kind's own, else the topology's.
  void read_endpoints() {
    EndpointEntry fallback;
    if (auto endpoint = node_.find("endpoint"))
      fallback = read_endpoint(*endpoint);
    for (Chiplet& c : hw_.chiplets) {
      const ChipletKind& kind = hw_.kinds[static_cast<size_t>(c.kind)];
      c.endpoint.injection_bytes_per_s =
          kind.injection_bytes_per_s.value_or(fallback.injection.value_or(0));
      c.endpoint.ejection_bytes_per_s =
          kind.ejection_bytes_per_s.value_or(fallback.ejection.value_or(0));
    }
  }

  static Efficiency read_efficiency(const ConfigNode& node) {
    node.expect_keys({"link", "endpoint", "switch"});
    Efficiency e;
    auto fraction = [&](const char* key, double& field) {
      if (auto value = node.find(key)) {
        const std::optional<double> v = core::parse_quantity(value->as_string(), Dimension::count);
        if (!v || !(*v > 0 && *v <= 1))
          value->fail("an efficiency in (0, 1]");
        field = *v;
      }
    };
    fraction("link", e.link);
    fraction("endpoint", e.endpoint);
    fraction("switch", e.switch_traversal);
    return e;
  }

  void build_grid(bool torus) {
    const int rows = static_cast<int>(node_.at("rows").as_int(1, kMaxCount));
    const int cols = static_cast<int>(node_.at("cols").as_int(1, kMaxCount));
    hw_.topology.rows = rows;
    hw_.topology.cols = cols;
    std::vector<int> nodes = group("nodes");
    if (static_cast<long long>(nodes.size()) != static_cast<long long>(rows) * cols) {
      node_.at("nodes").fail(fmt::format("a group of rows x cols = {} chiplets, not {}",
                                         static_cast<long long>(rows) * cols, nodes.size()));
    }
    LinkSpec link = default_link();
    const LinkSpec between = read_wafers(rows, cols, link);
    const Topology& t = hw_.topology;
    auto at = [&](int x, int y) { return nodes[y * cols + x]; };
    auto join = [&](int x, int y, int x2, int y2) {
      if (t.wafer_of(x, y) == t.wafer_of(x2, y2))
        add_link(at(x, y), at(x2, y2), link, "mesh");
      else
        add_link(at(x, y), at(x2, y2), between, "wafer");
    };
    for (int y = 0; y < rows; ++y) {
      for (int x = 0; x < cols; ++x) {
        hw_.chiplets[at(x, y)].coord = Coord{x, y};
        if (x + 1 < cols)
          join(x, y, x + 1, y);
        if (y + 1 < rows)
          join(x, y, x, y + 1);
      }
    }
    if (!torus)
      return;
    // Wrap-around links; a ring of two already has its only link.
    for (int y = 0; y < rows && cols > 2; ++y)
      add_link(at(cols - 1, y), at(0, y), link, "wrap");
    for (int x = 0; x < cols && rows > 2; ++x)
      add_link(at(x, rows - 1), at(x, 0), link, "wrap");
  }

  // `wafer: {rows, cols, link}`: the grid is tiled by wafers of rows x cols dies, joined by
  // links of `link` (unset fields: the mesh's link). Returns the wafer-to-wafer link.
  LinkSpec read_wafers(int rows, int cols, const LinkSpec& mesh_link) {
    auto wafer = node_.find("wafer");
    if (!wafer)
      return mesh_link;
    wafer->expect_keys({"rows", "cols", "link"});
    const int wr = static_cast<int>(wafer->at("rows").as_int(1, kMaxCount));
    const int wc = static_cast<int>(wafer->at("cols").as_int(1, kMaxCount));
    if (rows % wr != 0)
      wafer->at("rows").fail(fmt::format("a divisor of the mesh's rows ({})", rows));
    if (cols % wc != 0)
      wafer->at("cols").fail(fmt::format("a divisor of the mesh's cols ({})", cols));
    hw_.topology.wafer_rows = wr;
    hw_.topology.wafer_cols = wc;
    return wafer->has("link") ? read_link(wafer->at("link"), mesh_link) : mesh_link;
  }

  void build_star() {
    int s = add_switch("switch", "switch");
    LinkSpec link = default_link();
    for (int c : group("nodes"))
      add_link(c, s, link, "switch");
  }

  void build_cluster() {
    std::vector<int> nodes = group("nodes");
    const int per_node = static_cast<int>(node_.at("per_node").as_int(1, kMaxCount));
    if (nodes.size() % per_node != 0) {
      node_.at("per_node").fail(fmt::format("a divisor of the group size ({})", nodes.size()));
    }
    hw_.topology.nodes_per_group = per_node;
    LinkSpec intra = default_link();
    LinkSpec inter = read_link(node_.at("inter_node_link"), LinkSpec{});
    int fabric = add_switch("fabric", "inter_node_switch");
    for (size_t first = 0; first < nodes.size(); first += per_node) {
      int s = add_switch(fmt::format("node{}.switch", first / per_node), "switch");
      for (size_t i = first; i < first + per_node; ++i) {
        add_link(nodes[i], s, intra, "intra_node");
        add_link(nodes[i], fabric, inter, "inter_node");
      }
    }
  }

  void build_explicit() {
    if (auto list = node_.find("switches")) {
      for (const ConfigNode& item : list->items()) {
        hw_.switches.push_back(read_switch(item, item.at("name").as_string()));
      }
    }
    add_link_list(node_.at("links"), "explicit");
  }

  void add_link_list(const ConfigNode& list, const std::string& label) {
    LinkSpec fallback = default_link();
    for (const ConfigNode& item : list.items()) {
      item.expect_keys({"a", "b", "bandwidth", "latency", "energy_per_bit"});
      int a = endpoint(item.at("a"));
      int b = endpoint(item.at("b"));
      LinkSpec spec;
      spec.bytes_per_s =
          item.get_quantity("bandwidth", Dimension::bytes_per_s, fallback.bytes_per_s);
      spec.latency_s = item.get_quantity("latency", Dimension::seconds, fallback.latency_s, true);
      spec.energy_per_bit_j =
          item.get_quantity("energy_per_bit", Dimension::joules, fallback.energy_per_bit_j, true);
      if (spec.bytes_per_s <= 0)
        item.at("bandwidth");
      add_link(a, b, spec, label);
    }
  }

  int endpoint(const ConfigNode& node) const {
    std::optional<int> id = hw_.find_node(node.as_string());
    if (!id)
      node.fail("the name of a chiplet or switch");
    return *id;
  }

  const ConfigNode& node_;
  HwSpec& hw_;
};

// A plain number in [min, max] (or (min, max] when open_min), for technology parameters.
double read_parameter(const ConfigNode& node, double min, double max, bool open_min) {
  const std::optional<double> value = core::parse_quantity(node.as_string(), Dimension::count);
  if (!value || *value < min || *value > max || (open_min && *value == min))
    node.fail(fmt::format("a number in {}{:g}, {:g}]", open_min ? "(" : "[", min, max));
  return *value;
}

// A node's defaults with the entries given overriding them.
Technology read_technology(const ConfigNode& node) {
  node.expect_keys({"node", "pe_area_um2", "sram_area_mm2_per_mb", "sram_leakage_w_per_mb",
                    "logic_leakage_w_per_mm2", "wire_pitch_um", "wire_rate", "switch_port_area_mm2",
                    "hbm_package_area_mm2"});
  ConfigNode name = node.at("node");
  std::optional<Technology> tech = technology_for_node(name.as_string());
  if (!tech)
    name.fail("a node with known parameters: " + known_nodes());
  auto override = [&](std::string_view key, double& field, double max, bool zero_allowed) {
    if (auto value = node.find(key))
      field = read_parameter(*value, 0, max, !zero_allowed);
  };
  override("pe_area_um2", tech->pe_area_um2, 1e6, false);
  override("sram_area_mm2_per_mb", tech->sram_area_mm2_per_mb, 1e3, false);
  override("sram_leakage_w_per_mb", tech->sram_leakage_w_per_mb, 10, true);
  override("logic_leakage_w_per_mm2", tech->logic_leakage_w_per_mm2, 10, true);
  override("wire_pitch_um", tech->wire_pitch_um, 1e4, false);
  override("switch_port_area_mm2", tech->switch_port_area_mm2, 1e4, true);
  override("hbm_package_area_mm2", tech->hbm_package_area_mm2, 1e4, false);
  if (auto rate = node.find("wire_rate"))
    tech->wire_bytes_per_s = rate->as_quantity(Dimension::bytes_per_s);
  return *tech;
}

[[noreturn]] void reject(const std::string& source, const std::string& field,
                         const std::string& value, const std::string& expected) {
  throw core::InputError(core::InputLocation{source, field, 0}, value, expected);
}

// What a real part can have, with orders of magnitude to spare (docs/hardware.md, "Checks"):
// a value past them is a unit slip, and would overflow the times and energies computed from it.
struct SaneRange {
  double max;
  Dimension dimension;
  bool zero_allowed = false;
};
constexpr SaneRange kClock{1e11, Dimension::hertz};            // 100 GHz
constexpr SaneRange kFlops{1e18, Dimension::flops_per_s};      // 1 EFLOP/s a chiplet
constexpr SaneRange kBytes{1e15, Dimension::bytes};            // 1 PB
constexpr SaneRange kBandwidth{1e15, Dimension::bytes_per_s};  // 1 PB/s
constexpr SaneRange kLatency{1, Dimension::seconds, true};     // 1 s
constexpr SaneRange kEnergy{1e-6, Dimension::joules, true};    // 1 uJ a bit or a FLOP

void require_sane(const std::string& source, const std::string& field, double value,
                  const SaneRange& range) {
  const bool low_ok = range.zero_allowed ? value >= 0 : value > 0;
  if (low_ok && value <= range.max)  // false for NaN
    return;
  reject(
      source, field, fmt::format("{:g}", value),
      fmt::format("a {} quantity of at most {}", range.zero_allowed ? "non-negative" : "positive",
                  core::format_quantity(range.max, range.dimension)));
}

void require_sane_link(const std::string& source, const std::string& field, const LinkSpec& l) {
  require_sane(source, field + ".bandwidth", l.bytes_per_s, kBandwidth);
  require_sane(source, field + ".latency", l.latency_s, kLatency);
  require_sane(source, field + ".energy_per_bit", l.energy_per_bit_j, kEnergy);
}

}  // namespace

double ChipletKind::peak(core::DataType type) const {
  for (const auto& [t, flops] : peak_flops_per_s) {
    if (t == type)
      return flops;
  }
  return 0;
}

const std::string& HwSpec::node_name(int node) const {
  return is_switch(node) ? switches[node - chiplets.size()].name : chiplets[node].name;
}

std::optional<int> HwSpec::find_node(const std::string& node) const {
  for (int n = 0; n < node_count(); ++n) {
    if (node_name(n) == node)
      return n;
  }
  return std::nullopt;
}

std::vector<int> HwSpec::chiplets_with_role(Role role) const {
  std::vector<int> out;
  for (int i = 0; i < int(chiplets.size()); ++i) {
    if (chiplets[i].role == role || chiplets[i].role == Role::any)
      out.push_back(i);
  }
  return out;
}

std::string_view to_string(Role role) {
  switch (role) {
    case Role::attention:
      return "attention";
    case Role::expert:
      return "expert";
    case Role::any:
      return "any";
  }
  return "?";
}

std::string_view to_string(MemoryKind kind) {
  switch (kind) {
    case MemoryKind::hbm:
      return "hbm";
    case MemoryKind::dram:
      return "dram";
    case MemoryKind::ssd:
      return "ssd";
  }
  return "?";
}

HwSpec read_hw(const ConfigNode& root) {
  root.expect_keys({"name", "description", "clock", "chiplet_kinds", "chiplets", "memories",
                    "topology", "technology"});
  HwSpec hw;
  hw.name = root.at("name").as_string();
  hw.description = root.get_string("description", "");
  hw.clock_hz = root.at("clock").as_quantity(Dimension::hertz);
  for (const auto& [name, node] : root.at("chiplet_kinds").entries()) {
    hw.kinds.push_back(read_kind(name, node));
  }
  read_chiplets(root.at("chiplets"), hw);
  ConfigNode topology = root.at("topology");
  TopologyBuilder(topology, hw).build();
  // After the topology: a stack may hang off a switch it creates.
  if (auto memories = root.find("memories")) {
    const std::vector<bool> explicit_serves = read_memories(*memories, hw);
    assign_networked_stacks(hw, explicit_serves, root.source());
  }
  if (auto technology = root.find("technology"))
    hw.technology = read_technology(*technology);
  check(hw, root.source());
  return hw;
}

void check(const HwSpec& hw, const std::string& source) {
  require_sane(source, "clock", hw.clock_hz, kClock);
  for (const ChipletKind& k : hw.kinds) {
    std::string at = "chiplet_kinds." + k.name;
    for (const auto& [type, flops] : k.peak_flops_per_s) {
      require_sane(source, fmt::format("{}.peak_flops.{}", at, core::to_string(type)), flops,
                   kFlops);
    }
    require_sane(source, at + ".sram.capacity", k.sram.bytes, kBytes);
    require_sane(source, at + ".sram.bandwidth", k.sram.bytes_per_s, kBandwidth);
    require_sane(source, at + ".sram.energy_per_bit", k.sram.energy_per_bit_j, kEnergy);
    require_sane(source, at + ".energy_per_flop", k.energy_per_flop_j, kEnergy);
  }
  for (const Switch& sw : hw.switches)
    require_sane(source, fmt::format("switch {}.hop_latency", sw.name), sw.hop_latency_s, kLatency);
  for (const Chiplet& c : hw.chiplets) {
    for (auto [way, bandwidth] : {std::pair{"injection", c.endpoint.injection_bytes_per_s},
                                  std::pair{"ejection", c.endpoint.ejection_bytes_per_s}}) {
      if (bandwidth != 0)
        require_sane(source, fmt::format("{}.endpoint.{}", c.name, way), bandwidth, kBandwidth);
    }
  }
  std::set<std::string> names;
  for (int n = 0; n < hw.node_count(); ++n) {
    if (!names.insert(hw.node_name(n)).second) {
      reject(source, "chiplets", hw.node_name(n), "unique chiplet and switch names");
    }
  }
  for (const MemoryStack& m : hw.memories) {
    const std::string at = "memories." + m.name;
    require_sane(source, at + ".capacity", m.bytes, kBytes);
    require_sane(source, at + ".bandwidth", m.bytes_per_s, kBandwidth);
    require_sane(source, at + ".energy_per_bit", m.energy_per_bit_j, kEnergy);
    if (m.port)
      require_sane_link(source, at + ".port", *m.port);
  }
  if (hw.technology)
    require_sane(source, "technology.wire_rate", hw.technology->wire_bytes_per_s, kBandwidth);
  std::vector<std::size_t> links_of(static_cast<std::size_t>(hw.node_count()), 0);
  for (const Link& l : hw.links) {
    std::string field = fmt::format("topology.link {}-{}", hw.node_name(l.a), hw.node_name(l.b));
    require_sane_link(source, field, l.spec);
    if (l.a == l.b)
      reject(source, field, hw.node_name(l.a), "a link between two different nodes");
    ++links_of[static_cast<std::size_t>(l.a)];
    ++links_of[static_cast<std::size_t>(l.b)];
  }
  for (size_t s = 0; s < hw.switches.size(); ++s) {
    const Switch& sw = hw.switches[s];
    const size_t degree = links_of[hw.chiplets.size() + s];
    if (sw.ports > 0 && degree > size_t(sw.ports)) {
      reject(source, fmt::format("switch {}.ports", sw.name), std::to_string(sw.ports),
             fmt::format("at least its {} links", degree));
    }
  }
  // Connectivity: every node some hops from node 0.
  const std::vector<int> hops = hops_from(hw, 0);
  for (int n = 0; n < hw.node_count(); ++n) {
    if (hops[static_cast<std::size_t>(n)] < 0) {
      reject(source, "topology",
             fmt::format("{} unreachable from {}", hw.node_name(n), hw.node_name(0)),
             "a connected topology");
    }
  }
  // One pass over the stacks: a million per-chiplet stacks must not take chiplets x stacks.
  std::vector<bool> attached(hw.chiplets.size(), false);
  for (const MemoryStack& m : hw.memories)
    for (const int c : m.chiplets)
      attached[static_cast<std::size_t>(c)] = true;
  for (int c = 0; c < int(hw.chiplets.size()); ++c) {
    if (!hw.chiplets[c].holds_weights)
      continue;
    if (!attached[static_cast<std::size_t>(c)]) {
      reject(source, "memories", fmt::format("no stack attached to {}", hw.chiplets[c].name),
             "every chiplet that holds weights attached to a memory (or holds_weights: false)");
    }
  }
}

nlohmann::ordered_json to_json(const HwSpec& hw) {
  using nlohmann::ordered_json;
  ordered_json kinds = ordered_json::array();
  for (const ChipletKind& k : hw.kinds) {
    ordered_json peak = ordered_json::object();
    for (const auto& [type, flops] : k.peak_flops_per_s)
      peak[std::string(core::to_string(type))] = flops;
    kinds.push_back(
        {{"name", k.name},
         {"peak_flops_per_s", peak},
         {"array", {{"rows", k.array.rows}, {"cols", k.array.cols}, {"count", k.array.count}}},
         {"sram",
          {{"bytes", k.sram.bytes},
           {"bytes_per_s", k.sram.bytes_per_s},
           {"stacked_3d", k.sram.stacked_3d},
           {"energy_per_bit_j", k.sram.energy_per_bit_j}}},
         {"energy_per_flop_j", k.energy_per_flop_j}});
  }
  ordered_json chiplets = ordered_json::array();
  for (const Chiplet& c : hw.chiplets) {
    ordered_json j = {{"name", c.name},
                      {"group", c.group},
                      {"kind", hw.kinds[c.kind].name},
                      {"role", to_string(c.role)},
                      {"holds_weights", c.holds_weights}};
    if (c.coord)
      j["coord"] = {c.coord->x, c.coord->y};
    if (c.endpoint.injection_bytes_per_s > 0)
      j["injection_bytes_per_s"] = c.endpoint.injection_bytes_per_s;
    if (c.endpoint.ejection_bytes_per_s > 0)
      j["ejection_bytes_per_s"] = c.endpoint.ejection_bytes_per_s;
    chiplets.push_back(std::move(j));
  }
  ordered_json memories = ordered_json::array();
  for (const MemoryStack& m : hw.memories) {
    ordered_json attached = ordered_json::array();
    for (int c : m.chiplets)
      attached.push_back(hw.chiplets[c].name);
    ordered_json j = {{"name", m.name},
                      {"kind", to_string(m.kind)},
                      {"bytes", m.bytes},
                      {"bytes_per_s", m.bytes_per_s},
                      {"energy_per_bit_j", m.energy_per_bit_j}};
    if (m.networked()) {
      j["node"] = hw.node_name(m.node);
      if (m.port)
        j["port"] = {{"bytes_per_s", m.port->bytes_per_s},
                     {"latency_s", m.port->latency_s},
                     {"energy_per_bit_j", m.port->energy_per_bit_j}};
      j["serves"] = attached;
    } else {
      j["attach"] = attached;
    }
    memories.push_back(std::move(j));
  }
  ordered_json switches = ordered_json::array();
  for (const Switch& s : hw.switches) {
    switches.push_back({{"name", s.name},
                        {"ports", s.ports},
                        {"multicast", s.multicast},
                        {"aggregate", s.aggregate},
                        {"hop_latency_s", s.hop_latency_s}});
  }
  ordered_json links = ordered_json::array();
  for (const Link& l : hw.links) {
    links.push_back({{"a", hw.node_name(l.a)},
                     {"b", hw.node_name(l.b)},
                     {"label", l.label},
                     {"bytes_per_s", l.spec.bytes_per_s},
                     {"latency_s", l.spec.latency_s},
                     {"energy_per_bit_j", l.spec.energy_per_bit_j}});
  }
  ordered_json topology = {{"kind", hw.topology.kind}};
  if (!hw.topology.fanouts.empty())
    topology["fanouts"] = hw.topology.fanouts;
  if (hw.topology.rows > 0) {
    topology["rows"] = hw.topology.rows;
    topology["cols"] = hw.topology.cols;
  }
  if (hw.topology.wafer_rows > 0) {
    topology["wafer_rows"] = hw.topology.wafer_rows;
    topology["wafer_cols"] = hw.topology.wafer_cols;
  }
  if (hw.topology.nodes_per_group > 0)
    topology["per_node"] = hw.topology.nodes_per_group;
  if (std::any_of(hw.topology.parallel.begin(), hw.topology.parallel.end(),
                  [](int p) { return p > 1; }))
    topology["parallel"] = hw.topology.parallel;
  if (hw.topology.k > 0) {
    topology["k"] = hw.topology.k;
    topology["n"] = hw.topology.n;
  }
  const Efficiency& e = hw.topology.efficiency;
  if (e.link != 1 || e.endpoint != 1 || e.switch_traversal != 1)
    topology["efficiency"] = {
        {"link", e.link}, {"endpoint", e.endpoint}, {"switch", e.switch_traversal}};
  return ordered_json{{"name", hw.name},         {"description", hw.description},
                      {"clock_hz", hw.clock_hz}, {"chiplet_kinds", kinds},
                      {"chiplets", chiplets},    {"memories", memories},
                      {"switches", switches},    {"links", links},
                      {"topology", topology}};
}

}  // namespace mozart::hw
