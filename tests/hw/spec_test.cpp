#include "mozart/hw/spec.hpp"

#include <set>

#include <gtest/gtest.h>

#include "mozart/core/error.hpp"
#include "mozart/hw/zoo.hpp"

namespace mozart::hw {
namespace {

const char* kSmall = R"(
name: small
clock: 1 GHz
chiplet_kinds:
  core:
    peak_flops: {fp16: 1 TFLOP/s}
    array: {rows: 8, cols: 8, count: 2}
    sram: {capacity: 1 MiB, bandwidth: 100 GB/s}
chiplets:
  - {name: root, kind: core, role: attention}
  - {name: leaf, kind: core, count: 4, role: expert}
memories:
  - {name: mem, kind: hbm, capacity: 1 GiB, bandwidth: 10 GB/s, attach: [root, leaf]}
topology:
  kind: tree
  root: root
  fanouts: [2, 2]
  leaves: leaf
  switch: {multicast: true, aggregate: true, hop_latency: 5 ns}
  link: {bandwidth: 10 GB/s, latency: 1 ns}
)";

std::string with(const std::string& from, const std::string& to) {
  std::string s = kSmall;
  size_t at = s.find(from);
  if (at == std::string::npos)
    throw std::runtime_error("fixture has no " + from);
  s.replace(at, from.size(), to);
  return s;
}

HwSpec parse(const std::string& yaml) {
  return read_hw(core::ConfigNode::parse(yaml, "hw.yaml"));
}

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

TEST(HwSpec, SliceBeyondItsGroupIsRefusedNamingTheBound) {
  const std::string message =
      error_of(with("attach: [root, leaf]", "attach: [root, \"leaf[0:99]\"]"));
  EXPECT_NE(message.find("leaf[0:99]"), std::string::npos) << message;
  EXPECT_NE(message.find("end <= 4"), std::string::npos) << message;
  EXPECT_NE(error_of(with("attach: [root, leaf]", "attach: [root, \"leaf[2:2]\"]")), "");
  EXPECT_NE(error_of(with("attach: [root, leaf]", "attach: [root, \"leaf[-1:2]\"]")), "");
  EXPECT_NE(error_of(with("attach: [root, leaf]", "attach: [root, \"leaf[0:2x]\"]")), "");
  EXPECT_EQ(error_of(with("attach: [root, leaf]", "attach: [root, \"leaf[0:4]\"]")), "");
}

TEST(HwSpec, QuantitiesPastTheirSaneRangeAreRefused) {
  // 1e308 TB/s is refused by the quantity parser already; 1e4 TB/s is a quantity, but not a
  // link's bandwidth.
  EXPECT_NE(error_of(with("bandwidth: 10 GB/s, latency", "bandwidth: 1e308 TB/s, latency")), "");
  std::string message =
      error_of(with("bandwidth: 10 GB/s, latency", "bandwidth: 1e4 TB/s, latency"));
  EXPECT_NE(message.find("bandwidth"), std::string::npos) << message;
  EXPECT_NE(message.find("at most 1000 TB/s"), std::string::npos) << message;
  EXPECT_NE(error_of(with("clock: 1 GHz", "clock: 1e12 GHz")), "");
  EXPECT_NE(error_of(with("capacity: 1 GiB", "capacity: 1e30 GiB")), "");
  EXPECT_NE(error_of(with("hop_latency: 5 ns", "hop_latency: 5e9 s")), "");
  EXPECT_NE(error_of(with("fp16: 1 TFLOP/s", "fp16: 1e9 TFLOP/s")), "");
}

TEST(HwSpec, ChipletCountsSumWithoutOverflow) {
  EXPECT_NE(error_of(with("{name: leaf, kind: core, count: 4, role: expert}",
                          "{name: leaf, kind: core, count: 1048576, role: expert}")),
            "");
}

TEST(HwSpec, TreeExpandsToSwitchesAndLinks) {
  HwSpec hw = parse(kSmall);
  EXPECT_EQ(hw.chiplets.size(), 5u);
  EXPECT_EQ(hw.switches.size(), 2u);
  EXPECT_EQ(hw.links.size(), 6u);  // root-2 switches, 2 x 2 leaves
  EXPECT_EQ(hw.node_name(hw.links[2].a), "sw1_0");
  EXPECT_EQ(hw.node_name(hw.links[2].b), "leaf0");
  EXPECT_TRUE(hw.switches[0].multicast);
  EXPECT_DOUBLE_EQ(hw.links[0].spec.bytes_per_s, 10e9);
  EXPECT_EQ(hw.chiplets_with_role(Role::expert).size(), 4u);
}

TEST(HwSpec, EveryPresetLoadsAndChecks) {
  for (const std::string& name : preset_names()) {
    HwSpec hw = *find_preset(name);
    EXPECT_NO_THROW(check(hw, name)) << name;
    EXPECT_EQ(hw.name, name);
  }
}

TEST(HwSpec, MozartNopTreeHasThePapersStructure) {
  HwSpec hw = *find_preset("mozart-nop-tree-ucie");
  EXPECT_EQ(hw.chiplets_with_role(Role::attention).size(), 1u);
  EXPECT_EQ(hw.chiplets_with_role(Role::expert).size(), 16u);
  EXPECT_EQ(hw.switches.size(), 4u);
  EXPECT_EQ(hw.memories.size(), 6u);
  for (const Switch& s : hw.switches) {
    EXPECT_TRUE(s.multicast && s.aggregate);
  }
  double expert_hbm = 0;
  for (const MemoryStack& m : hw.memories) {
    EXPECT_DOUBLE_EQ(m.bytes_per_s, 256e9);
    if (hw.chiplets[m.chiplets.front()].role == Role::expert) {
      EXPECT_EQ(m.chiplets.size(), 4u);
      expert_hbm += 1;
    }
  }
  EXPECT_EQ(expert_hbm, 4);
  EXPECT_DOUBLE_EQ(hw.clock_hz, 1e9);
}

TEST(HwSpec, MeshesCarryCoordinatesAndTheRightLinkCount) {
  HwSpec wafer = *find_preset("wsc-mesh-8x8");
  EXPECT_EQ(wafer.links.size(), 2u * 8 * 7);
  EXPECT_EQ(wafer.chiplets[9].coord->x, 1);
  EXPECT_EQ(wafer.chiplets[9].coord->y, 1);
  EXPECT_EQ(wafer.memories.size(), 64u);
  std::string torus = R"(
name: t
clock: 1 GHz
chiplet_kinds: {c: {peak_flops: {bf16: 1 TFLOP/s}, array: {rows: 1, cols: 1, count: 1}, sram: {capacity: 1 MB, bandwidth: 1 GB/s}}}
chiplets: [{name: n, kind: c, count: 12, holds_weights: false}]
topology: {kind: torus, rows: 3, cols: 4, nodes: n, link: {bandwidth: 1 GB/s}}
)";
  EXPECT_EQ(parse(torus).links.size(), 2u * 12);
}

TEST(HwSpec, ClusterHasNodeSwitchesAndAFabric) {
  HwSpec dgx = *find_preset("dgx-h100");
  EXPECT_EQ(dgx.chiplets.size(), 64u);
  EXPECT_EQ(dgx.switches.size(), 9u);
  int inter = 0;
  for (const Link& l : dgx.links)
    inter += l.label == "inter_node" ? 1 : 0;
  EXPECT_EQ(inter, 64);
}

TEST(HwSpec, BadInputIsNamed) {
  struct Case {
    std::string yaml;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {with("fanouts: [2, 2]", "fanout: [2, 2]"), "unknown key 'fanout'"},
      {with("bandwidth: 10 GB/s, latency", "bandwidth: 0 GB/s, latency"),
       "topology.link.bandwidth"},
      {with("capacity: 1 GiB", "capacity: -1 GiB"), "memories[0].capacity"},
      {with("kind: core, count: 4", "kind: cpu, count: 4"), "chiplet_kinds"},
      {with("fanouts: [2, 2]", "fanouts: [2, 3]"), "product equals the number of leaves (4)"},
      {with("attach: [root, leaf]", "attach: [root]"), "no stack attached to leaf0"},
      {with("attach: [root, leaf]", "attach: [root, leef]"), "a chiplet, a group"},
      {with("attach: [root, leaf]", "attach: []"), "at least one chiplet, group, switch"},
      {with("switch: {", "switch: {ports: 2, "), "at least its 3 links"},
      {with("kind: tree", "kind: ring"), "tree, mesh, torus, star, cluster, explicit"},
      {with("clock: 1 GHz", "clock: 1 GB"), "field 'clock'"},
      {with("name: small", "name: [small"), "malformed"},
  };
  for (const Case& c : cases) {
    std::string message = error_of(c.yaml);
    EXPECT_NE(message.find(c.expect), std::string::npos)
        << "expected '" << c.expect << "' in: " << message;
  }
}

TEST(HwSpec, DisconnectedTopologyIsRejected) {
  std::string yaml = R"(
name: split
clock: 1 GHz
chiplet_kinds: {c: {peak_flops: {bf16: 1 TFLOP/s}, array: {rows: 1, cols: 1, count: 1}, sram: {capacity: 1 MB, bandwidth: 1 GB/s}}}
chiplets: [{name: n, kind: c, count: 4, holds_weights: false}]
topology:
  kind: explicit
  link: {bandwidth: 1 GB/s}
  links: [{a: n0, b: n1}, {a: n2, b: n3}]
)";
  std::string message = error_of(yaml);
  EXPECT_NE(message.find("n2 unreachable from n0"), std::string::npos) << message;
  EXPECT_NE(message.find("connected"), std::string::npos) << message;
}

TEST(HwSpec, ParallelLinksAreKeptAndSelfLinksRejected) {
  std::string base = R"(
name: dup
clock: 1 GHz
chiplet_kinds: {c: {peak_flops: {bf16: 1 TFLOP/s}, array: {rows: 1, cols: 1, count: 1}, sram: {capacity: 1 MB, bandwidth: 1 GB/s}}}
chiplets: [{name: n, kind: c, count: 2, holds_weights: false}]
topology:
  kind: explicit
  link: {bandwidth: 1 GB/s}
)";
  const HwSpec two =
      read_hw(core::ConfigNode::parse(base + "  links: [{a: n0, b: n1}, {a: n1, b: n0}]\n", "dup"));
  EXPECT_EQ(two.links.size(), 2u);  // parallel links between one pair
  EXPECT_NE(error_of(base + "  links: [{a: n0, b: n0}, {a: n0, b: n1}]\n").find("two different"),
            std::string::npos);
  EXPECT_NE(error_of(base + "  links: [{a: n0, b: n9}]\n").find("chiplet or switch"),
            std::string::npos);
}

// A spec's head with two chiplet kinds: `c`, and `second` with the endpoint entry given.
std::string two_kinds(const std::string& second, const std::string& endpoint) {
  const std::string kind =
      "{peak_flops: {bf16: 1 TFLOP/s}, array: {rows: 1, cols: 1, count: 1}, "
      "sram: {capacity: 1 MB, bandwidth: 1 GB/s}";
  return "\nname: t\nclock: 1 GHz\nchiplet_kinds:\n  c: " + kind + "}\n  " + second + ": " + kind +
         ", endpoint: " + endpoint + "}\n";
}

TEST(HwSpec, EndpointsEfficiencyAndTreeBuilders) {
  const std::string kinds = two_kinds("wide", "{bandwidth: 8 GB/s}");
  const HwSpec tree = read_hw(core::ConfigNode::parse(kinds + R"(
chiplets: [{name: n, kind: c, count: 8, holds_weights: false}]
topology: {kind: tree, fanouts: [2, 4], parallel: [2, 3], leaves: n, link: {bandwidth: 1 GB/s},
           endpoint: {bandwidth: 2 GB/s}, efficiency: {link: 0.5, switch: 0.25}}
)",
                                                      "t"));
  EXPECT_EQ(tree.switches.size(), 2u + 2u * 3u);  // two roots; two positions of three
  EXPECT_EQ(tree.switches[0].name, "root.0");
  EXPECT_EQ(tree.switches[2].name, "sw1_0.0");
  EXPECT_EQ(tree.links.size(), 2u * 3u * 2u + 8u * 3u);  // every switch to all above it
  EXPECT_DOUBLE_EQ(tree.chiplets[0].endpoint.injection_bytes_per_s, 2e9);
  EXPECT_DOUBLE_EQ(tree.chiplets[0].endpoint.ejection_bytes_per_s, 2e9);
  const HwSpec pair = read_hw(core::ConfigNode::parse(kinds + R"(
chiplets: [{name: a, kind: c, holds_weights: false}, {name: b, kind: wide, holds_weights: false}]
topology: {kind: explicit, links: [{a: a, b: b, bandwidth: 1 GB/s}], endpoint: {bandwidth: 2 GB/s}}
)",
                                                      "t"));
  EXPECT_DOUBLE_EQ(pair.chiplets[0].endpoint.injection_bytes_per_s, 2e9);
  EXPECT_DOUBLE_EQ(pair.chiplets[1].endpoint.injection_bytes_per_s, 8e9);  // its kind's own
  EXPECT_DOUBLE_EQ(pair.chiplets[1].endpoint.ejection_bytes_per_s, 8e9);
  EXPECT_DOUBLE_EQ(tree.topology.efficiency.link, 0.5);
  EXPECT_DOUBLE_EQ(tree.topology.efficiency.endpoint, 1);
  EXPECT_DOUBLE_EQ(tree.topology.efficiency.switch_traversal, 0.25);
  const HwSpec ft = read_hw(core::ConfigNode::parse(kinds + R"(
chiplets: [{name: n, kind: c, count: 8, holds_weights: false}]
topology: {kind: fat_tree, k: 2, n: 3, nodes: n, link: {bandwidth: 1 GB/s}}
)",
                                                    "t"));
  EXPECT_EQ(ft.switches.size(), 12u);
  EXPECT_EQ(ft.links.size(), 8u + 2u * 8u);
  EXPECT_NE(error_of(kinds + R"(
chiplets: [{name: n, kind: c, count: 6, holds_weights: false}]
topology: {kind: fat_tree, k: 2, n: 3, nodes: n, link: {bandwidth: 1 GB/s}}
)")
                .find("k^n = 8"),
            std::string::npos);
  EXPECT_NE(error_of(kinds + R"(
chiplets: [{name: n, kind: c, count: 8, holds_weights: false}]
topology: {kind: tree, fanouts: [2, 4], parallel: [1], leaves: n, link: {bandwidth: 1 GB/s}}
)")
                .find("one count per level"),
            std::string::npos);
  EXPECT_NE(error_of(kinds + R"(
chiplets: [{name: n, kind: c, count: 8, holds_weights: false}]
topology: {kind: tree, fanouts: [2, 4], leaves: n, link: {bandwidth: 1 GB/s}, efficiency: {link: 2}}
)")
                .find("(0, 1]"),
            std::string::npos);
}

TEST(HwSpec, EndpointPortsPerDirection) {
  const std::string head =
      two_kinds("in", "{injection: 8 GB/s}") +
      "chiplets: [{name: a, kind: c, holds_weights: false}, {name: b, kind: in, holds_weights: "
      "false}]\n";
  auto pair = [&](const std::string& endpoint) {
    return head + "topology: {kind: explicit, links: [{a: a, b: b, bandwidth: 1 GB/s}]" + endpoint +
           "}\n";
  };
  const HwSpec hw = read_hw(
      core::ConfigNode::parse(pair(", endpoint: {bandwidth: 2 GB/s, ejection: 3 GB/s}"), "t"));
  EXPECT_DOUBLE_EQ(hw.chiplets[0].endpoint.injection_bytes_per_s, 2e9);
  EXPECT_DOUBLE_EQ(hw.chiplets[0].endpoint.ejection_bytes_per_s, 3e9);
  // The kind gives its injection; its ejection comes from the topology.
  EXPECT_DOUBLE_EQ(hw.chiplets[1].endpoint.injection_bytes_per_s, 8e9);
  EXPECT_DOUBLE_EQ(hw.chiplets[1].endpoint.ejection_bytes_per_s, 3e9);
  const HwSpec one = read_hw(core::ConfigNode::parse(pair(""), "t"));
  EXPECT_FALSE(one.chiplets[0].endpoint.any());
  EXPECT_DOUBLE_EQ(one.chiplets[1].endpoint.ejection_bytes_per_s, 0);  // none that way
  EXPECT_TRUE(one.chiplets[1].endpoint.any());
  const std::string empty = error_of(pair(", endpoint: {}"));
  EXPECT_NE(empty.find("topology.endpoint"), std::string::npos) << empty;
  EXPECT_NE(empty.find("injection and/or ejection"), std::string::npos) << empty;
  const std::string unknown = error_of(pair(", endpoint: {inject: 1 GB/s}"));
  EXPECT_NE(unknown.find("inject"), std::string::npos) << unknown;
  const std::string negative = error_of(pair(", endpoint: {ejection: -1 GB/s}"));
  EXPECT_NE(negative.find("ejection"), std::string::npos) << negative;
  const std::string huge = error_of(pair(", endpoint: {injection: 1e30 B/s}"));
  EXPECT_NE(huge.find("topology.endpoint.injection"), std::string::npos) << huge;
  const std::string insane = error_of(pair(", endpoint: {injection: 1e17 B/s}"));  // > 1 PB/s
  EXPECT_NE(insane.find("a.endpoint.injection"), std::string::npos) << insane;
}

// Stacks behind switches: the small tree's switches are sw1_0 (leaf0, leaf1) and sw1_1.
std::string networked_memories(const std::string& memories) {
  return with(
      "  - {name: mem, kind: hbm, capacity: 1 GiB, bandwidth: 10 GB/s, attach: [root, leaf]}",
      memories);
}

TEST(HwSpec, AStackBehindASwitchServesTheChipletsNearestIt) {
  HwSpec hw = parse(networked_memories(
      "  - {name: own, kind: hbm, capacity: 1 GiB, bandwidth: 10 GB/s, attach: [root]}\n"
      "  - {name: g0, kind: hbm, capacity: 1 GiB, bandwidth: 10 GB/s, attach: [sw1_0]}\n"
      "  - {name: g1, kind: hbm, capacity: 1 GiB, bandwidth: 10 GB/s, attach: [sw1_1]}"));
  ASSERT_EQ(hw.memories.size(), 3u);
  EXPECT_FALSE(hw.memories[0].networked());
  EXPECT_EQ(hw.memories[0].chiplets, std::vector<int>{0});
  ASSERT_TRUE(hw.memories[1].networked());
  EXPECT_EQ(hw.node_name(hw.memories[1].node), "sw1_0");
  EXPECT_EQ(hw.memories[1].chiplets, (std::vector<int>{1, 2}));
  EXPECT_EQ(hw.memories[2].chiplets, (std::vector<int>{3, 4}));
  EXPECT_FALSE(hw.memories[1].port.has_value());
}

TEST(HwSpec, AStackMayHaveItsOwnPortAndNameWhomItServes) {
  HwSpec hw = parse(networked_memories(
      "  - {name: own, kind: hbm, capacity: 1 GiB, bandwidth: 10 GB/s, attach: [root]}\n"
      "  - {name: far, kind: hbm, capacity: 1 GiB, bandwidth: 10 GB/s, serves: [leaf],\n"
      "     attach: [{node: sw1_1, port: {bandwidth: 4 GB/s, latency: 2 ns}}]}"));
  const MemoryStack& far = hw.memories[1];
  EXPECT_EQ(hw.node_name(far.node), "sw1_1");
  ASSERT_TRUE(far.port.has_value());
  EXPECT_DOUBLE_EQ(far.port->bytes_per_s, 4e9);
  EXPECT_EQ(far.chiplets, (std::vector<int>{1, 2, 3, 4}));
}

TEST(HwSpec, BadMemoryAttachmentsAreNamed) {
  const std::string own =
      "  - {name: own, kind: hbm, capacity: 1 GiB, bandwidth: 10 GB/s, attach: [root]}\n";
  // A node that does not exist.
  EXPECT_NE(
      error_of(
          networked_memories(
              own + "  - {name: g, kind: hbm, capacity: 1 GiB, bandwidth: 1 GB/s, attach: [sw9]}"))
          .find("sw9"),
      std::string::npos);
  EXPECT_NE(error_of(networked_memories(
                         own + "  - {name: g, kind: hbm, capacity: 1 GiB, bandwidth: 1 GB/s, "
                               "attach: [{node: nowhere}]}"))
                .find("nowhere"),
            std::string::npos);
  // A stack nobody reaches: every leaf is nearer another stack.
  const std::string unreachable = error_of(networked_memories(
      own +
      "  - {name: g0, kind: hbm, capacity: 1 GiB, bandwidth: 1 GB/s, attach: [sw1_0]}\n"
      "  - {name: g1, kind: hbm, capacity: 1 GiB, bandwidth: 1 GB/s, attach: [sw1_1]}\n"
      "  - {name: g2, kind: hbm, capacity: 1 GiB, bandwidth: 1 GB/s, attach: [{node: root}]}"));
  EXPECT_NE(unreachable.find("memories.g2.attach"), std::string::npos) << unreachable;
  // A switch beside chiplets, and serves on a chiplet-attached stack.
  EXPECT_NE(error_of(networked_memories("  - {name: g, kind: hbm, capacity: 1 GiB, bandwidth: 1 "
                                        "GB/s, attach: [root, sw1_0]}"))
                .find("one network node"),
            std::string::npos);
  EXPECT_NE(error_of(networked_memories("  - {name: g, kind: hbm, capacity: 1 GiB, bandwidth: 1 "
                                        "GB/s, attach: [root, leaf], serves: [leaf]}"))
                .find("serves"),
            std::string::npos);
}

}  // namespace
}  // namespace mozart::hw
