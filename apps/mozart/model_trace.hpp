// What a zoo model tells the trace readers and the generator: its MoE layers, routed experts
// and top-k. Shared by the commands that read or make traces: they fill what a foreign trace
// leaves out, check a trace against the model the user named, and bound what a generated
// trace would take in memory before making it. ReadFlags declares the options with which every
// command that reads a trace reads it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "options.hpp"
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mozart/core/error.hpp"
#include "mozart/core/limits.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/study/setup.hpp"
#include "mozart/trace/formats.hpp"

namespace mozart::cli {

// 2^32 expert choices (tokens x MoE layers x top-k, 2 bytes each plus the per-token columns):
// about 8 GB, beyond which a generated trace is surely a typo.
inline constexpr std::size_t kMaxTraceChoices = std::size_t{1} << 32;

inline trace::TraceShape model_shape(const model::MoeModel& m) {
  return {m.moe_layers(), m.routed_experts, m.top_k};
}

// Read options that fill what a foreign trace format leaves out from the model.
inline trace::ReadOptions read_options_for(const model::MoeModel& m) {
  trace::ReadOptions options;
  options.hint = model_shape(m);
  options.model = m.name;
  return options;
}

// A trace read for a model the user named must be of that model's shape: --model is used,
// never silently ignored.
// A trace may hold some of the model's MoE layers (measured routing often samples a few), but
// each must be one of them, with the model's experts and top-k.
inline void check_trace_fits_model(const trace::Trace& t, const model::MoeModel& m,
                                   const std::string& source) {
  const trace::TraceShape shape = model_shape(m);
  const auto& ids = shape.layer_ids;
  const bool layers_fit =
      std::all_of(t.shape.layer_ids.begin(), t.shape.layer_ids.end(),
                  [&](int id) { return std::binary_search(ids.begin(), ids.end(), id); });
  if (layers_fit && t.num_experts() == shape.experts && t.top_k() == shape.top_k)
    return;
  throw core::InputError(
      {source, "shape", 0},
      fmt::format("{} MoE layers, {} experts, top-{}", t.layers(), t.num_experts(), t.top_k()),
      fmt::format("layers among the {} MoE layers of --model {}, {} experts, top-{}", ids.size(),
                  m.name, shape.experts, shape.top_k));
}

// The options every command that reads a trace shares: what foreign formats leave out. Each such
// command declares them with add_to, so that what errors and docs/traces.md point users to
// (--experts, --top-k, --fields, ...) is accepted wherever a trace is read.
struct ReadFlags {
  std::string format;
  std::string model;
  int experts = 0;
  int top_k = 0;
  std::vector<std::string> fields;  // ROLE=FIELD
  bool drop_incomplete = false;

  // `with_model`: false where the command declares its own --model (set `model` from it, or
  // read through for_model); `with_format`: false where --format names an output's format.
  void add_to(CLI::App* cmd, bool with_model = true, bool with_format = true) {
    if (with_format)
      cmd->add_option("--format", format,
                      "Input trace format: native, jsonl, npy, csv (default: extension)");
    if (with_model)
      cmd->add_option("--model", model, "Zoo model or model file: experts, top-k and MoE layers");
    cmd->add_option("--experts", experts, "Routed experts per layer (for files that omit it)")
        ->check(whole(1, core::kMaxRoutedExperts));
    cmd->add_option("--top-k", top_k, "Experts per token (to take from router logits)")
        ->check(whole(1, core::kMaxRoutedExperts));
    cmd->add_option("--fields", fields,
                    "JSONL field names by role, e.g. token=tok,layer=l,experts=ids,gates=probs "
                    "(roles: token, layer, experts, gates, logits, sequence, position, domain)")
        ->delimiter(',');
    cmd->add_flag("--drop-incomplete", drop_incomplete,
                  "JSONL, CSV: keep the tokens with a record at every layer instead of refusing "
                  "missing records (the dropped ones are reported)");
  }

  // These flags for the --model a command declares itself.
  ReadFlags for_model(const std::string& name) const {
    ReadFlags flags = *this;
    flags.model = name;
    return flags;
  }

  // Refuses these options when the command reads no trace (`reads` false): they would be
  // ignored. `source` names the option that makes it read one, e.g. "--like".
  void check_used(bool reads, const std::string& command, const std::string& source) const {
    const auto unused = [&](bool given, const char* option, const std::string& value) {
      if (given && !reads)
        throw core::InputError(
            {command, option, 0}, value,
            fmt::format("{} only with {} (it reads no trace without it)", option, source));
    };
    unused(!format.empty(), "--format", format);
    unused(experts > 0, "--experts", std::to_string(experts));
    unused(top_k > 0, "--top-k", std::to_string(top_k));
    unused(!fields.empty(), "--fields", fmt::format("{}", fmt::join(fields, ",")));
    unused(drop_incomplete, "--drop-incomplete", "(given)");
  }

  // The trace at `path`, checked against --model when one is given.
  trace::Trace read(const std::string& path, const trace::Progress& progress = {}) const {
    trace::ReadOptions o = options();
    o.progress = progress;
    trace::Trace t = trace::read_trace(path, o);
    if (!model.empty())
      check_trace_fits_model(t, model::load_model(model), path);
    return t;
  }

  trace::ReadOptions options() const {
    trace::ReadOptions o =
        model.empty() ? trace::ReadOptions{} : read_options_for(model::load_model(model));
    if (!format.empty()) {
      o.format = trace::parse_format(format);
      if (!o.format)
        throw core::InputError({"--format", "format", 0}, format, "native, jsonl, npy or csv");
    }
    if (experts > 0)
      o.hint.experts = experts;
    if (top_k > 0)
      o.hint.top_k = top_k;
    o.drop_incomplete = drop_incomplete;
    o.report = [](const std::string& note) { fmt::print(stderr, "mozart: note: {}\n", note); };
    for (const auto& mapping : fields)
      add_field(o.fields, mapping);
    return o;
  }

 private:
  // One ROLE=FIELD of --fields: each role mapped once and each field to one role, since a
  // second mapping would silently replace the first or read one field as two roles.
  static void add_field(std::map<std::string, std::string>& mapped, const std::string& mapping) {
    const auto eq = mapping.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == mapping.size())
      throw core::InputError({"--fields", "mapping", 0}, mapping,
                             "ROLE=FIELD, e.g. token=tok,layer=l,experts=ids,gates=probs");
    const std::string role = mapping.substr(0, eq), field = mapping.substr(eq + 1);
    if (mapped.count(role))
      throw core::InputError(
          {"--fields", "mapping", 0}, mapping,
          fmt::format("each role once ({}={} is given already)", role, mapped.at(role)));
    for (const auto& [other, name] : mapped)
      if (name == field)
        throw core::InputError(
            {"--fields", "mapping", 0}, mapping,
            fmt::format("each field for one role ({}={} is given already)", other, name));
    mapped.emplace(role, field);
  }
};

// Refuses, before any work, a generated trace too large for memory.
inline void check_generated_size(const model::MoeModel& m, std::size_t tokens,
                                 const core::InputLocation& where) {
  const std::size_t per_token = m.moe_layers().size() * std::size_t(m.top_k);
  if (per_token == 0 || tokens <= kMaxTraceChoices / per_token)
    return;
  throw core::InputError(where, fmt::format("{} tokens", tokens),
                         fmt::format("at most {} tokens of {} ({} expert choices each; at most "
                                     "2^32 choices in a generated trace)",
                                     kMaxTraceChoices / per_token, m.name, per_token));
}

// Says on stderr when the routing `command` drew from the model's family law borrows another
// family's values (study::family_law_warnings). Called once the work is done, so that an error
// stays the one line.
inline void warn_of_family_law(const std::string& command, const model::MoeModel& m) {
  for (const auto& warning : study::family_law_warnings(m))
    fmt::print(stderr, "mozart: warning: {}: {}\n", command, warning);
}

}  // namespace mozart::cli
