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
// text is not a number or the unit does not belong to the dimension.
std::optional<double> parse_quantity(std::string_view text, Dimension dimension);

// The units accepted for a dimension, for error messages ("B, KB, ..., GiB").
std::string units_of(Dimension dimension);

// Human-readable, e.g. format_quantity(2.56e11, Dimension::bytes_per_s) == "256 GB/s".
std::string format_quantity(double value, Dimension dimension);

enum class DataType { fp32, bf16, fp16, fp8 };

double bytes_per_element(DataType type);
std::string_view to_string(DataType type);
std::optional<DataType> parse_data_type(std::string_view text);

}  // namespace mozart::core
