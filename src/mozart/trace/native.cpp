// mozart's native trace format, version 1 (all integers little-endian):
//
//   0  magic "MOZTRACE"        32  u64 tokens
//   8  u32 version             40  u64 XXH3-64 of every byte after the header
//   12 u32 flags (1 gates, 2 domains)
//   16 u32 layers              48  16 bytes reserved (zero)
//   20 u32 top_k
//   24 u32 experts
//   28 u32 metadata bytes
//   64 metadata JSON (model, layer ids, domain names), then the columns experts (u16),
//      gates (f32, if flagged), sequence (u32), position (u32), domain (u16, if flagged),
//      each starting on a 64-byte boundary.
#include <bit>
#include <cstring>

#include <fmt/format.h>
#include <xxhash.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/format_detail.hpp"
#include "mozart/trace/memory.hpp"
#include "mozart/trace/progress.hpp"

static_assert(std::endian::native == std::endian::little,
              "the native trace format is read in place on little-endian hosts");

namespace mozart::trace::detail {
namespace {

using core::InputError;

constexpr std::string_view kMagic = "MOZTRACE";
constexpr std::size_t kHeaderBytes = 64;
constexpr std::size_t kAlign = 64;
constexpr std::uint32_t kGatesFlag = 1;
constexpr std::uint32_t kDomainsFlag = 2;

std::size_t aligned(std::size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

template <typename T>
T load(std::string_view bytes, std::size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

template <typename T>
void store(std::string& out, std::size_t at, T value) {
  std::memcpy(out.data() + at, &value, sizeof(T));
}

// The byte ranges of the columns, from the header's dimensions; nullopt on overflow.
struct Layout {
  std::size_t meta_at = kHeaderBytes;
  std::size_t experts_at = 0, gates_at = 0, sequence_at = 0, position_at = 0, domain_at = 0;
  std::size_t total = 0;
};

std::optional<Layout> layout(const NativeHeader& h, std::uint32_t meta_bytes) {
  constexpr std::uint64_t kMaxIds = std::uint64_t{1} << 60;
  const std::uint64_t per_token = std::uint64_t{h.layers} * h.top_k;  // below 2^64
  if (h.tokens > (std::uint64_t{1} << 56) || (per_token > 0 && h.tokens > kMaxIds / per_token))
    return std::nullopt;
  const auto n = static_cast<std::size_t>(per_token * h.tokens);
  const auto tokens = static_cast<std::size_t>(h.tokens);
  Layout l;
  l.experts_at = aligned(l.meta_at + meta_bytes);
  l.gates_at = aligned(l.experts_at + n * sizeof(ExpertId));
  l.sequence_at = h.has_gates ? aligned(l.gates_at + n * sizeof(float)) : l.gates_at;
  l.position_at = aligned(l.sequence_at + tokens * sizeof(std::uint32_t));
  l.domain_at = aligned(l.position_at + tokens * sizeof(std::uint32_t));
  l.total = h.has_domains ? l.domain_at + tokens * sizeof(std::uint16_t) : l.domain_at;
  return l;
}

}  // namespace

NativeHeader parse_native_header(std::string_view bytes, const std::string& source) {
  if (bytes.size() < kHeaderBytes)
    throw InputError({source, "header", 0}, fmt::format("{} bytes", bytes.size()),
                     fmt::format("a {}-byte native trace header (file truncated?)", kHeaderBytes));
  if (bytes.substr(0, kMagic.size()) != kMagic)
    throw InputError({source, "magic", 0}, fmt::format("{:?}", bytes.substr(0, kMagic.size())),
                     "\"MOZTRACE\" (is this a native mozart trace?)");
  NativeHeader h;
  h.version = load<std::uint32_t>(bytes, 8);
  if (h.version != kNativeVersion)
    throw InputError({source, "version", 0}, std::to_string(h.version),
                     fmt::format("version {}", kNativeVersion));
  const auto flags = load<std::uint32_t>(bytes, 12);
  if ((flags & ~(kGatesFlag | kDomainsFlag)) != 0)
    throw InputError({source, "flags", 0}, fmt::format("{:#x}", flags),
                     "a combination of 0x1, 0x2");
  h.has_gates = (flags & kGatesFlag) != 0;
  h.has_domains = (flags & kDomainsFlag) != 0;
  h.layers = load<std::uint32_t>(bytes, 16);
  h.top_k = load<std::uint32_t>(bytes, 20);
  h.experts = load<std::uint32_t>(bytes, 24);
  h.tokens = load<std::uint64_t>(bytes, 32);
  h.checksum = load<std::uint64_t>(bytes, 40);
  return h;
}

namespace {

// Reads the bytes after the header in order, hashing them as they come, in blocks so that
// progress moves and each block is hashed while still in cache.
class HashingReader {
 public:
  HashingReader(Input& in, const Progress& progress)
      : in_(in), state_(XXH3_createState()), ticker_(progress, in.size(), kBlock) {
    XXH3_64bits_reset(state_);
  }
  ~HashingReader() { XXH3_freeState(state_); }
  HashingReader(const HashingReader&) = delete;
  HashingReader& operator=(const HashingReader&) = delete;

  void read(void* into, std::size_t bytes) {
    auto* out = static_cast<char*>(into);
    for (std::size_t at = 0; at < bytes; at += kBlock) {
      const std::size_t n = std::min(kBlock, bytes - at);
      in_.read(out + at, n);
      XXH3_64bits_update(state_, out + at, n);
      ticker_.at(in_.position());
    }
  }
  // The padding up to `offset`, hashed (it is zero as written; anything else is corruption).
  void skip_to(std::size_t offset) {
    char gap[kAlign];
    while (in_.position() < offset)
      read(gap, std::min<std::size_t>(kAlign, offset - in_.position()));
  }
  template <typename T>
  void column(std::size_t offset, Column<T>& into, std::size_t n) {
    skip_to(offset);
    into.resize(n);
    read(into.data(), n * sizeof(T));
  }
  std::uint64_t digest() {
    ticker_.finish();
    return XXH3_64bits_digest(state_);
  }

 private:
  static constexpr std::size_t kBlock = std::size_t{16} << 20;
  Input& in_;
  XXH3_state_t* state_;
  ProgressTicker ticker_;
};

}  // namespace

Trace read_native(Input& in, const Progress& progress) {
  const std::string& source = in.source();
  char header[kHeaderBytes];
  const auto header_bytes =
      static_cast<std::size_t>(std::min<std::uint64_t>(in.size(), kHeaderBytes));
  in.read(header, header_bytes);
  const std::string_view bytes(header, header_bytes);
  const NativeHeader h = parse_native_header(bytes, source);
  const auto meta_bytes = load<std::uint32_t>(bytes, 28);
  const auto l = layout(h, meta_bytes);
  if (!l)
    throw InputError({source, "dimensions", 0},
                     fmt::format("{} layers × {} tokens × top-{}", h.layers, h.tokens, h.top_k),
                     "dimensions below 2^60 expert ids");
  if (in.size() != l->total)
    throw InputError(
        {source, "size", 0}, fmt::format("{} bytes", in.size()),
        fmt::format("{} bytes for {} layers × {} tokens × top-{} ({})", l->total, h.layers,
                    h.tokens, h.top_k, in.size() < l->total ? "file truncated" : "trailing bytes"));
  // The dimensions agree with the file's size, so the columns hold no more than the file.
  require_trace_memory(h.tokens, h.layers, h.top_k, h.has_gates, h.has_domains, source);
  Trace trace;
  trace.tokens = static_cast<std::size_t>(h.tokens);
  const std::size_t n = static_cast<std::size_t>(h.tokens) * h.layers * h.top_k;
  HashingReader body(in, progress);
  std::string meta_text(meta_bytes, '\0');
  body.read(meta_text.data(), meta_bytes);
  body.column(l->experts_at, trace.experts, n);
  if (h.has_gates)
    body.column(l->gates_at, trace.gates, n);
  body.column(l->sequence_at, trace.sequence, trace.tokens);
  body.column(l->position_at, trace.position, trace.tokens);
  if (h.has_domains)
    body.column(l->domain_at, trace.domain, trace.tokens);
  body.skip_to(l->total);
  const auto checksum = body.digest();
  if (checksum != h.checksum)
    throw InputError({source, "checksum", 0}, fmt::format("{:016x}", checksum),
                     fmt::format("{:016x} as recorded in the header (file corrupted)", h.checksum));

  const auto meta = nlohmann::json::parse(meta_text, nullptr, false);
  if (meta.is_discarded())
    throw InputError({source, "metadata", 0}, "(unparseable)", "a JSON object");
  apply_metadata(meta, trace, source);
  if (trace.shape.layer_ids.size() != h.layers ||
      static_cast<std::uint32_t>(trace.shape.top_k) != h.top_k ||
      static_cast<std::uint32_t>(trace.shape.experts) != h.experts)
    throw InputError({source, "metadata", 0}, meta.dump().substr(0, 120),
                     "layer ids, top_k and experts that agree with the header");
  return trace;
}

namespace {

// The bytes after the header, in file order, as (offset, bytes) pieces; `emit` receives the
// pieces and the zero padding between them. Run twice: once to hash, once to write.
template <typename Emit>
void emit_body(const Trace& trace, const Layout& l, std::string_view meta, Emit&& emit) {
  static constexpr char kZeros[kAlign] = {};
  std::size_t at = kHeaderBytes;
  const auto piece = [&](std::size_t offset, const void* data, std::size_t bytes) {
    if (bytes == 0)
      return;
    emit(std::string_view(kZeros, offset - at));
    emit(std::string_view(static_cast<const char*>(data), bytes));
    at = offset + bytes;
  };
  const auto column = [&](std::size_t offset, const auto& values) {
    piece(offset, values.data(), values.size() * sizeof(values[0]));
  };
  piece(l.meta_at, meta.data(), meta.size());
  column(l.experts_at, trace.experts);
  column(l.gates_at, trace.gates);
  column(l.sequence_at, trace.sequence);
  column(l.position_at, trace.position);
  column(l.domain_at, trace.domain);
  emit(std::string_view(kZeros, l.total - at));
}

}  // namespace

void write_native(const Trace& trace, Sink& sink, const Progress& progress) {
  NativeHeader h;
  h.has_gates = !trace.gates.empty();
  h.has_domains = !trace.domain.empty();
  h.layers = static_cast<std::uint32_t>(trace.layers());
  h.top_k = static_cast<std::uint32_t>(trace.top_k());
  h.experts = static_cast<std::uint32_t>(trace.num_experts());
  h.tokens = trace.tokens;
  const std::string meta = metadata(trace).dump();
  const auto l = layout(h, static_cast<std::uint32_t>(meta.size()));
  std::string header(kHeaderBytes, '\0');
  header.replace(0, kMagic.size(), kMagic);
  store<std::uint32_t>(header, 8, kNativeVersion);
  store<std::uint32_t>(header, 12,
                       (h.has_gates ? kGatesFlag : 0) | (h.has_domains ? kDomainsFlag : 0));
  store<std::uint32_t>(header, 16, h.layers);
  store<std::uint32_t>(header, 20, h.top_k);
  store<std::uint32_t>(header, 24, h.experts);
  store<std::uint32_t>(header, 28, static_cast<std::uint32_t>(meta.size()));
  store<std::uint64_t>(header, 32, h.tokens);
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  emit_body(trace, *l, meta,
            [&](std::string_view bytes) { XXH3_64bits_update(state, bytes.data(), bytes.size()); });
  store<std::uint64_t>(header, 40, XXH3_64bits_digest(state));
  XXH3_freeState(state);
  sink.write(header);
  // Columns go out in blocks, so that progress moves while gigabytes are written.
  constexpr std::size_t kBlock = std::size_t{64} << 20;
  ProgressTicker ticker(progress, l->total, kBlock);
  std::size_t written = kHeaderBytes;
  emit_body(trace, *l, meta, [&](std::string_view bytes) {
    for (std::size_t at = 0; at < bytes.size(); at += kBlock) {
      const auto block = bytes.substr(at, kBlock);
      sink.write(block);
      ticker.at(written += block.size());
    }
  });
  ticker.finish();
}

}  // namespace mozart::trace::detail
