// The assembly of the text formats' records into a columnar trace.
#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/format_detail.hpp"

namespace mozart::trace::detail {
namespace {

using core::InputError;

// Places each record at its (layer, token) slot; a duplicate or missing slot is an error.
class Assembler {
 public:
  Assembler(const RawRecords& in, const TextSource& reader, const std::string& source)
      : in_(in), reader_(reader), source_(source) {}

  Trace assemble(Trace trace) {
    std::map<std::int64_t, int> layer_slot;
    std::int64_t max_token = -1;
    for (const auto& r : in_.records) {
      layer_slot.emplace(r.layer, 0);
      max_token = std::max(max_token, r.token);
    }
    std::vector<int> layer_ids;
    for (auto& [id, slot] : layer_slot) {
      slot = static_cast<int>(layer_ids.size());
      layer_ids.push_back(static_cast<int>(id));
    }
    if (!trace.shape.layer_ids.empty() && trace.shape.layer_ids != layer_ids &&
        !in_.records.empty())
      throw InputError({source_, "layer", 0}, fmt::format("layers {}", fmt::join(layer_ids, ",")),
                       fmt::format("the layers {} named in the metadata",
                                   fmt::join(trace.shape.layer_ids, ",")));
    trace.shape.layer_ids = layer_ids;
    trace.tokens = static_cast<std::size_t>(max_token + 1);
    const auto k = static_cast<std::size_t>(trace.shape.top_k);
    trace.experts.assign(trace.records() * k, 0);
    if (in_.has_gates)
      trace.gates.assign(trace.experts.size(), 0.0f);
    trace.sequence.assign(trace.tokens, 0);
    trace.position.assign(trace.tokens, 0);
    if (!in_.domains.empty()) {
      trace.domain.assign(trace.tokens, 0);
      trace.domain_names = in_.domains;
    }
    std::vector<bool> seen(trace.records(), false);
    std::vector<bool> token_seen(trace.tokens, false);
    for (std::size_t i = 0; i < in_.records.size(); ++i)
      place(trace, i, layer_slot.at(in_.records[i].layer), seen, token_seen);
    report_missing(trace, seen);
    return trace;
  }

 private:
  void place(Trace& trace, std::size_t i, int layer, std::vector<bool>& seen,
             std::vector<bool>& token_seen) const {
    const RawRecord& r = in_.records[i];
    const auto token = static_cast<std::size_t>(r.token);
    const std::size_t slot = static_cast<std::size_t>(layer) * trace.tokens + token;
    if (seen[slot])
      reader_.fail(r.offset, "token_idx",
                   fmt::format("token {} at layer {} again", r.token, r.layer),
                   "one record per token and layer");
    seen[slot] = true;
    const auto k = static_cast<std::size_t>(trace.shape.top_k);
    for (std::size_t j = 0; j < k; ++j) {
      trace.experts[slot * k + j] = static_cast<ExpertId>(in_.ids[i * k + j]);
      if (in_.has_gates)
        trace.gates[slot * k + j] = static_cast<float>(in_.gates[i * k + j]);
    }
    const auto sequence = static_cast<std::uint32_t>(std::max<std::int64_t>(r.sequence, 0));
    const auto position = static_cast<std::uint32_t>(r.position >= 0 ? r.position : r.token);
    if (token_seen[token] &&
        (trace.sequence[token] != sequence || trace.position[token] != position))
      reader_.fail(r.offset, "seq_id/position", fmt::format("{}/{}", sequence, position),
                   fmt::format("{}/{} as in this token's other records", trace.sequence[token],
                               trace.position[token]));
    token_seen[token] = true;
    trace.sequence[token] = sequence;
    trace.position[token] = position;
    if (!trace.domain.empty() && r.domain >= 0)
      trace.domain[token] = static_cast<std::uint16_t>(r.domain);
  }

  void report_missing(const Trace& trace, const std::vector<bool>& seen) const {
    const auto missing = static_cast<std::size_t>(std::count(seen.begin(), seen.end(), false));
    if (missing == 0)
      return;
    const auto first =
        static_cast<std::size_t>(std::find(seen.begin(), seen.end(), false) - seen.begin());
    throw InputError({source_, "records", 0},
                     fmt::format("{} of {} (token, layer) records missing, the first token {} "
                                 "at layer {}",
                                 missing, trace.records(), first % trace.tokens,
                                 trace.shape.layer_ids[first / trace.tokens]),
                     "a record for every token at every layer");
  }

  const RawRecords& in_;
  const TextSource& reader_;
  const std::string& source_;
};

}  // namespace

void TextSource::fail(std::size_t offset, const std::string& field, const std::string& value,
                      const std::string& expected) const {
  const auto at = std::min(base + offset, text.size());
  const int line = 1 + static_cast<int>(std::count(
                           text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
  throw InputError({source, field, line}, value, expected);
}

int RawRecords::intern_domain(const std::string& name) {
  auto [it, inserted] = domain_index.emplace(name, static_cast<int>(domains.size()));
  if (inserted)
    domains.push_back(name);
  return it->second;
}

Trace assemble_records(Trace trace, const RawRecords& records, const ReadOptions& options,
                       const TextSource& text) {
  if (records.records.empty())
    throw InputError({text.source, "records", 0}, "none", "at least one (token, layer) record");
  TraceShape observed = trace.shape;
  if (observed.top_k == 0)
    observed.top_k = records.top_k;
  else if (observed.top_k != records.top_k)
    text.fail(records.records.front().offset, "experts", fmt::format("{} ids", records.top_k),
              fmt::format("top_k {} from the metadata", observed.top_k));
  trace.shape = resolve_shape(observed, options.hint, text.source);
  const auto k = static_cast<std::size_t>(records.top_k);
  for (std::size_t i = 0; i < records.ids.size(); ++i)
    if (records.ids[i] < 0 || records.ids[i] >= trace.shape.experts)
      text.fail(records.records[i / k].offset, "experts[]", std::to_string(records.ids[i]),
                fmt::format("an expert id in [0, {}]", trace.shape.experts - 1));
  return Assembler(records, text, text.source).assemble(std::move(trace));
}

}  // namespace mozart::trace::detail
