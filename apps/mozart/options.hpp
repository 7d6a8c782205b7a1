// Validators every command's options share: numbers are checked as text, before CLI11
// converts them, because CLI11 wraps "-1" into 18446744073709551615 for an unsigned option and
// lets "nan" through a Range.
#pragma once

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::cli {

inline constexpr std::uint64_t kMaxU64 = std::numeric_limits<std::uint64_t>::max();
// Sequences, sequence length, micro-batches: 2^20 each is beyond any real step.
inline constexpr std::uint64_t kMaxBatchDimension = std::uint64_t{1} << 20;
// A token index or count of a trace: 2^40, far above what fits in memory.
inline constexpr std::uint64_t kMaxTraceTokens = std::uint64_t{1} << 40;

// A whole number in [min, max], written in decimal digits only (no sign, no exponent).
inline CLI::Validator whole(std::uint64_t min, std::uint64_t max = kMaxU64) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        std::uint64_t value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, ec] = std::from_chars(text.data(), end, value);
        if (text.empty() || ec != std::errc() || stop != end || value < min || value > max)
          return fmt::format("got '{}', expected a whole number in [{}, {}]",
                             core::quote_user_text(text), min, max);
        return {};
      },
      fmt::format("INT in [{} - {}]", min, max));
}

// A finite number in [min, max], or (min, max] when open_min.
inline CLI::Validator finite(double min, double max, bool open_min = false) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double value = 0;
        const char* end = text.data() + text.size();
        const auto [stop, ec] = std::from_chars(text.data(), end, value);
        const bool below = open_min ? value <= min : value < min;
        if (text.empty() || ec != std::errc() || stop != end || !std::isfinite(value) || below ||
            value > max)
          return fmt::format("got '{}', expected a finite number in {}{:g}, {:g}]",
                             core::quote_user_text(text), open_min ? "(" : "[", min, max);
        return {};
      },
      fmt::format("FLOAT in {}{:g} - {:g}]", open_min ? "(" : "[", min, max));
}

// A name: not empty, no control characters ("--domains ''" names nothing).
inline CLI::Validator name_text() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const bool control = std::any_of(text.begin(), text.end(),
                                         [](unsigned char c) { return c < 0x20 || c == 0x7f; });
        if (text.empty() || control)
          return fmt::format("got '{}', expected a non-empty name", core::quote_user_text(text));
        return {};
      },
      "NAME");
}

}  // namespace mozart::cli
