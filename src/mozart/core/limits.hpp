// Limits that more than one module enforces, kept in one place so that a model, a trace and a
// placement agree on what they accept.
#pragma once

namespace mozart::core {

// Routed experts of one MoE layer: a trace stores an expert id in 16 bits.
inline constexpr int kMaxRoutedExperts = 65536;

}  // namespace mozart::core
