// The technology a hardware spec is built in: what one PE, one MB of SRAM, one die-to-die wire,
// one switch port and one memory package take in area, and what logic and SRAM leak. cost.hpp
// turns a spec into area and power with these. The 28 nm figures come from public sources or a
// written derivation; docs/hardware.md gives each one's source.
#pragma once

#include <optional>
#include <string>

namespace mozart::hw {

struct Technology {
  std::string node;
  double pe_area_um2 = 0;              // one FP16 multiply-add PE with its share of the array
  double sram_area_mm2_per_mb = 0;     // SRAM macro area (bitcells and periphery), 1 MB = 1e6 B
  double sram_leakage_w_per_mb = 0;    // static power of 1 MB of SRAM
  double logic_leakage_w_per_mm2 = 0;  // static power of 1 mm2 of logic (PEs, PHYs, switches)
  double wire_pitch_um = 0;            // die-to-die bump pitch; one wire per bump
  double wire_bytes_per_s = 0;         // one wire's rate, per direction
  double switch_port_area_mm2 = 0;     // one switch port's buffers and adders, beside its PHY
  double hbm_package_area_mm2 = 0;     // footprint of one HBM stack (known-good stacked die)
};

// The 28 nm parameters (docs/hardware.md, "Technology").
Technology technology_28nm();

// The parameters of a named node ("28nm"); nullopt for a node without defaults.
std::optional<Technology> technology_for_node(const std::string& node);

// The nodes technology_for_node knows, for error messages.
std::string known_nodes();

// Area of one die-to-die wire's PHY: the bump cell at the pitch, its driver beneath.
double wire_phy_area_mm2(const Technology& tech);

// Wires along an edge of the given length at the technology's pitch (one row).
int wires_along_mm(const Technology& tech, double edge_mm);

}  // namespace mozart::hw
