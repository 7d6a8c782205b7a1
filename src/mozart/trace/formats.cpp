#include "mozart/trace/formats.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/trace/format_detail.hpp"

namespace mozart::trace {
namespace {

using core::InputError;

constexpr std::pair<std::string_view, Format> kExtensions[] = {
    {".mzt", Format::native},   {".bin", Format::native}, {".jsonl", Format::jsonl},
    {".ndjson", Format::jsonl}, {".npy", Format::npy},    {".csv", Format::csv}};

}  // namespace

std::string_view to_string(Format format) {
  switch (format) {
    case Format::native:
      return "native";
    case Format::jsonl:
      return "jsonl";
    case Format::npy:
      return "npy";
    case Format::csv:
      return "csv";
  }
  return "?";
}

std::optional<Format> parse_format(std::string_view name) {
  for (auto format : {Format::native, Format::jsonl, Format::npy, Format::csv})
    if (name == to_string(format))
      return format;
  return std::nullopt;
}

Format format_of_path(const std::string& path) {
  const auto extension = std::filesystem::path(path).extension().string();
  for (const auto& [suffix, format] : kExtensions)
    if (extension == suffix)
      return format;
  throw InputError({path, "format", 0}, extension.empty() ? "(no extension)" : extension,
                   "an extension .mzt, .bin, .jsonl, .ndjson, .npy or .csv, or --format");
}

namespace {

// The text formats' records are checked as the assembler takes them, each error naming its line:
// what they return needs no second pass.
bool checked_while_read(Format format) {
  return format == Format::jsonl || format == Format::csv;
}

// Completes and checks what a reader returned; every format refuses an empty trace alike.
Trace finish(Trace trace, Format format, const ReadOptions& options, const std::string& source) {
  if (trace.tokens == 0)
    detail::fail_empty(source);
  if (!options.model.empty() && trace.model.empty())
    trace.model = options.model;
  if (!checked_while_read(format))
    validate(trace, source);
  return trace;
}

Trace read_input(detail::Input input, Format format, const ReadOptions& options) {
  if (!options.fields.empty() && format != Format::jsonl)
    throw core::InputError({input.source(), "--fields", 0}, std::string(to_string(format)),
                           "a JSONL file (field names map JSONL records only)");
  switch (format) {
    case Format::native:
      return detail::read_native(input, options.progress);
    case Format::npy:
      return detail::read_npy(input, options);
    case Format::jsonl: {
      detail::LineChunks lines(std::move(input));
      return detail::read_jsonl(lines, options);
    }
    case Format::csv: {
      detail::LineChunks lines(std::move(input));
      return detail::read_csv(lines, options);
    }
  }
  return {};
}

void write_to(const Trace& trace, Format format, detail::Sink& sink, const Progress& progress) {
  switch (format) {
    case Format::native:
      return detail::write_native(trace, sink, progress);
    case Format::jsonl:
      return detail::write_jsonl(trace, sink, progress);
    case Format::npy:
      return detail::write_npy(trace, sink, progress);
    case Format::csv:
      return detail::write_csv(trace, sink, progress);
  }
}

}  // namespace

Trace parse_trace(std::string_view bytes, Format format, const ReadOptions& options,
                  const std::string& source) {
  return finish(read_input(detail::Input::of_bytes(bytes, source), format, options), format,
                options, source);
}

Trace read_trace(const std::string& path, const ReadOptions& options) {
  const Format format = options.format ? *options.format : format_of_path(path);
  return finish(read_input(detail::Input::of_file(path), format, options), format, options, path);
}

std::string serialise_trace(const Trace& trace, Format format) {
  std::string out;
  detail::StringSink sink(out);
  write_to(trace, format, sink, {});
  return out;
}

void write_trace(const Trace& trace, const std::string& path, std::optional<Format> format,
                 const Progress& progress) {
  const Format chosen = format ? *format : format_of_path(path);
  detail::FileSink sink(path);
  write_to(trace, chosen, sink, progress);
  sink.commit();
}

namespace detail {

nlohmann::json metadata(const Trace& trace) {
  return {{"mozart_trace", kNativeVersion},     {"model", trace.model},
          {"experts", trace.num_experts()},     {"top_k", trace.top_k()},
          {"layer_ids", trace.shape.layer_ids}, {"domains", trace.domain_names}};
}

void apply_metadata(const nlohmann::json& meta, Trace& trace, const std::string& source) {
  const auto field = [&](const char* key) -> const nlohmann::json& {
    if (!meta.is_object() || !meta.contains(key))
      throw InputError({source, fmt::format("metadata.{}", key), 0}, "(missing)",
                       "mozart's trace metadata");
    return meta.at(key);
  };
  try {
    trace.model = field("model").get<std::string>();
    trace.shape.experts = field("experts").get<int>();
    trace.shape.top_k = field("top_k").get<int>();
    trace.shape.layer_ids = field("layer_ids").get<std::vector<int>>();
    trace.domain_names = field("domains").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw InputError({source, "metadata", 0}, meta.dump().substr(0, 120),
                     fmt::format("fields of the right types ({})", e.what()));
  }
  validate_shape(trace.shape, source);
}

TraceShape resolve_shape(const TraceShape& observed, const TraceShape& hint,
                         const std::string& source) {
  TraceShape shape = observed;
  if (hint.top_k > 0 && observed.top_k > 0 && hint.top_k != observed.top_k)
    throw InputError({source, "top_k", 0}, std::to_string(observed.top_k),
                     fmt::format("{} experts per token, as given", hint.top_k));
  if (shape.top_k == 0)
    shape.top_k = hint.top_k;
  if (hint.experts > 0 && observed.experts > 0 && hint.experts != observed.experts)
    throw InputError({source, "experts", 0}, std::to_string(observed.experts),
                     fmt::format("{} routed experts, as given", hint.experts));
  if (shape.experts == 0)
    shape.experts = hint.experts;
  if (shape.experts == 0)
    throw InputError({source, "experts", 0}, "(not recorded in this file)",
                     "the routed expert count from --experts or --model");
  return shape;
}

}  // namespace detail
}  // namespace mozart::trace
