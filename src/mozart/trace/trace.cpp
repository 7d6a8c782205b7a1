#include "mozart/trace/trace.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/limits.hpp"
#include "mozart/trace/memory.hpp"

namespace mozart::trace {
namespace {

using core::InputError;

[[noreturn]] void fail_record(const std::string& source, const Trace& trace, int layer,
                              std::size_t token, const std::string& field, const std::string& value,
                              const std::string& expected) {
  throw InputError({source,
                    fmt::format("layer {} (model layer {}), token {}: {}", layer,
                                trace.shape.layer_ids[layer], token, field),
                    0},
                   value, expected);
}

void check_column(const std::string& source, const char* name, std::size_t size,
                  std::size_t expected) {
  if (size != expected)
    throw InputError({source, name, 0}, std::to_string(size),
                     fmt::format("{} entries (one per token)", expected));
}

// Experts in range and distinct within each token's top-k. A stamp per expert, set to the
// record's number, finds duplicates in k loads instead of k² comparisons.
void check_choices(const Trace& trace, const std::string& source) {
  const int k = trace.top_k();
  const auto experts = static_cast<ExpertId>(trace.num_experts() - 1);
  std::vector<std::uint64_t> stamp(static_cast<std::size_t>(trace.num_experts()), 0);
  std::uint64_t record = 0;
  for (int layer = 0; layer < trace.layers(); ++layer) {
    const ExpertId* ids = trace.experts.data() + trace.offset(layer, 0);
    for (std::size_t token = 0; token < trace.tokens; ++token, ids += k) {
      ++record;
      for (int j = 0; j < k; ++j) {
        const ExpertId id = ids[j];
        if (id > experts)
          fail_record(source, trace, layer, token, "expert id", std::to_string(id),
                      fmt::format("an id in [0, {}]", trace.num_experts() - 1));
        if (stamp[id] == record)
          fail_record(source, trace, layer, token, "experts", std::to_string(id),
                      "distinct experts in one token's top-k");
        stamp[id] = record;
      }
    }
  }
}

void check_gates(const Trace& trace, const std::string& source) {
  if (trace.gates.empty())
    return;
  check_column(source, "gates", trace.gates.size(), trace.experts.size());
  for (std::size_t i = 0; i < trace.gates.size(); ++i) {
    const float gate = trace.gates[i];
    if (valid_gate(gate))
      continue;
    const auto record = i / static_cast<std::size_t>(trace.top_k());
    fail_record(source, trace, static_cast<int>(record / trace.tokens), record % trace.tokens,
                "gate", fmt::format("{}", gate), kValidGate);
  }
}

}  // namespace

Trace make_trace(TraceShape shape, std::size_t tokens, std::string model) {
  require_trace_memory(tokens, shape, false, false, model.empty() ? "trace" : model);
  Trace trace;
  trace.model = std::move(model);
  trace.shape = std::move(shape);
  trace.tokens = tokens;
  trace.experts.assign(trace.records() * static_cast<std::size_t>(trace.top_k()), 0);
  trace.sequence.assign(tokens, 0);
  trace.position.resize(tokens);
  for (std::size_t t = 0; t < tokens; ++t)
    trace.position[t] = static_cast<std::uint32_t>(t);
  return trace;
}

void validate_shape(const TraceShape& shape, const std::string& source) {
  if (shape.layer_ids.empty())
    throw InputError({source, "layers", 0}, "0", "at least one MoE layer");
  for (std::size_t i = 0; i < shape.layer_ids.size(); ++i) {
    const int id = shape.layer_ids[i];
    if (id < 0 || (i > 0 && id <= shape.layer_ids[i - 1]))
      throw InputError({source, fmt::format("layer_ids[{}]", i), 0}, std::to_string(id),
                       "non-negative model layer indices in ascending order");
  }
  validate_choice_shape(shape, source);
}

void validate_choice_shape(const TraceShape& shape, const std::string& source) {
  if (shape.experts < 1 || shape.experts > core::kMaxRoutedExperts)
    throw InputError({source, "experts", 0}, std::to_string(shape.experts),
                     fmt::format("between 1 and {} routed experts", core::kMaxRoutedExperts));
  if (shape.top_k < 1 || shape.top_k > shape.experts)
    throw InputError({source, "top_k", 0}, std::to_string(shape.top_k),
                     fmt::format("between 1 and the expert count {}", shape.experts));
}

void validate(const Trace& trace, const std::string& source) {
  validate_shape(trace.shape, source);
  check_column(source, "experts", trace.experts.size(),
               trace.records() * static_cast<std::size_t>(trace.top_k()));
  check_column(source, "sequence", trace.sequence.size(), trace.tokens);
  check_column(source, "position", trace.position.size(), trace.tokens);
  if (!trace.domain.empty()) {
    check_column(source, "domain", trace.domain.size(), trace.tokens);
    const auto names = trace.domain_names.size();
    for (std::size_t t = 0; t < trace.tokens; ++t)
      if (trace.domain[t] >= names)
        throw InputError({source, fmt::format("token {}: domain", t), 0},
                         std::to_string(trace.domain[t]),
                         fmt::format("an index below the {} domain names", names));
  }
  check_choices(trace, source);
  check_gates(trace, source);
}

}  // namespace mozart::trace
