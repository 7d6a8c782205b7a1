#include "mozart/core/units.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <vector>

#include <fmt/format.h>

namespace mozart::core {
namespace {

struct Unit {
  std::string_view symbol;
  double scale;
};

const std::vector<Unit>& table(Dimension dimension) {
  static const std::vector<Unit> bytes = {
      {"B", 1},           {"KB", 1e3},           {"MB", 1e6},
      {"GB", 1e9},        {"TB", 1e12},          {"KiB", 1024.0},
      {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}};
  static const std::vector<Unit> bandwidth = {
      {"B/s", 1}, {"KB/s", 1e3}, {"MB/s", 1e6}, {"GB/s", 1e9}, {"TB/s", 1e12}};
  static const std::vector<Unit> flops = {
      {"FLOP/s", 1}, {"GFLOP/s", 1e9}, {"TFLOP/s", 1e12}, {"PFLOP/s", 1e15}};
  static const std::vector<Unit> seconds = {
      {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}, {"ps", 1e-12}};
  static const std::vector<Unit> hertz = {{"Hz", 1}, {"kHz", 1e3}, {"MHz", 1e6}, {"GHz", 1e9}};
  static const std::vector<Unit> joules = {{"J", 1}, {"mJ", 1e-3}, {"nJ", 1e-9}, {"pJ", 1e-12}};
  static const std::vector<Unit> count = {{"", 1}};
  switch (dimension) {
    case Dimension::bytes:
      return bytes;
    case Dimension::bytes_per_s:
      return bandwidth;
    case Dimension::flops_per_s:
      return flops;
    case Dimension::seconds:
      return seconds;
    case Dimension::hertz:
      return hertz;
    case Dimension::joules:
      return joules;
    case Dimension::count:
      return count;
  }
  return count;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

namespace {

// A dimension's sane range: the largest value and how messages word it.
struct SaneRange {
  double max;
  const char* words;
};

SaneRange sane_range(Dimension dimension) {
  switch (dimension) {
    case Dimension::bytes:
      return {1152921504606846976.0, "2^60 B (1048576 TiB)"};
    case Dimension::bytes_per_s:
      return {1e18, "1e18 B/s (1e6 TB/s)"};
    case Dimension::flops_per_s:
      return {1e21, "1e21 FLOP/s"};
    case Dimension::seconds:
      return {1e9, "1e9 s"};
    case Dimension::hertz:
      return {1e12, "1e12 Hz"};
    case Dimension::joules:
      return {1e9, "1e9 J"};
    case Dimension::count:
      return {9007199254740992.0, "2^53"};
  }
  return {0, ""};
}

}  // namespace

double max_quantity(Dimension dimension) {
  return sane_range(dimension).max;
}

std::string range_of(Dimension dimension) {
  return fmt::format("at most {}", sane_range(dimension).words);
}

std::optional<double> parse_quantity(std::string_view text, Dimension dimension) {
  text = trim(text);
  double number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || !std::isfinite(number))
    return std::nullopt;
  std::string_view unit = trim(std::string_view(end, text.data() + text.size() - end));
  std::optional<double> value;
  if (unit.empty())
    value = number;
  for (const Unit& u : table(dimension)) {
    if (!value && u.symbol == unit)
      value = number * u.scale;
  }
  if (!value || !std::isfinite(*value) || std::fabs(*value) > max_quantity(dimension))
    return std::nullopt;
  return value;
}

std::string units_of(Dimension dimension) {
  std::string out;
  for (const Unit& u : table(dimension)) {
    if (u.symbol.empty())
      continue;
    if (!out.empty())
      out += ", ";
    out += u.symbol;
  }
  return out.empty() ? "a plain number" : out;
}

namespace {

bool is_binary(const Unit& u) {
  return u.symbol.find("iB") != std::string_view::npos;
}

// The largest decimal and binary units not above a magnitude; null where none is.
struct Largest {
  const Unit* decimal = nullptr;
  const Unit* binary = nullptr;
};

Largest largest_units(const std::vector<Unit>& units, double magnitude) {
  Largest out;
  for (const Unit& u : units) {
    if (magnitude < u.scale)
      continue;
    const Unit*& best = is_binary(u) ? out.binary : out.decimal;
    if (best == nullptr || u.scale > best->scale)
      best = &u;
  }
  return out;
}

bool whole_in(const Unit* u, double magnitude) {
  return u != nullptr && magnitude / u->scale == std::floor(magnitude / u->scale);
}

std::string write_in(double value, const Unit& u) {
  double scaled = value / u.scale;
  if (u.symbol.empty())
    return fmt::format("{:g}", scaled);
  return fmt::format("{:g} {}", scaled, u.symbol);
}

}  // namespace

std::string format_quantity(double value, Dimension dimension) {
  // The largest decimal unit not above the value ("16.384 TFLOP/s", "0.4 pJ" below the
  // smallest unit); a binary unit instead when it gives a whole number and the decimal one
  // does not ("24 GiB"), so that the text reads back to the same value.
  const std::vector<Unit>& units = table(dimension);
  const double magnitude = std::fabs(value);
  const Largest largest = largest_units(units, magnitude);
  const Unit* chosen = largest.decimal;
  if (whole_in(largest.binary, magnitude) && !whole_in(largest.decimal, magnitude))
    chosen = largest.binary;
  if (chosen == nullptr) {
    const Unit* smallest = &units.front();
    for (const Unit& u : units)
      if (u.scale < smallest->scale)
        smallest = &u;
    chosen = value == 0 ? &units.front() : smallest;
  }
  return write_in(value, *chosen);
}

ByteUnits byte_units_of(double bytes) {
  const double magnitude = std::fabs(bytes);
  const Largest largest = largest_units(table(Dimension::bytes), magnitude);
  return whole_in(largest.binary, magnitude) && !whole_in(largest.decimal, magnitude)
             ? ByteUnits::binary
             : ByteUnits::decimal;
}

std::string format_bytes(double bytes, ByteUnits units) {
  const std::vector<Unit>& table_of_bytes = table(Dimension::bytes);
  const Largest largest = largest_units(table_of_bytes, std::fabs(bytes));
  const Unit* chosen = units == ByteUnits::binary ? largest.binary : largest.decimal;
  if (chosen == nullptr)
    chosen = &table_of_bytes.front();  // "B"
  return write_in(bytes, *chosen);
}

double bytes_per_element(DataType type) {
  switch (type) {
    case DataType::fp32:
      return 4;
    case DataType::bf16:
    case DataType::fp16:
      return 2;
    case DataType::fp8:
      return 1;
  }
  return 0;
}

std::string_view to_string(DataType type) {
  switch (type) {
    case DataType::fp32:
      return "fp32";
    case DataType::bf16:
      return "bf16";
    case DataType::fp16:
      return "fp16";
    case DataType::fp8:
      return "fp8";
  }
  return "?";
}

std::optional<DataType> parse_data_type(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, DataType>, 8> names = {{
      {"fp32", DataType::fp32},
      {"float32", DataType::fp32},
      {"bf16", DataType::bf16},
      {"bfloat16", DataType::bf16},
      {"fp16", DataType::fp16},
      {"float16", DataType::fp16},
      {"fp8", DataType::fp8},
      {"float8", DataType::fp8},
  }};
  for (const auto& [name, type] : names) {
    if (name == text)
      return type;
  }
  return std::nullopt;
}

}  // namespace mozart::core
