#include "mozart/hw/cost.hpp"

#include <algorithm>
#include <stdexcept>

namespace mozart::hw {
namespace {

constexpr double kBytesPerMb = 1e6;
constexpr double kBitsPerByte = 8;

double at(const std::vector<double>& values, size_t i) {
  return i < values.size() ? values[i] : 0;
}

// Links meeting each node: each end of a link carries its PHY.
std::vector<int> links_per_node(const HwSpec& hw) {
  std::vector<int> count(hw.node_count(), 0);
  for (const Link& l : hw.links) {
    ++count[l.a];
    ++count[l.b];
  }
  return count;
}

// Both directions of a link, each as many wires as its bandwidth needs at the wire rate.
double link_phy_mm2(const LinkSpec& link, const Technology& tech) {
  const double wires_per_direction = link.bytes_per_s / tech.wire_bytes_per_s;
  return 2 * wires_per_direction * wire_phy_area_mm2(tech);
}

// PHY area at every node: the sum over the links meeting it.
std::vector<double> phy_mm2_per_node(const HwSpec& hw, const Technology& tech) {
  std::vector<double> phy(hw.node_count(), 0);
  for (const Link& l : hw.links) {
    const double a = link_phy_mm2(l.spec, tech);
    phy[l.a] += a;
    phy[l.b] += a;
  }
  return phy;
}

const Technology& technology_of(const HwSpec& hw) {
  if (!hw.technology)
    throw std::invalid_argument("hardware spec " + hw.name + " has no technology");
  return *hw.technology;
}

}  // namespace

double pe_count(const ChipletKind& kind) {
  return double(kind.array.rows) * kind.array.cols * kind.array.count;
}

double core_footprint_mm2(const ChipletKind& kind, const Technology& tech) {
  const double compute = pe_count(kind) * tech.pe_area_um2 * 1e-6;
  const double sram = kind.sram.bytes / kBytesPerMb * tech.sram_area_mm2_per_mb;
  return kind.sram.stacked_3d ? std::max(compute, sram) : compute + sram;
}

Area area(const HwSpec& hw) {
  const Technology& tech = technology_of(hw);
  const std::vector<double> phy = phy_mm2_per_node(hw, tech);
  Area a;
  for (const ChipletKind& k : hw.kinds) {
    KindArea ka;
    ka.kind = k.name;
    ka.compute_mm2 = pe_count(k) * tech.pe_area_um2 * 1e-6;
    ka.sram_mm2 = k.sram.bytes / kBytesPerMb * tech.sram_area_mm2_per_mb;
    ka.footprint_mm2 = core_footprint_mm2(k, tech);
    a.kinds.push_back(ka);
  }
  for (size_t c = 0; c < hw.chiplets.size(); ++c) {
    KindArea& ka = a.kinds[hw.chiplets[c].kind];
    ++ka.chiplets;
    ka.phy_mm2 += phy[c];
    a.sram_mb += hw.kinds[hw.chiplets[c].kind].sram.bytes / kBytesPerMb;
  }
  for (KindArea& ka : a.kinds) {
    ka.silicon_mm2 = ka.chiplets * (ka.compute_mm2 + ka.sram_mm2) + ka.phy_mm2;
    a.chiplets_mm2 += ka.silicon_mm2;
    a.logic_mm2 += ka.chiplets * ka.compute_mm2 + ka.phy_mm2;
  }
  const std::vector<int> ports = links_per_node(hw);
  for (size_t s = 0; s < hw.switches.size(); ++s) {
    const int node = int(hw.chiplets.size() + s);
    a.switches_mm2 += ports[node] * tech.switch_port_area_mm2 + phy[node];
  }
  a.logic_mm2 += a.switches_mm2;
  for (const MemoryStack& m : hw.memories) {
    if (m.kind == MemoryKind::hbm)
      a.memory_mm2 += tech.hbm_package_area_mm2;
  }
  a.total_mm2 = a.chiplets_mm2 + a.switches_mm2 + a.memory_mm2;
  return a;
}

Rates peak_rates(const HwSpec& hw) {
  Rates r;
  for (const Chiplet& c : hw.chiplets) {
    const ChipletKind& k = hw.kinds[c.kind];
    r.chiplet_flops.push_back(k.peak_flops_per_s.front().second);
    r.chiplet_sram_bytes.push_back(k.sram.bytes_per_s);
  }
  for (const MemoryStack& m : hw.memories)
    r.memory_bytes.push_back(m.bytes_per_s);
  for (const Link& l : hw.links)
    r.link_bytes.push_back(2 * l.spec.bytes_per_s);
  return r;
}

Power power(const HwSpec& hw, const Rates& rates) {
  Power p;
  for (size_t c = 0; c < hw.chiplets.size(); ++c) {
    const ChipletKind& k = hw.kinds[hw.chiplets[c].kind];
    p.compute_w += k.energy_per_flop_j * at(rates.chiplet_flops, c);
    p.sram_w += k.sram.energy_per_bit_j * kBitsPerByte * at(rates.chiplet_sram_bytes, c);
  }
  for (size_t m = 0; m < hw.memories.size(); ++m) {
    p.memory_w += hw.memories[m].energy_per_bit_j * kBitsPerByte * at(rates.memory_bytes, m);
  }
  for (size_t l = 0; l < hw.links.size(); ++l) {
    p.link_w += hw.links[l].spec.energy_per_bit_j * kBitsPerByte * at(rates.link_bytes, l);
  }
  p.dynamic_w = p.compute_w + p.sram_w + p.memory_w + p.link_w;
  if (hw.technology) {
    const Area a = area(hw);
    p.logic_leakage_w = a.logic_mm2 * hw.technology->logic_leakage_w_per_mm2;
    p.sram_leakage_w = a.sram_mb * hw.technology->sram_leakage_w_per_mb;
  }
  p.static_w = p.logic_leakage_w + p.sram_leakage_w;
  p.total_w = p.dynamic_w + p.static_w;
  return p;
}

double static_power_w(const HwSpec& hw) {
  return power(hw, Rates{}).static_w;
}

}  // namespace mozart::hw
