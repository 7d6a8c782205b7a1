// How long a GEMM takes on a chiplet kind, given its systolic arrays.
//
// Output-stationary mapping: the (m x n) output is cut into rows x cols tiles; the kind's
// `count` arrays take tiles in waves, and each tile streams k operands through the array plus
// rows + cols - 2 cycles to fill and drain it. Utilisation is the useful share of the array
// cycles spent; the time is the FLOPs over peak, divided by that utilisation, so a kind whose
// peak is not exactly arrays x clock (a GPU) is still timed against its published peak.
#pragma once

#include <cstdint>

#include "mozart/hw/spec.hpp"

namespace mozart::hw {

// In (0, 1]; m may be fractional (an average load) and is rounded up to whole rows.
double gemm_utilisation(const ComputeArray& array, double m, int64_t k, int64_t n);

// Seconds for (m x k) * (k x n) on one chiplet of `kind` in `type`; 0 for an empty GEMM.
// The kind must support `type` (peak > 0).
double gemm_seconds(const ChipletKind& kind, core::DataType type, double m, int64_t k, int64_t n);

}  // namespace mozart::hw
