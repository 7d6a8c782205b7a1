// Speed of the trace stage (issue targets: native reads of at least 50M (token, layer) records
// per second, JSONL reads and writes of at least 2M, priors for 1M tokens × 48 layers × top-8
// in under 10 s, `trace gen --like` of 1M tokens × 16 layers in under 10 s on one core).
#include <filesystem>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include "mozart/core/random.hpp"
#include "mozart/trace/formats.hpp"
#include "mozart/trace/generator.hpp"
#include "mozart/trace/like.hpp"
#include "mozart/trace/priors.hpp"

namespace {

using namespace mozart::trace;

// A trace filled fast with distinct ids (the generator's realism does not change these costs).
Trace filled(std::size_t tokens, int layers, int experts, int k) {
  std::vector<int> ids(static_cast<std::size_t>(layers));
  for (int l = 0; l < layers; ++l)
    ids[static_cast<std::size_t>(l)] = l;
  Trace t = make_trace({ids, experts, k}, tokens, "bench");
  mozart::core::Rng rng(1);
  for (std::size_t r = 0; r < t.records(); ++r) {
    const auto base = rng.below(static_cast<std::uint64_t>(experts));
    const auto stride = 1 + 2 * rng.below(static_cast<std::uint64_t>(experts / 2 - 1));  // odd
    for (int j = 0; j < k; ++j)
      t.experts[r * static_cast<std::size_t>(k) + static_cast<std::size_t>(j)] =
          static_cast<ExpertId>((base + static_cast<std::uint64_t>(j) * stride) %
                                static_cast<std::uint64_t>(experts));
  }
  return t;
}

std::string temp_path(const char* suffix) {
  return (std::filesystem::temp_directory_path() /
          ("mozart_bench_" + std::to_string(::getpid()) + suffix))
      .string();
}

void BM_NativeRead(benchmark::State& state) {
  const Trace t = filled(200'000, 48, 128, 8);
  const std::string path = temp_path(".mzt");
  write_trace(t, path);
  for (auto _ : state)
    benchmark::DoNotOptimize(read_trace(path).experts.data());
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(t.records()),
                                                   benchmark::Counter::kIsIterationInvariantRate);
  std::filesystem::remove(path);
}
BENCHMARK(BM_NativeRead)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// A 16-layer, top-8 trace of 50,000 tokens: 800,000 records, with gates when `gates`.
Trace text_bench_trace(bool gates) {
  mozart::trace::GeneratorParams p;
  p.gates = gates;
  return generate({{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, 64, 8}, 50'000, p, 1);
}

std::string text_path(Format format) {
  return temp_path(format == Format::jsonl ? ".jsonl" : ".csv");
}

// Records per second and the file's size; then the file goes.
void report(benchmark::State& state, const Trace& t, const std::string& path) {
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(t.records()),
                                                   benchmark::Counter::kIsIterationInvariantRate);
  state.counters["MB"] = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
  std::filesystem::remove(path);
}

// Args: format (1 JSONL, 3 CSV, as Format's values), gates (0, 1).
void text_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"format", "gates"})->Args({1, 0})->Args({1, 1})->Args({3, 0})->Args({3, 1});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
}

void BM_TextRead(benchmark::State& state) {
  const auto format = static_cast<Format>(state.range(0));
  const Trace t = text_bench_trace(state.range(1) != 0);
  const std::string path = text_path(format);
  write_trace(t, path);
  for (auto _ : state)
    benchmark::DoNotOptimize(read_trace(path).experts.data());
  report(state, t, path);
}
BENCHMARK(BM_TextRead)->Apply(text_args);

// Streamed to a file and renamed into place, as `trace gen` and `trace convert` write. Each
// round writes a new file (the last one removed, untimed): renaming over an existing file makes
// ext4 (its auto_da_alloc default) start writing the whole new file to disk inside rename(),
// some 0.15-0.25 s for this 200 MB file on the build machine, which is the file system's price
// for a safe replace, paid the same by any writer, and not the writer's speed.
void BM_TextWrite(benchmark::State& state) {
  const auto format = static_cast<Format>(state.range(0));
  const Trace t = text_bench_trace(state.range(1) != 0);
  const std::string path = text_path(format);
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove(path);
    state.ResumeTiming();
    write_trace(t, path);
  }
  report(state, t, path);
}
BENCHMARK(BM_TextWrite)->Apply(text_args);

void BM_Priors(benchmark::State& state) {
  const auto tokens = static_cast<std::size_t>(state.range(0));
  const Trace t = filled(tokens, 48, 128, 8);
  for (auto _ : state)
    benchmark::DoNotOptimize(compute_priors(t).layers.data());
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(t.records()),
                                                   benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Priors)->Arg(1'000'000)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

void BM_Generate(benchmark::State& state) {
  std::vector<int> layers(48);
  for (int l = 0; l < 48; ++l)
    layers[static_cast<std::size_t>(l)] = l;
  for (auto _ : state)
    benchmark::DoNotOptimize(generate({layers, 128, 8}, 100'000, {}, 1).experts.data());
  state.counters["records/s"] =
      benchmark::Counter(100'000.0 * 48, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Generate)->Unit(benchmark::kMillisecond)->UseRealTime();

// A short trace of a balanced law of DeepSeek-V3's shape (58 MoE layers, top-8 of 256): mostly
// the law's structure, each layer's balancing bias fitted, on every hardware thread. Each
// iteration draws from a law of its own (another structure seed), so none is kept from before.
void BM_GenerateBalancedLaw(benchmark::State& state) {
  std::vector<int> layers(58);
  for (int l = 0; l < 58; ++l)
    layers[static_cast<std::size_t>(l)] = l + 3;
  GeneratorParams p;
  p.balanced = true;
  p.skew = 0.02;
  for (auto _ : state) {
    ++p.structure_seed;
    benchmark::DoNotOptimize(generate({layers, 256, 8}, 256, p, 1).experts.data());
  }
}
BENCHMARK(BM_GenerateBalancedLaw)->Unit(benchmark::kMillisecond)->UseRealTime();

// `trace gen --like` as the command runs it: fit a 16-layer OLMoE-shaped source (100,000 tokens
// of the parametric law, sticky topics, gates) and draw 1M tokens from the fit.
void BM_Like(benchmark::State& state) {
  std::vector<int> layers(16);
  for (int l = 0; l < 16; ++l)
    layers[static_cast<std::size_t>(l)] = l;
  const Trace source = generate({layers, 64, 8}, 100'000, {}, 1);
  const auto tokens = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    const auto law = fit_like(source, "bench");
    benchmark::DoNotOptimize(generate_like(law, tokens, 2).experts.data());
  }
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(tokens) * 16,
                                                   benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_Like)->Arg(1'000'000)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

// The draw alone, from a law fitted once.
void BM_LikeDraw(benchmark::State& state) {
  std::vector<int> layers(16);
  for (int l = 0; l < 16; ++l)
    layers[static_cast<std::size_t>(l)] = l;
  const auto law = fit_like(generate({layers, 64, 8}, 100'000, {}, 1), "bench");
  const auto tokens = static_cast<std::size_t>(state.range(0));
  for (auto _ : state)
    benchmark::DoNotOptimize(generate_like(law, tokens, 2).experts.data());
  state.counters["records/s"] = benchmark::Counter(static_cast<double>(tokens) * 16,
                                                   benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_LikeDraw)->Arg(250'000)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace
