#include "mozart/workload/op_timing.hpp"

#include <algorithm>

#include "mozart/hw/compute.hpp"

namespace mozart::workload {

double op_seconds(const model::OpCost& op, const hw::ChipletKind& kind, core::DataType type) {
  if (op.kind == model::OpKind::gemm && op.gemm)
    return hw::gemm_seconds(kind, type, op.gemm->m, op.gemm->k, op.gemm->n);
  const double at_peak = op.flops / kind.peak(type);
  const double at_sram = kind.sram.bytes_per_s > 0 ? op.bytes() / kind.sram.bytes_per_s : 0;
  return std::max(at_peak, at_sram);
}

OpSum& OpSum::operator+=(const OpSum& o) {
  seconds += o.seconds;
  flops += o.flops;
  sram_bytes += o.sram_bytes;
  weight_bytes += o.weight_bytes;
  input_bytes += o.input_bytes;
  return *this;
}

OpSum time_ops(std::span<const model::OpCost> ops, const hw::ChipletKind& kind,
               core::DataType type) {
  OpSum sum;
  for (const model::OpCost& op : ops) {
    sum.seconds += op_seconds(op, kind, type);
    sum.flops += op.flops;
    sum.sram_bytes += op.bytes();
    sum.weight_bytes += op.weight_bytes;
    sum.input_bytes += op.input_bytes;
  }
  return sum;
}

}  // namespace mozart::workload
