// The assembly of the text formats' records into a columnar trace.
#include <algorithm>
#include <cstring>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/format_detail.hpp"
#include "mozart/trace/memory.hpp"

namespace mozart::trace::detail {
namespace {

constexpr std::uint64_t kOrdered = UINT64_MAX;

template <typename T>
void release(GrowingColumn<T>& column) {
  GrowingColumn<T>().swap(column);
}

}  // namespace

void fail_empty(const std::string& source) {
  throw core::InputError({source, "records", 0}, "none",
                         "at least one token (a trace without records is refused in every format)");
}

Assembler::Assembler(Trace trace, const ReadOptions& options, std::string source,
                     std::string token_field)
    : trace_(std::move(trace)),
      options_(options),
      source_(std::move(source)),
      token_field_(std::move(token_field)) {
  for (const auto& name : trace_.domain_names)
    intern_domain(name, 0);
}

void Assembler::fail(std::uint64_t line, const std::string& field, const std::string& value,
                     const std::string& expected) const {
  throw core::InputError(
      {source_, field, static_cast<int>(std::min<std::uint64_t>(line, INT32_MAX))}, value,
      expected);
}

int Assembler::intern_domain(std::string_view name, std::uint64_t line) {
  // Records name the same domain many times in a row: the last one is checked first.
  if (!domains_.empty() && domains_[static_cast<std::size_t>(last_domain_)] == name)
    return last_domain_;
  auto [it, inserted] = domain_index_.emplace(std::string(name), static_cast<int>(domains_.size()));
  if (inserted) {
    if (domains_.size() > UINT16_MAX)
      fail(line, "domain", std::string(name.substr(0, 80)), "at most 65536 distinct domain names");
    domains_.emplace_back(name);
  }
  last_domain_ = it->second;
  return last_domain_;
}

void Assembler::start(const Record& first, std::size_t k, bool gates) {
  TraceShape observed = trace_.shape;
  if (observed.top_k == 0)
    observed.top_k = static_cast<int>(k);
  else if (observed.top_k != static_cast<int>(k))
    fail(first.line, "experts", fmt::format("{} ids", k),
         fmt::format("top_k {} from the metadata", observed.top_k));
  trace_.shape = resolve_shape(observed, options_.hint, source_);
  validate_choice_shape(trace_.shape, source_);
  stamp_.assign(static_cast<std::size_t>(trace_.shape.experts), 0);
  k_ = k;
  gates_ = gates;
  started_ = true;
}

void Assembler::read_so_far(std::uint64_t bytes_done, std::uint64_t total_bytes) {
  if (bytes_done == 0 || bytes_done >= total_bytes) {
    growth_ = 0;
    return;
  }
  if (limit_ == 0)
    limit_ = static_cast<double>(memory_limit().bytes);
  // A sixteenth more than the share read so far: lines of later records may be a little longer.
  growth_ = static_cast<double>(total_bytes) / static_cast<double>(bytes_done) * (17.0 / 16.0);
}

// Room for `need` elements: what the rest of the file will likely bring once its size is known
// (capped by the memory limit; an estimate too high costs address space only, as pages never
// touched take no memory), else twice the capacity.
template <typename T>
void Assembler::make_room(GrowingColumn<T>& column, std::size_t need) const {
  if (need <= column.capacity())
    return;
  std::size_t room = std::max(need, 2 * column.capacity());
  if (growth_ > 0) {
    const double expected =
        std::min(static_cast<double>(need) * growth_, limit_ / static_cast<double>(sizeof(T)));
    room = std::max(room, static_cast<std::size_t>(expected));
  }
  column.reserve(room);
}

// Ids in range and distinct within the record: a stamp per expert, set to the record's number,
// finds a repeat in k loads instead of k² comparisons.
void Assembler::check_ids(const Record& record, std::span<const std::int64_t> ids) {
  ++stamped_;
  for (const std::int64_t id : ids) {
    if (id < 0 || id >= trace_.shape.experts)
      fail(record.line, "experts[]", std::to_string(id),
           fmt::format("an expert id in [0, {}]", trace_.shape.experts - 1));
    std::uint64_t& stamp = stamp_[static_cast<std::size_t>(id)];
    if (stamp == stamped_)
      fail(record.line, "experts", std::to_string(id), "distinct experts in one token's top-k");
    stamp = stamped_;
  }
}

// Gates as the trace holds them (floats: a double above float's range reads as infinite).
void Assembler::check_gates(const Record& record, const float* gates) const {
  for (std::size_t j = 0; j < k_; ++j)
    if (!valid_gate(gates[j]))
      fail(record.line, "gate", fmt::format("{}", gates[j]), kValidGate);
}

Assembler::Layer& Assembler::layer_of(const Record& record) {
  // Files cycle through the layers (token-major) or stay on one (layer-major): try those first.
  if (!layers_.empty()) {
    const std::size_t next = last_layer_ + 1 == layers_.size() ? 0 : last_layer_ + 1;
    for (const std::size_t guess : {last_layer_, next})
      if (layers_[guess].id == record.layer)
        return layers_[last_layer_ = guess];
  }
  const auto [it, inserted] = layer_index_.emplace(record.layer, layers_.size());
  if (inserted)
    layers_.emplace_back().id = static_cast<int>(record.layer);
  last_layer_ = it->second;
  return layers_[last_layer_];
}

void Assembler::add(const Record& record, std::span<const std::int64_t> ids,
                    std::span<const double> gates) {
  if (ids.empty())
    fail(record.line, "experts", "0 ids", "the token's top-k expert ids");
  if (!started_)
    start(record, ids.size(), !gates.empty());
  if (ids.size() != k_)
    fail(record.line, "experts", fmt::format("{} ids", ids.size()),
         fmt::format("{} ids, as in the first record", k_));
  if (!gates.empty() && gates.size() != ids.size())
    fail(record.line, "gating_probs", fmt::format("{} gates", gates.size()),
         fmt::format("{} gates, one per expert", ids.size()));
  if (gates.empty() == gates_)
    fail(record.line, "gating_probs", gates_ ? "(missing)" : "present",
         "gates in every record or in none");
  check_ids(record, ids);
  Layer& layer = layer_of(record);
  const auto token = static_cast<std::uint64_t>(record.token);
  if (layer.ordered_prefix == kOrdered && token != layer.records) {
    layer.ordered_prefix = layer.records;
    layer.tokens.resize(layer.records);
    std::iota(layer.tokens.begin(), layer.tokens.end(), std::uint64_t{0});
  }
  if (layer.ordered_prefix != kOrdered) {
    layer.tokens.push_back(token);
    layer.lines.push_back(record.line);
  }
  const std::size_t at = layer.ids.size();
  make_room(layer.ids, at + k_);
  layer.ids.resize(at + k_);
  std::copy(ids.begin(), ids.end(), layer.ids.begin() + static_cast<std::ptrdiff_t>(at));
  if (gates_) {
    make_room(layer.gates, at + k_);
    layer.gates.resize(at + k_);
    std::copy(gates.begin(), gates.end(), layer.gates.begin() + static_cast<std::ptrdiff_t>(at));
    check_gates(record, layer.gates.data() + at);
  }
  ++layer.records;
  ++records_;
  if (record.token > max_token_) {
    max_token_ = record.token;
    max_token_line_ = record.line;
  }
  note_token(record);
}

void Assembler::note_token(const Record& record) {
  const auto token = static_cast<std::uint64_t>(record.token);
  const auto sequence = static_cast<std::uint32_t>(std::max<std::int64_t>(record.sequence, 0));
  const auto position =
      static_cast<std::uint32_t>(record.position >= 0 ? record.position : record.token);
  if (token < sequence_.size()) {
    agree(token, sequence, position, record.domain, record.line);
  } else if (token == sequence_.size()) {
    make_room(sequence_, sequence_.size() + 1);
    make_room(position_, position_.size() + 1);
    make_room(domain_, domain_.size() + 1);
    sequence_.push_back(sequence);
    position_.push_back(position);
    domain_.push_back(record.domain);
  } else {  // before its turn: kept until the token count is known and checked
    pending_.push_back({token, sequence, position, record.domain, record.line});
  }
}

void Assembler::agree(std::uint64_t token, std::uint32_t sequence, std::uint32_t position,
                      int domain, std::uint64_t line) {
  if (sequence_[token] != sequence || position_[token] != position)
    fail(line, "seq_id/position", fmt::format("{}/{}", sequence, position),
         fmt::format("{}/{} as in this token's other records", sequence_[token], position_[token]));
  int& known = domain_[token];
  if (domain >= 0 && known >= 0 && known != domain)
    fail(line, "domain", domains_[static_cast<std::size_t>(domain)],
         fmt::format("\"{}\" as in this token's other records",
                     domains_[static_cast<std::size_t>(known)]));
  if (known < 0)
    known = domain;
}

// A complete trace of N records over L layers has N / L tokens: a higher token index is a typo
// or a sign of missing records, and must not size an allocation.
void Assembler::check_tokens() const {
  const std::uint64_t layers = layers_.size();
  const std::uint64_t bound = (records_ + layers - 1) / layers;
  if (static_cast<std::uint64_t>(max_token_) >= bound)
    fail(max_token_line_, token_field_, std::to_string(max_token_),
         fmt::format("a token index below {} (the file's {} records over {} layer{} hold {} "
                     "tokens; a higher index is a typo or means records are missing)",
                     bound, records_, layers, layers == 1 ? "" : "s", bound));
}

void Assembler::check_duplicates(const Layer& layer, std::uint64_t tokens) const {
  std::vector<bool> seen(tokens, false);
  for (std::size_t i = 0; i < layer.tokens.size(); ++i) {
    const std::uint64_t token = layer.tokens[i];
    if (seen[token])
      fail(layer.lines[i - layer.ordered_prefix], token_field_,
           fmt::format("token {} at layer {} again", token, layer.id),
           "one record per token and layer");
    seen[token] = true;
  }
}

// With no duplicates, N records fill the tokens × layers slots exactly when N equals their
// number; otherwise the first empty slot (by layer, then token) is reported.
void Assembler::check_complete(std::uint64_t tokens) const {
  const std::uint64_t slots = tokens * layers_.size();
  if (records_ == slots)
    return;
  for (const auto& [id, index] : layer_index_) {
    const Layer& layer = layers_[index];
    if (layer.records == tokens)
      continue;
    std::uint64_t first = layer.records;  // an ordered layer holds 0, 1, ..., records - 1
    if (layer.ordered_prefix != kOrdered) {
      std::vector<bool> seen(tokens, false);
      for (const std::uint64_t token : layer.tokens)
        seen[token] = true;
      first = static_cast<std::uint64_t>(std::find(seen.begin(), seen.end(), false) - seen.begin());
    }
    throw core::InputError({source_, "records", 0},
                           fmt::format("{} of {} (token, layer) records missing, the first token "
                                       "{} at layer {}",
                                       slots - records_, slots, first, id),
                           "a record for every token at every layer");
  }
}

// The per-token columns, completed by the records that came before their token's turn.
void Assembler::settle_tokens(std::uint64_t tokens) {
  const std::size_t known = sequence_.size();
  sequence_.resize(tokens);
  position_.resize(tokens);
  domain_.resize(tokens, -1);
  std::vector<bool> set(tokens, false);
  std::fill(set.begin(), set.begin() + static_cast<std::ptrdiff_t>(known), true);
  for (const Pending& p : pending_) {
    if (set[p.token]) {
      agree(p.token, p.sequence, p.position, p.domain, p.line);
      continue;
    }
    set[p.token] = true;
    sequence_[p.token] = p.sequence;
    position_[p.token] = p.position;
    domain_[p.token] = p.domain;
  }
  pending_.clear();
}

// Copies a layer's records into the trace (already in place when the layer was ordered by
// token) and frees them, so the records and the trace overlap by one layer at most.
void Assembler::place(Layer& layer, std::size_t slot, Trace& out) const {
  const std::size_t block = out.tokens * k_;
  ExpertId* ids = out.experts.data() + slot * block;
  float* gates = gates_ ? out.gates.data() + slot * block : nullptr;
  if (layer.ordered_prefix == kOrdered) {  // tokens 0 .. records − 1 (fewer when dropping)
    const std::size_t have = std::min<std::size_t>(block, layer.records * k_);
    std::memcpy(ids, layer.ids.data(), have * sizeof(ExpertId));
    if (gates != nullptr)
      std::memcpy(gates, layer.gates.data(), have * sizeof(float));
  } else {
    for (std::size_t i = 0; i < layer.tokens.size(); ++i) {
      const std::size_t to = layer.tokens[i] * k_;
      std::copy_n(layer.ids.data() + i * k_, k_, ids + to);
      if (gates != nullptr)
        std::copy_n(layer.gates.data() + i * k_, k_, gates + to);
    }
  }
  release(layer.ids);
  release(layer.gates);
  release(layer.tokens);
  release(layer.lines);
}

// With --drop-incomplete a token index may exceed what the records fill, but not without
// bound: the arrays it sizes are capped at 64 tokens per record.
void Assembler::check_sparse_tokens() const {
  if (static_cast<std::uint64_t>(max_token_) >= 64 * records_)
    fail(max_token_line_, token_field_, std::to_string(max_token_),
         fmt::format("a token index below {} (64 per record of the file's {}; a higher index is "
                     "a typo)",
                     64 * records_, records_));
}

// The tokens with a record at every layer, in order (before place() releases the layers'
// token lists); reports the others, and refuses a file without any.
std::vector<std::size_t> Assembler::complete_tokens(std::uint64_t tokens) const {
  const std::size_t layers = layers_.size();
  std::vector<std::uint32_t> count(tokens, 0);
  for (const Layer& layer : layers_) {
    if (layer.ordered_prefix == kOrdered)
      for (std::uint64_t t = 0; t < layer.records; ++t)
        ++count[t];
    else
      for (const std::uint64_t t : layer.tokens)
        ++count[t];
  }
  std::vector<std::size_t> kept;
  std::size_t partial = 0, first_partial = tokens;
  for (std::size_t t = 0; t < tokens; ++t) {
    if (count[t] == layers)
      kept.push_back(t);
    else if (count[t] > 0 && partial++ == 0)
      first_partial = t;
  }
  if (kept.empty())
    throw core::InputError({source_, "records", 0},
                           fmt::format("no token with a record at all {} layers", layers),
                           "at least one complete token to keep (--drop-incomplete)");
  if (options_.report && partial > 0)
    options_.report(fmt::format(
        "{}: dropped {} token{} without a record at every layer (the first: token {}); kept {}",
        source_, partial, partial == 1 ? "" : "s", first_partial, kept.size()));
  return kept;
}

// Keeps the tokens `kept` (ascending), renumbered in order.
void Assembler::keep_complete(Trace& out, const std::vector<std::size_t>& kept) const {
  const std::size_t tokens = out.tokens, layers = layers_.size();
  const auto k = static_cast<std::size_t>(k_);
  for (std::size_t l = 0; l < layers; ++l)  // forward: every token moves down or stays
    for (std::size_t i = 0; i < kept.size(); ++i) {
      const std::size_t from = (l * tokens + kept[i]) * k, to = (l * kept.size() + i) * k;
      std::memmove(out.experts.data() + to, out.experts.data() + from, k * sizeof(ExpertId));
      if (!out.gates.empty())
        std::memmove(out.gates.data() + to, out.gates.data() + from, k * sizeof(float));
    }
  for (std::size_t i = 0; i < kept.size(); ++i) {
    out.sequence[i] = out.sequence[kept[i]];
    out.position[i] = out.position[kept[i]];
    if (!out.domain.empty())
      out.domain[i] = out.domain[kept[i]];
  }
  out.tokens = kept.size();
  out.experts.resize(out.records() * k);
  if (!out.gates.empty())
    out.gates.resize(out.experts.size());
  out.sequence.resize(out.tokens);
  out.position.resize(out.tokens);
  if (!out.domain.empty())
    out.domain.resize(out.tokens);
}

Trace Assembler::finish() {
  if (records_ == 0)
    fail_empty(source_);
  std::vector<int> layer_ids;
  for (const auto& entry : layer_index_)
    layer_ids.push_back(static_cast<int>(entry.first));
  if (!trace_.shape.layer_ids.empty() && trace_.shape.layer_ids != layer_ids)
    throw core::InputError(
        {source_, "layer", 0}, fmt::format("layers {}", fmt::join(layer_ids, ",")),
        fmt::format("the layers {} named in the metadata", fmt::join(trace_.shape.layer_ids, ",")));
  const bool dropping = options_.drop_incomplete &&
                        records_ != layers_.size() * static_cast<std::uint64_t>(max_token_ + 1);
  if (dropping)
    check_sparse_tokens();
  else
    check_tokens();
  const auto tokens = static_cast<std::uint64_t>(max_token_ + 1);
  for (const Layer& layer : layers_)
    if (layer.ordered_prefix != kOrdered)
      check_duplicates(layer, tokens);
  if (!dropping)
    check_complete(tokens);
  const std::vector<std::size_t> kept =
      dropping ? complete_tokens(tokens) : std::vector<std::size_t>();
  trace_.shape.layer_ids = std::move(layer_ids);
  validate_shape(trace_.shape, source_);  // the layers' part: the rest was checked in start()
  require_trace_memory(tokens, trace_.shape, gates_, !domains_.empty(), source_);
  settle_tokens(tokens);

  Trace out = std::move(trace_);
  out.tokens = static_cast<std::size_t>(tokens);
  out.experts.resize(out.records() * k_);
  if (gates_)
    out.gates.resize(out.experts.size());
  std::size_t slot = 0;
  for (const auto& entry : layer_index_)
    place(layers_[entry.second], slot++, out);
  out.sequence.assign(sequence_.begin(), sequence_.end());
  out.position.assign(position_.begin(), position_.end());
  release(sequence_);
  release(position_);
  if (!domains_.empty()) {
    out.domain.resize(out.tokens);
    for (std::size_t t = 0; t < out.tokens; ++t)
      out.domain[t] = static_cast<std::uint16_t>(std::max(domain_[t], 0));
    out.domain_names = domains_;
  }
  if (dropping)
    keep_complete(out, kept);
  return out;
}

}  // namespace mozart::trace::detail
