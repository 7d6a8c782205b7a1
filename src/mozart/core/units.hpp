// Physical quantities as they appear in configs ("256 GB/s", "8 GiB", "20 ns") and data types.
//
// Everything inside mozart is in SI base units held in doubles whose names carry the unit
// (bytes, seconds, bytes_per_s, flops_per_s, joules); this header converts at the boundary.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mozart::core {

enum class Dimension { bytes, bytes_per_s, flops_per_s, seconds, hertz, joules, count };

// Parses "<number> [unit]"; a bare number is taken in the base unit. Returns nullopt when the
// text is not a number, the unit does not belong to the dimension, or the value (in base units)
// is not finite or lies outside the dimension's sane range (max_quantity): a typo such as
// "1e308 TB/s" stops at the boundary instead of overflowing a simulation later.
std::optional<double> parse_quantity(std::string_view text, Dimension dimension);

// The largest magnitude parse_quantity accepts, in base units, with room for the arithmetic
// done on it (sums over thousands of links or steps stay far below a double's 1.8e308):
//   bytes 2^60 (1 EiB), bytes/s 1e18 (1 EB/s), FLOP/s 1e21, seconds 1e9 (~32 years),
//   hertz 1e12, joules 1e9, plain counts 2^53 (exact in a double).
double max_quantity(Dimension dimension);

// "at most 2^60 B (1048576 TiB)": the sane range, for error messages.
std::string range_of(Dimension dimension);

// The units accepted for a dimension, for error messages ("B, KB, ..., GiB").
std::string units_of(Dimension dimension);

// Human-readable, e.g. format_quantity(2.56e11, Dimension::bytes_per_s) == "256 GB/s".
std::string format_quantity(double value, Dimension dimension);

// Byte sizes are written in one of two systems: decimal (KB, MB, GB, TB) or binary (KiB, MiB,
// GiB, TiB).
enum class ByteUnits { decimal, binary };

// The system format_quantity writes `bytes` in: binary when a binary unit gives a whole number
// and the decimal one does not ("24 GiB"), decimal otherwise ("80 GB", "3.62 GB").
ByteUnits byte_units_of(double bytes);

// `bytes` in the largest unit of `units` not above it ("B" below the smallest), e.g.
// format_bytes(3.62388e9, ByteUnits::binary) == "3.375 GiB". A message about a capacity writes
// all its sizes in the capacity's system (byte_units_of), so that the capacity reads as the
// spec gives it and every other size compares with it at a glance.
std::string format_bytes(double bytes, ByteUnits units);

enum class DataType { fp32, bf16, fp16, fp8 };

double bytes_per_element(DataType type);
std::string_view to_string(DataType type);
std::optional<DataType> parse_data_type(std::string_view text);

}  // namespace mozart::core
