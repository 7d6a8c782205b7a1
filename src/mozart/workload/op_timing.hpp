// How long the cost model's ops take on a chiplet kind.
//
// GEMMs go through the systolic-array model (hw/compute.hpp). Attention's fused core, the
// element-wise ops and the optimizer run at the kind's peak or at its SRAM bandwidth, whichever
// is slower: they stream their operands through SRAM once.
#pragma once

#include <span>

#include "mozart/hw/spec.hpp"
#include "mozart/model/cost.hpp"

namespace mozart::workload {

double op_seconds(const model::OpCost& op, const hw::ChipletKind& kind, core::DataType type);

struct OpSum {
  double seconds = 0;
  double flops = 0;
  double sram_bytes = 0;  // operands read and written
  double weight_bytes = 0;
  double input_bytes = 0;

  OpSum& operator+=(const OpSum& other);
};

OpSum time_ops(std::span<const model::OpCost> ops, const hw::ChipletKind& kind,
               core::DataType type);

}  // namespace mozart::workload
