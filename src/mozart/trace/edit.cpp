#include "mozart/trace/edit.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mozart/core/error.hpp"

namespace mozart::trace {
namespace {

using core::InputError;

// The trace's index of each of `ids`, in the trace's order.
std::vector<int> layer_indices(const Trace& trace, const std::vector<int>& ids,
                               const std::string& source) {
  std::vector<int> out;
  for (int l = 0; l < trace.layers(); ++l)
    if (ids.empty() || std::find(ids.begin(), ids.end(), trace.shape.layer_ids[l]) != ids.end())
      out.push_back(l);
  for (const int id : ids)
    if (std::find(trace.shape.layer_ids.begin(), trace.shape.layer_ids.end(), id) ==
        trace.shape.layer_ids.end())
      throw InputError(
          {source, "layers", 0}, std::to_string(id),
          fmt::format("one of the trace's MoE layers {}", fmt::join(trace.shape.layer_ids, ",")));
  return out;
}

}  // namespace

std::size_t count_sequences(const Trace& trace) {
  std::vector<std::uint32_t> ids(trace.sequence.begin(), trace.sequence.end());
  std::sort(ids.begin(), ids.end());
  return static_cast<std::size_t>(std::unique(ids.begin(), ids.end()) - ids.begin());
}

Trace slice(const Trace& trace, std::size_t first, std::size_t last,
            const std::vector<int>& layer_ids, const std::string& source) {
  if (first >= last || last > trace.tokens)
    throw InputError({source, "tokens", 0}, fmt::format("{}:{}", first, last),
                     fmt::format("a non-empty range within the trace's {} tokens", trace.tokens));
  const auto layers = layer_indices(trace, layer_ids, source);
  TraceShape shape = trace.shape;
  shape.layer_ids.clear();
  for (const int l : layers)
    shape.layer_ids.push_back(trace.shape.layer_ids[static_cast<std::size_t>(l)]);
  Trace out = make_trace(shape, last - first, trace.model);
  const auto k = static_cast<std::size_t>(trace.top_k());
  if (!trace.gates.empty())
    out.gates.assign(out.experts.size(), 0.0f);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto from = trace.offset(layers[i], first);
    const auto to = out.offset(static_cast<int>(i), 0);
    std::copy_n(trace.experts.data() + from, out.tokens * k, out.experts.data() + to);
    if (!trace.gates.empty())
      std::copy_n(trace.gates.data() + from, out.tokens * k, out.gates.data() + to);
  }
  const auto range = [&](const auto& column, auto& into) {
    into.assign(column.begin() + static_cast<std::ptrdiff_t>(first),
                column.begin() + static_cast<std::ptrdiff_t>(last));
  };
  range(trace.sequence, out.sequence);
  range(trace.position, out.position);
  if (!trace.domain.empty())
    range(trace.domain, out.domain);
  out.domain_names = trace.domain_names;
  return out;
}

std::size_t split_point(const Trace& trace, const SplitAt& at, const std::string& source) {
  const int set = (at.tokens > 0 ? 1 : 0) + (at.sequences > 0 ? 1 : 0) + (at.fraction ? 1 : 0);
  if (set != 1)
    throw InputError({source, "split", 0}, fmt::format("{} of tokens, sequences, fraction", set),
                     "exactly one");
  std::size_t cut = at.tokens;
  if (at.fraction) {
    if (!(*at.fraction > 0 && *at.fraction < 1))
      throw InputError({source, "fraction", 0}, fmt::format("{}", *at.fraction),
                       "a fraction in (0, 1)");
    const auto wanted = *at.fraction * static_cast<double>(trace.tokens);
    // The sequence boundary nearest the wanted share; the plain token when there is none.
    cut = static_cast<std::size_t>(std::llround(wanted));
    double best = INFINITY;
    for (std::size_t t = 1; t < trace.tokens; ++t)
      if (trace.sequence[t] != trace.sequence[t - 1] &&
          std::abs(static_cast<double>(t) - wanted) < best) {
        best = std::abs(static_cast<double>(t) - wanted);
        cut = t;
      }
  } else if (at.sequences > 0) {
    std::size_t seen = 1;
    cut = trace.tokens;
    for (std::size_t t = 1; t < trace.tokens; ++t)
      if (trace.sequence[t] != trace.sequence[t - 1] && seen++ == at.sequences) {
        cut = t;
        break;
      }
  }
  if (cut == 0 || cut >= trace.tokens)
    throw InputError({source, "split", 0}, fmt::format("a cut at token {}", cut),
                     fmt::format("a cut inside the trace's {} tokens ({} sequences), so both "
                                 "parts hold tokens",
                                 trace.tokens, count_sequences(trace)));
  return cut;
}

std::vector<double> consecutive_reuse(const Trace& trace) {
  std::vector<double> out;
  const auto k = static_cast<std::size_t>(trace.top_k());
  for (int l = 0; l < trace.layers(); ++l) {
    std::uint64_t shared = 0, pairs = 0;
    for (std::size_t t = 1; t < trace.tokens; ++t) {
      if (trace.sequence[t] != trace.sequence[t - 1])
        continue;
      const auto now = trace.choices(l, t), before = trace.choices(l, t - 1);
      for (const ExpertId e : now)
        shared += std::find(before.begin(), before.end(), e) != before.end() ? 1 : 0;
      ++pairs;
    }
    out.push_back(pairs == 0 ? 0.0 : static_cast<double>(shared) / static_cast<double>(pairs * k));
  }
  return out;
}

}  // namespace mozart::trace
