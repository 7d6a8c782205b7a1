// Area and power of a hardware spec in its technology (HwSpec::technology).
//
// Area: a chiplet's compute die holds its PEs (rows x cols x count of its arrays) and the PHYs
// of its links; its SRAM is a die of its own under the compute die when stacked_3d (else on the
// same die). Silicon is the sum of those; the footprint of a 3D-stacked chiplet is the larger
// of its dies. A switch is its ports' logic plus their PHYs; an HBM stack is its package
// footprint (DRAM and SSD sit off the package: no area).
//
// Power: static = logic leakage x logic area (PEs, PHYs, switches) + SRAM leakage x SRAM MB;
// dynamic = energy per FLOP x FLOP/s + energy per bit x bits/s of SRAM, memory and links, with
// the energies of the spec, at the rates given (the peak, or a simulated step's).
#pragma once

#include <string>
#include <vector>

#include "mozart/hw/spec.hpp"

namespace mozart::hw {

struct KindArea {
  std::string kind;
  int chiplets = 0;          // chiplets of this kind
  double compute_mm2 = 0;    // PEs of one chiplet
  double sram_mm2 = 0;       // SRAM of one chiplet
  double phy_mm2 = 0;        // link PHYs of all chiplets of the kind together
  double footprint_mm2 = 0;  // one chiplet's core: max(compute, SRAM) when 3D, else their sum
  double silicon_mm2 = 0;    // all chiplets of the kind: chiplets x (compute + SRAM) + PHYs
};

struct Area {
  std::vector<KindArea> kinds;
  double chiplets_mm2 = 0;  // silicon of all chiplets
  double switches_mm2 = 0;  // port logic and PHYs of all switches
  double memory_mm2 = 0;    // HBM packages
  double total_mm2 = 0;     // chiplets + switches + memory
  double logic_mm2 = 0;     // what leaks as logic: PEs, PHYs, switches
  double sram_mb = 0;       // SRAM of all chiplets, 1 MB = 1e6 B
};

// What flows each second; an empty vector counts as zeros.
struct Rates {
  std::vector<double> chiplet_flops;       // per chiplet
  std::vector<double> chiplet_sram_bytes;  // per chiplet, reads and writes
  std::vector<double> memory_bytes;        // per memory stack
  std::vector<double> link_bytes;          // per link, both directions together
};

struct Power {
  double compute_w = 0;  // dynamic
  double sram_w = 0;
  double memory_w = 0;
  double link_w = 0;
  double dynamic_w = 0;
  double logic_leakage_w = 0;  // static
  double sram_leakage_w = 0;
  double static_w = 0;
  double total_w = 0;
};

// PEs of one chiplet of a kind.
double pe_count(const ChipletKind& kind);

// The core footprint (PEs and SRAM, no PHYs) of one chiplet of `kind`, in mm2.
double core_footprint_mm2(const ChipletKind& kind, const Technology& tech);

// Requires hw.technology.
Area area(const HwSpec& hw);

// Every chiplet at the peak of its first data type, every SRAM, memory and link (both
// directions) at its bandwidth.
Rates peak_rates(const HwSpec& hw);

// Static power is 0 without a technology; dynamic power needs none.
Power power(const HwSpec& hw, const Rates& rates);

// Leakage of the whole system, in W; 0 when the spec has no technology. A step's energy adds
// this times its duration, so a faster step spends less.
double static_power_w(const HwSpec& hw);

}  // namespace mozart::hw
