// The Mozart paper's hardware (its §5.1 and Table 2), and the derivation of what it leaves open:
// which chiplet configuration goes with which model, and how wide the links are.
//
// The paper gives each chiplet 36-100 tiles of 16 systolic arrays of 16x16 to 24x24 PEs, and
// 2.265 MB and 32 GB/s of SRAM per tile, but not which configuration each model used; it gives
// each system's total area (Table 2). The derivation takes, for a model, the configuration
// (every one of the 17 chiplets the same) whose system area -- 17 chiplets, 4 switches and 6 HBM2
// packages, by area() in the given technology -- is closest to that model's Table 2 area. Links
// then follow the chiplet's geometry: wires per direction = floor(edge / pitch), edge the side of
// the chiplet's square footprint, each wire at the technology's rate.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mozart/hw/spec.hpp"
#include "mozart/hw/technology.hpp"

namespace mozart::hw::paper {

// What the paper states.
inline constexpr int kArraysPerTile = 16;
inline constexpr double kSramBytesPerTile = 2.265e6;
inline constexpr double kSramBytesPerSPerTile = 32e9;
inline constexpr double kClockHz = 1e9;
inline constexpr int kExpertChiplets = 16;
inline constexpr int kSwitches = 4;
inline constexpr int kHbmStacks = 6;
inline constexpr int kMinArraySide = 16;
inline constexpr int kMaxArraySide = 24;
// Tiles per chiplet: the square grids from 6 x 6 to 10 x 10 span the paper's 36-100.
inline const std::vector<int> kTileChoices = {36, 49, 64, 81, 100};

// Table 2: total area (DRAM included) and typical power per model, for comparison only.
struct Table2 {
  std::string model;   // model preset name
  std::string preset;  // hardware preset name
  double area_mm2 = 0;
  double power_w = 0;
};
const std::vector<Table2>& table2();
std::optional<Table2> table2_for_preset(const std::string& preset);

struct ChipletConfig {
  int tiles = 0;
  int array_side = 0;
};

// A chiplet configuration and everything that follows from it.
struct Derived {
  ChipletConfig config;
  int arrays = 0;               // tiles x 16
  double peak_flops_per_s = 0;  // arrays x side^2 PEs x 2 FLOP x 1 GHz
  double sram_bytes = 0;        // tiles x 2.265 MB
  double sram_bytes_per_s = 0;  // tiles x 32 GB/s
  double footprint_mm2 = 0;     // core footprint of one chiplet (compute die over SRAM die)
  double edge_mm = 0;           // sqrt(footprint)
  int wires_per_direction = 0;  // floor(edge / pitch)
  double link_bytes_per_s = 0;  // wires x wire rate, per direction
  double system_area_mm2 = 0;   // area(paper_system(...)).total_mm2
};

Derived derive_config(const Technology& tech, ChipletConfig config);

// The system of one configuration: 1 attention + 16 expert chiplets of one kind, a tree of 4
// switches, 6 HBM2 stacks; enough for area() (energies are left at 0).
HwSpec paper_system(const Technology& tech, const Derived& derived);

// The configuration whose system area is closest to `target_area_mm2` (ties: fewer tiles, then
// the smaller array, so the choice is deterministic).
Derived derive_for_area(const Technology& tech, double target_area_mm2);

}  // namespace mozart::hw::paper
