// NPY traces: a C-order integer array [tokens, layers, k] of expert ids (NumPy format 1.0-3.0).
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/format_detail.hpp"
#include "mozart/trace/memory.hpp"
#include "mozart/trace/progress.hpp"

namespace mozart::trace::detail {
namespace {

using core::InputError;

constexpr std::string_view kMagic = "\x93NUMPY";

struct NpyHeader {
  char kind = 'i';  // 'i' signed, 'u' unsigned
  int width = 0;    // bytes per element
  std::vector<std::uint64_t> shape;
  std::size_t data_at = 0;
};

// The text after `'key':` in a NumPy header dict.
std::string_view dict_value(std::string_view dict, std::string_view key,
                            const std::string& source) {
  const std::string quoted = fmt::format("'{}'", key);
  auto at = dict.find(quoted);
  if (at != std::string_view::npos) {
    at = dict.find_first_not_of(' ', at + quoted.size());
    if (at != std::string_view::npos && dict[at] == ':') {
      at = dict.find_first_not_of(' ', at + 1);
      if (at != std::string_view::npos)
        return dict.substr(at);
    }
  }
  throw InputError({source, fmt::format("npy header.{}", key), 0}, std::string(dict.substr(0, 120)),
                   fmt::format("a NumPy header with '{}'", key));
}

void parse_descr(std::string_view value, NpyHeader& h, const std::string& source) {
  const auto end = value.find('\'', 1);
  std::string_view type = value.substr(0, end == std::string_view::npos ? 0 : end + 1);
  const auto bad = [&](const char* expected) {
    return InputError({source, "npy header.descr", 0}, std::string(value.substr(0, 12)), expected);
  };
  if (type.size() < 4 || type.front() != '\'')
    throw bad("an integer dtype such as '<i2', '<i4', '<i8' or '|u1'");
  type = type.substr(1, type.size() - 2);
  char order = '=';
  if (type.size() == 3)
    order = type[0], type.remove_prefix(1);
  if (type.size() != 2 || (type[0] != 'i' && type[0] != 'u') ||
      std::string_view("1248").find(type[1]) == std::string_view::npos ||
      std::string_view("<>|=").find(order) == std::string_view::npos)
    throw bad("an integer dtype such as '<i2', '<i4', '<i8' or '|u1'");
  if (order == '>' && type[1] != '1')
    throw bad("little-endian integers");
  h.kind = type[0];
  h.width = type[1] - '0';
}

std::vector<std::uint64_t> parse_shape(std::string_view value, const std::string& source) {
  const auto close = value.find(')');
  if (value.empty() || value.front() != '(' || close == std::string_view::npos)
    throw InputError({source, "npy header.shape", 0}, std::string(value.substr(0, 40)), "a tuple");
  std::vector<std::uint64_t> shape;
  const char* p = value.data() + 1;
  const char* end = value.data() + close;
  while (p < end) {
    while (p < end && (*p == ' ' || *p == ','))
      ++p;
    if (p == end)
      break;
    std::uint64_t n = 0;
    const auto [next, error] = std::from_chars(p, end, n);
    if (error != std::errc())
      throw InputError({source, "npy header.shape", 0}, std::string(value.substr(0, close + 1)),
                       "non-negative integer dimensions below 2^64");
    shape.push_back(n);
    p = next;
  }
  return shape;
}

NpyHeader read_header(Input& in) {
  const std::string& source = in.source();
  char prefix[12] = {};
  const auto got = static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), 10));
  in.read(prefix, got);
  const std::string_view bytes(prefix, got);
  if (bytes.size() < 10 || bytes.substr(0, kMagic.size()) != kMagic)
    throw InputError({source, "magic", 0}, fmt::format("{:?}", bytes.substr(0, 6)),
                     "\"\\x93NUMPY\" (is this a .npy file?)");
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3)
    throw InputError({source, "npy version", 0}, std::to_string(major), "1, 2 or 3");
  std::uint64_t length = 0;
  std::uint64_t start = 10;
  if (major == 1) {
    length = static_cast<unsigned char>(bytes[8]) |
             static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[9])) << 8;
  } else {
    if (in.size() < 12)
      throw InputError({source, "npy header", 0}, "(truncated)", "a complete header");
    in.read(prefix + 10, 2);
    std::uint32_t n = 0;
    std::memcpy(&n, prefix + 8, 4);
    length = n;
    start = 12;
  }
  if (start + length > in.size())
    throw InputError(
        {source, "npy header", 0}, fmt::format("{} header bytes", length),
        fmt::format("at most the {} bytes left in the file (truncated?)", in.size() - start));
  std::string text(static_cast<std::size_t>(length), '\0');
  in.read(text.data(), text.size());
  const std::string_view dict = text;
  NpyHeader h;
  h.data_at = static_cast<std::size_t>(start + length);
  parse_descr(dict_value(dict, "descr", source), h, source);
  if (dict_value(dict, "fortran_order", source).starts_with("True"))
    throw InputError({source, "npy header.fortran_order", 0}, "True", "C order (False)");
  h.shape = parse_shape(dict_value(dict, "shape", source), source);
  if (h.shape.size() != 3)
    throw InputError({source, "npy header.shape", 0}, fmt::format("{} dimensions", h.shape.size()),
                     "three dimensions [tokens, layers, k]");
  return h;
}

std::int64_t element(const char* p, const NpyHeader& h) {
  switch (h.width) {
    case 1:
      return h.kind == 'i' ? static_cast<std::int64_t>(static_cast<std::int8_t>(*p))
                           : static_cast<std::int64_t>(static_cast<std::uint8_t>(*p));
    case 2: {
      std::uint16_t v;
      std::memcpy(&v, p, 2);
      return h.kind == 'i' ? static_cast<std::int16_t>(v) : static_cast<std::int64_t>(v);
    }
    case 4: {
      std::uint32_t v;
      std::memcpy(&v, p, 4);
      return h.kind == 'i' ? static_cast<std::int32_t>(v) : static_cast<std::int64_t>(v);
    }
    default: {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      return h.kind == 'i' || v < (std::uint64_t{1} << 63) ? static_cast<std::int64_t>(v) : -1;
    }
  }
}

// The ids, [tokens, layers, k] in file order, converted a block at a time into the trace's
// layer-major columns.
void read_ids(Input& in, const NpyHeader& h, Trace& trace, const Progress& progress) {
  const auto width = static_cast<std::size_t>(h.width);
  const auto k = static_cast<std::size_t>(trace.top_k());
  const auto layers = static_cast<std::size_t>(trace.layers());
  std::vector<char> block((std::size_t{1} << 20) / width * width);
  ProgressTicker ticker(progress, in.size(), block.size());
  std::size_t t = 0, l = 0, j = 0;
  for (std::size_t left = trace.experts.size(); left > 0;) {
    const std::size_t n = std::min(left, block.size() / width);
    in.read(block.data(), n * width);
    for (const char* data = block.data(); data < block.data() + n * width; data += width) {
      const auto id = element(data, h);
      if (id < 0 || id >= trace.shape.experts)
        throw InputError({in.source(), fmt::format("[{}, {}, {}]", t, l, j), 0}, std::to_string(id),
                         fmt::format("an expert id in [0, {}] (record {})", trace.shape.experts - 1,
                                     t * layers + l + 1));
      trace.experts[trace.offset(static_cast<int>(l), t) + j] = static_cast<ExpertId>(id);
      if (++j == k) {
        j = 0;
        if (++l == layers)
          l = 0, ++t;
      }
    }
    left -= n;
    ticker.at(in.position());
  }
  ticker.finish();
}

}  // namespace

Trace read_npy(Input& in, const ReadOptions& options) {
  const std::string& source = in.source();
  const NpyHeader h = read_header(in);
  const auto tokens = h.shape[0], layers = h.shape[1], k = h.shape[2];
  std::uint64_t count = 0;  // 2^40 tokens × 2^20 layers × 2^16 ids could overflow
  if (layers == 0 || k == 0 || layers > (1u << 20) || k > 65536 ||
      tokens > (std::uint64_t{1} << 40) || __builtin_mul_overflow(tokens, layers * k, &count))
    throw InputError({source, "npy header.shape", 0},
                     fmt::format("({}, {}, {})", tokens, layers, k),
                     "at least one layer and one expert per token, below 2^64 ids in all");
  const auto available = (in.size() - h.data_at) / static_cast<std::size_t>(h.width);
  if (available != count)
    throw InputError({source, "npy data", 0}, fmt::format("{} elements", available),
                     fmt::format("{} elements for shape ({}, {}, {}){}", count, tokens, layers, k,
                                 available < count ? " (file truncated)" : ""));
  TraceShape observed;
  observed.top_k = static_cast<int>(k);
  if (options.hint.layer_ids.empty()) {
    for (std::uint64_t l = 0; l < layers; ++l)
      observed.layer_ids.push_back(static_cast<int>(l));
  } else if (options.hint.layer_ids.size() == layers) {
    observed.layer_ids = options.hint.layer_ids;
  } else {
    throw InputError(
        {source, "npy header.shape[1]", 0}, std::to_string(layers),
        fmt::format("{} layers, as the model has MoE layers", options.hint.layer_ids.size()));
  }
  const TraceShape shape = resolve_shape(observed, options.hint, source);
  require_trace_memory(tokens, shape, false, false, source);
  Trace trace = make_trace(shape, tokens, options.model);
  read_ids(in, h, trace, options.progress);
  return trace;
}

void write_npy(const Trace& trace, Sink& sink, const Progress& progress) {
  const bool narrow = trace.num_experts() <= 32768;
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}, {}, {}), }}",
                  narrow ? "<i2" : "<i4", trace.tokens, trace.layers(), trace.top_k());
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  BufferedWriter out(sink);
  out.append(kMagic);
  out.append(std::string_view("\x01\x00", 2));
  const char length[2] = {static_cast<char>(header.size() & 0xFF),
                          static_cast<char>(header.size() >> 8)};
  out.append(std::string_view(length, 2));
  out.append(header);
  const auto width = static_cast<std::size_t>(narrow ? 2 : 4);
  ProgressTicker ticker(progress, trace.records(), kRecordsPerTick);
  for (std::size_t t = 0; t < trace.tokens; ++t) {
    for (int l = 0; l < trace.layers(); ++l) {
      for (const ExpertId id : trace.choices(l, t)) {
        const std::uint32_t v = id;  // little-endian: the low bytes first
        out.append(std::string_view(reinterpret_cast<const char*>(&v), width));
      }
    }
    out.flush_if_full();
    ticker.at((t + 1) * static_cast<std::size_t>(trace.layers()));
  }
  out.flush();
  ticker.finish();
}

}  // namespace mozart::trace::detail
