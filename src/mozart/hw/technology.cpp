#include "mozart/hw/technology.hpp"

#include <cmath>

namespace mozart::hw {
namespace {

// Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014: at 45 nm
// an FP16 adder takes 1,360 um2 and an FP16 multiplier 1,640 um2.
constexpr double kFp16MacUm2At45nm = 1360 + 1640;
// Ideal area scaling from 45 to 28 nm.
constexpr double kScale45To28 = (28.0 / 45.0) * (28.0 / 45.0);
// Chosen: a systolic PE adds operand, weight and partial-sum registers and local wiring to its
// multiply-add; 20% of the MAC's area.
constexpr double kArrayOverhead = 1.2;

// TSMC's 28 nm high-density 6T bitcell: 0.127 um2 (VLSI Symposium 2009).
constexpr double kBitcellUm2 = 0.127;
// Chosen: large compiled SRAM macros spend about 70% of their area on bitcells.
constexpr double kSramArrayEfficiency = 0.7;
constexpr double kBitsPerMb = 8e6;

// Chosen: 50 pA per bitcell at 0.9 V, the order of a 28 nm high-density cell at the typical
// corner.
constexpr double kBitcellLeakageW = 50e-12 * 0.9;

// TSMC reports a raw 28 nm gate density of 3,900 kgates/mm2 (VLSI Symposium 2009); placed and
// routed logic reaches about half of it. Chosen: 10 nW per gate at the typical corner.
constexpr double kGatesPerMm2 = 3900e3 / 2;
constexpr double kGateLeakageW = 10e-9;

// Chosen: a 64 KB input buffer (0.09 mm2 at the SRAM density above), FP16 adder lanes for
// in-network aggregation at the port's width and the crossbar's share, rounded up.
constexpr double kSwitchPortMm2 = 0.25;

// JEDEC HBM2 known-good stacked die outline: 7.75 mm x 11.87 mm.
constexpr double kHbm2PackageMm2 = 7.75 * 11.87;

}  // namespace

Technology technology_28nm() {
  Technology t;
  t.node = "28nm";
  t.pe_area_um2 = kFp16MacUm2At45nm * kScale45To28 * kArrayOverhead;
  t.sram_area_mm2_per_mb = kBitsPerMb * kBitcellUm2 * 1e-6 / kSramArrayEfficiency;
  t.sram_leakage_w_per_mb = kBitsPerMb * kBitcellLeakageW;
  t.logic_leakage_w_per_mm2 = kGatesPerMm2 * kGateLeakageW;
  t.wire_pitch_um = 50;          // the paper: 50 um pitch
  t.wire_bytes_per_s = 0.125e9;  // the paper: 0.125 GB/s per wire (one bit per cycle at 1 GHz)
  t.switch_port_area_mm2 = kSwitchPortMm2;
  t.hbm_package_area_mm2 = kHbm2PackageMm2;
  return t;
}

std::optional<Technology> technology_for_node(const std::string& node) {
  if (node == "28nm")
    return technology_28nm();
  return std::nullopt;
}

std::string known_nodes() {
  return "28nm";
}

double wire_phy_area_mm2(const Technology& tech) {
  const double pitch_mm = tech.wire_pitch_um * 1e-3;
  return pitch_mm * pitch_mm;
}

int wires_along_mm(const Technology& tech, double edge_mm) {
  // The small epsilon keeps an edge of exactly n pitches from losing a wire to rounding.
  return static_cast<int>(std::floor(edge_mm * 1e3 / tech.wire_pitch_um + 1e-9));
}

}  // namespace mozart::hw
