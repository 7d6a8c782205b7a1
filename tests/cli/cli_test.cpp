// Runs the real `mozart` binary: exit codes, one-line errors, and outputs that parse.
#include <array>
#include <cstdio>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct Result {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

std::string slurp(const std::string& path) {
  std::string text;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    std::array<char, 4096> buffer;
    size_t n;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0)
      text.append(buffer.data(), n);
    std::fclose(f);
  }
  return text;
}

std::string fmt_stem() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return "mozart_cli_" + std::to_string(::getpid()) + "_" + (info ? info->name() : "none");
}

Result run(const std::string& args) {
  namespace fs = std::filesystem;
  // Unique per process and test: ctest runs the tests of this binary in parallel.
  const std::string stem = fmt_stem();
  fs::path dir = fs::temp_directory_path();
  std::string out = (dir / (stem + ".out")).string();
  std::string err = (dir / (stem + ".err")).string();
  std::string command = std::string(MOZART_BINARY) + " " + args + " >" + out + " 2>" + err;
  int status = std::system(command.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

std::string data(const std::string& name) {
  return std::string(MOZART_TEST_DATA) + "/" + name;
}

int lines(const std::string& text) {
  return int(std::count(text.begin(), text.end(), '\n'));
}

TEST(Cli, ModelShowJsonPrintsTheFullSpec) {
  Result r = run("model show deepseek-v3 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["attention"]["kind"], "mla");
  EXPECT_EQ(j["experts"]["routed"], 256);
  EXPECT_EQ(j["dense_layers"].size(), 3u);
  EXPECT_GT(j["params"]["total"].get<double>(), 6.5e11);
}

TEST(Cli, HwShowPrintsEveryPart) {
  Result r = run("hw show mozart-nop-tree-ucie");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* part : {"expert15", "hbm_g3", "sw1_3", "multicast yes", "256 GB/s", "tree"}) {
    EXPECT_NE(r.out.find(part), std::string::npos) << part;
  }
  Result j = run("hw show wsc-mesh-8x8 --json");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  EXPECT_EQ(nlohmann::json::parse(j.out)["links"].size(), 112u);
}

TEST(Cli, ListsPresets) {
  EXPECT_EQ(nlohmann::json::parse(run("model list --json").out).size(), 10u);
  EXPECT_EQ(nlohmann::json::parse(run("hw list --json").out).size(), 8u);
}

TEST(Cli, HwCostPrintsAreaAndPowerBesideThePapers) {
  Result r = run("hw cost mozart-paper-olmoe --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const double total = j["area"]["total_mm2"].get<double>();
  EXPECT_GT(total, j["area"]["chiplets_mm2"].get<double>());
  EXPECT_GT(j["power_at_peak_rates"]["static_w"].get<double>(), 0);
  EXPECT_GT(j["power_at_peak_rates"]["dynamic_w"].get<double>(), 0);
  EXPECT_TRUE(j.contains("paper_table2"));
  Result text = run("hw cost mozart-paper-qwen3");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* part : {"area (mm2)", "paper Table 2", "static", "dynamic at peak rates"})
    EXPECT_NE(text.out.find(part), std::string::npos) << part;
  Result none = run("hw cost mozart-nop-tree-ucie");
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(lines(none.err), 1) << none.err;
  EXPECT_NE(none.err.find("technology"), std::string::npos) << none.err;
}

TEST(Cli, HwCostAtAStepStaysUnderThePeak) {
  Result r = run("hw cost mozart-paper-olmoe --model olmoe-1b-7b --policy C --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  const auto& step = j["power_at_step"];
  const auto& peak = j["power_at_peak_rates"];
  const double step_s = step["step_s"].get<double>();
  ASSERT_GT(step_s, 0);
  for (const char* part : {"compute_w", "sram_w", "memory_w", "link_w", "dynamic_w"}) {
    EXPECT_GE(step["power"][part].get<double>(), 0) << part;
    EXPECT_LE(step["power"][part].get<double>(), peak[part].get<double>() * (1 + 1e-9)) << part;
  }
  EXPECT_DOUBLE_EQ(step["power"]["static_w"].get<double>(), peak["static_w"].get<double>());
  EXPECT_NEAR(step["energy_j"].get<double>(), step["power"]["total_w"].get<double>() * step_s,
              1e-6 * step["energy_j"].get<double>());
  EXPECT_EQ(run("hw cost mozart-paper-olmoe --policy C").exit_code, 2);  // --policy needs --model
}

TEST(Cli, HwCheckAcceptsAValidFile) {
  Result r = run("hw check " + data("hw/valid.yaml"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ok"), std::string::npos);
}

TEST(Cli, BadHardwareFilesGetOneLineAndExitTwo) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"hw/malformed.yaml", "malformed"},
      {"hw/unknown_key.yaml", "unknown key 'rowz'"},
      {"hw/zero_bandwidth.yaml", "topology.link.bandwidth"},
      {"hw/disconnected.yaml", "connected topology"},
      {"hw/unattached.yaml", "no stack attached to n1"},
      {"hw/memory_on_missing_node.yaml", "got 'sw9'"},
      {"hw/memory_serving_nobody.yaml", "memories.spare.attach"},
      {"hw/missing.yaml", "a preset"},
  };
  for (const auto& [file, expect] : cases) {
    Result r = run("hw check " + data(file));
    EXPECT_EQ(r.exit_code, 2) << file;
    EXPECT_EQ(lines(r.err), 1) << file << ": " << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << file << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << file;
  }
}

TEST(Cli, ImportWritesAModelThatShowReads) {
  std::string out = (std::filesystem::temp_directory_path() /
                     ("mozart_cli_model_" + std::to_string(::getpid()) + ".yaml"))
                        .string();
  Result import = run("model import " + data("hf/qwen3_moe.json") + " -o " + out);
  ASSERT_EQ(import.exit_code, 0) << import.err;
  Result show = run("model show " + out + " --json");
  ASSERT_EQ(show.exit_code, 0) << show.err;
  Result preset = run("model show qwen3-30b-a3b --json");
  EXPECT_EQ(nlohmann::json::parse(show.out)["params"], nlohmann::json::parse(preset.out)["params"]);
}

TEST(Cli, BadModelsExitTwo) {
  for (const std::string& args : std::vector<std::string>{
           "model show no-such-model", "model import " + data("hf/llama_dense.json"),
           "model import " + data("hf/topk_too_large.json"),
           "model import " + data("hf/truncated.json"), "model cost olmoe-1b-7b --layer 99",
           "model cost olmoe-1b-7b --seq-len 0", "model frobnicate", "hw show"}) {
    Result r = run(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_FALSE(r.err.empty()) << args;
  }
}

TEST(Cli, CostJsonHasStepTotals) {
  Result r = run("model cost olmoe-1b-7b --seq-len 128 --sequences 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["step"]["total"]["flops"].get<double>(), 0);
  EXPECT_EQ(j["step"]["tokens"].get<double>(), 4 * 2 * 128);
}

TEST(Cli, NetCollectiveReportsTimeAndWritesATimeline) {
  std::string trace = (std::filesystem::temp_directory_path() /
                       ("mozart_cli_trace_" + std::to_string(::getpid()) + ".json"))
                          .string();
  Result r =
      run("net collective mozart-nop-tree-ucie --kind all-reduce-ring --bytes '4 MB' --json "
          "--timeline " +
          trace);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["time_s"].get<double>(), 0);
  EXPECT_EQ(j["flows"], 2 * 16 * 17);  // 2(n-1) steps of n flows, n = 17
  EXPECT_GT(nlohmann::json::parse(slurp(trace))["traceEvents"].size(), 100u);
  std::filesystem::remove(trace);
}

TEST(Cli, NetCollectiveRejectsBadInput) {
  for (const std::string& args :
       std::vector<std::string>{"net collective mozart-nop-tree-ucie --bytes lots",
                                "net collective mozart-nop-tree-ucie --kind gossip",
                                "net collective dgx-h100 --kind all-reduce-in-network",
                                "net collective mozart-nop-tree-ucie --efficiency 0"}) {
    Result r = run(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_EQ(lines(r.err), args.find("gossip") != std::string::npos ? 2 : 1) << args << r.err;
  }
}

std::string temp_file(const std::string& suffix) {
  return (std::filesystem::temp_directory_path() / (fmt_stem() + suffix)).string();
}

TEST(Cli, TraceGenThenStats) {
  const std::string path = temp_file(".mzt");
  Result gen = run("trace gen --model olmoe-1b-7b --tokens 2048 --seed 1 -o " + path);
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  Result stats = run("trace stats " + path + " --json");
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const auto j = nlohmann::json::parse(stats.out);
  EXPECT_EQ(j["tokens"], 2048);
  EXPECT_EQ(j["layers"].size(), 16u);
  const std::string jsonl = temp_file(".jsonl");
  ASSERT_EQ(run("trace convert " + path + " " + jsonl).exit_code, 0);
  Result info = run("trace info " + jsonl + " --json");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out)["experts"], 64);
  std::filesystem::remove(path);
  std::filesystem::remove(jsonl);
}

TEST(Cli, TraceRejectsBadFiles) {
  const std::string path = temp_file(".jsonl");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("{\"layer\": 0, \"token_idx\": 0, \"experts\": [1, 1]}\n", f);
    std::fclose(f);
  }
  Result r = run("trace stats " + path + " --experts 4");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("distinct"), std::string::npos) << r.err;
  Result missing = run("trace info /nonexistent/t.mzt");
  EXPECT_EQ(missing.exit_code, 2);
  std::filesystem::remove(path);
}

TEST(Cli, PlaceWritesAPlacementAndCompareListsEveryPlacer) {
  const std::string trace = temp_file(".mzt");
  const std::string placement = temp_file(".json");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 1024 -o " + trace).exit_code, 0);
  Result place =
      run("place --trace " + trace + " --hw mozart-nop-tree-ucie --placer mozart --refine -o " +
          placement + " --json");
  ASSERT_EQ(place.exit_code, 0) << place.err;
  const auto j = nlohmann::json::parse(place.out);
  EXPECT_LT(j["on_trace"]["copies_chiplets"].get<double>(), 8.0);
  Result eval = run("place eval --placement " + placement + " --trace " + trace + " --json");
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(eval.out)["copies_chiplets"].get<double>(),
                   j["on_trace"]["copies_chiplets"].get<double>());
  Result compare = run("place compare --trace " + trace + " --hw mozart-nop-tree-ucie --json");
  ASSERT_EQ(compare.exit_code, 0) << compare.err;
  EXPECT_EQ(nlohmann::json::parse(compare.out).size(), 8u);
  for (const std::string& args :
       {"place --trace " + trace + " --hw mozart-nop-tree-ucie --placer best -o " + placement,
        "place --trace " + trace + " --hw mozart-nop-tree-ucie --slots 2 -o " + placement,
        "place --trace " + trace + " --hw mozart-nop-tree-ucie --chiplet-balance 1.01 -o " +
            placement,
        "place --trace " + trace + " --hw mozart-nop-tree-ucie"}) {
    Result bad = run(args);
    EXPECT_EQ(bad.exit_code, 2) << args << ": " << bad.err;
    EXPECT_EQ(lines(bad.err), 1) << bad.err;
  }
  // DeepSeek-V3's experts cannot fit the NoP-Tree's HBM: bad input, not a number.
  ASSERT_EQ(run("trace gen --model deepseek-v3 --tokens 16 -o " + trace).exit_code, 0);
  Result memory = run("place --trace " + trace + " --hw mozart-nop-tree-ucie -o " + placement);
  EXPECT_EQ(memory.exit_code, 2);
  EXPECT_NE(memory.err.find("expert weights"), std::string::npos) << memory.err;
  std::filesystem::remove(trace);
  std::filesystem::remove(placement);
}

TEST(Cli, SimulateWritesASummaryAndATimeline) {
  const std::string summary = temp_file(".json");
  const std::string timeline = temp_file(".trace.json");
  const std::string args =
      "simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --policy C --sequences 4 "
      "--micro-batches 2 --seq-len 64 -o " +
      summary + " --timeline " + timeline;
  Result r = run(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("lower bound"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(slurp(summary));
  EXPECT_GE(j["step_s"].get<double>(), j["lower_bound"]["bound_s"].get<double>());
  EXPECT_LT(j["copies_per_token"].get<double>(), 8.0);
  EXPECT_EQ(j["chiplets"].size(), 17u);
  EXPECT_EQ(j["batch"]["optimizer_schedule"], "per-layer");
  EXPECT_EQ(j["batch"]["gradient_precision"], "fp32");
  for (const char* what : {"communication", "memory", "compute"})
    EXPECT_GE(j["lost_to"][what]["lost_s"].get<double>(), -1e-9 * j["step_s"].get<double>());
  EXPECT_TRUE(nlohmann::json::parse(slurp(timeline)).contains("traceEvents"));
  // Same inputs, same bytes.
  const std::string first = slurp(summary);
  ASSERT_EQ(run(args).exit_code, 0);
  EXPECT_EQ(slurp(summary), first);
  std::filesystem::remove(summary);
  std::filesystem::remove(timeline);
}

TEST(Cli, SimulateTakesTheScheduleOptions) {
  Result r =
      run("simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --policy A --sequences 2 "
          "--micro-batches 2 --seq-len 32 --optimizer end-of-step --grad-precision bf16 "
          "--no-resimulate --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["batch"]["optimizer_schedule"], "end-of-step");
  EXPECT_EQ(j["batch"]["gradient_precision"], "bf16");
  EXPECT_FALSE(j.contains("lost_to"));
  EXPECT_GT(j["lower_bound"]["optimizer_s"].get<double>(), 0);
}

TEST(Cli, SimulateRejectsWhatCannotRun) {
  const std::string placement = temp_file(".json");
  const std::string trace = temp_file(".mzt");
  ASSERT_EQ(run("trace gen --model deepseek-moe-16b --tokens 1024 -o " + trace).exit_code, 0);
  ASSERT_EQ(run("place --trace " + trace + " --hw mozart-nop-tree-ucie -o " + placement).exit_code,
            0);
  const std::string small = " --sequences 2 --micro-batches 2 --seq-len 64";
  for (const auto& [args, says] : std::vector<std::pair<std::string, std::string>>{
           {"simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --policy D", "policy"},
           {"simulate --model mixtral-8x22b --hw mozart-nop-tree-ucie --policy A" + small,
            "does not fit"},
           {"simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --placement " + placement +
                small,
            "olmoe-1b-7b"},
           {"simulate --model olmoe-1b-7b --hw mozart-mesh --policy B" + small, "switch"},
           {"simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --sequences 3", "divisible"}}) {
    Result bad = run(args);
    EXPECT_EQ(bad.exit_code, 2) << args << ": " << bad.err;
    EXPECT_EQ(lines(bad.err), 1) << bad.err;
    EXPECT_NE(bad.err.find(says), std::string::npos) << bad.err;
  }
  std::filesystem::remove(placement);
  std::filesystem::remove(trace);
}

TEST(Cli, ReproduceMozartPrintsItsTable) {
  Result r = run("reproduce mozart --quick --models olmoe-1b-7b --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  // baseline, A, B, C and C with the all-to-all overlapped, on the paper's hardware.
  ASSERT_EQ(j["rows"].size(), 5u);
  EXPECT_EQ(j["rows"][0]["policy"], "baseline");
  EXPECT_EQ(j["rows"][3]["policy"], "C");
  for (const auto& row : j["rows"]) {
    EXPECT_EQ(row["hardware"], "mozart-paper-olmoe");
    EXPECT_GE(row["step_over_bound"].get<double>(), 1.0);
    EXPECT_GE(row["speedup"].get<double>(), 1.0);  // no policy is slower than the baseline
    if (row["policy"].get<std::string>().find("overlap-a2a") != std::string::npos)
      continue;  // beyond the paper: not re-simulated
    for (const char* lost : {"lost_communication_s", "lost_memory_s", "lost_compute_s"}) {
      ASSERT_TRUE(row.contains(lost)) << lost;
      // Not below zero but for scheduling anomalies: freeing one resource reorders the rest.
      EXPECT_GE(row[lost].get<double>(), -0.01 * row["step_s"].get<double>()) << lost;
    }
  }
}

TEST(Cli, HelpAndVersionExitZero) {
  EXPECT_EQ(run("--help").exit_code, 0);
  EXPECT_EQ(run("--version").exit_code, 0);
  EXPECT_EQ(run("model cost --help").exit_code, 0);
}

// ---- Trace I/O: bounded allocations, memory estimates, empty traces (issue 13) ----

void write_text(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  ASSERT_NE(f, nullptr) << path;
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

TEST(Cli, TraceGenRefusesATraceOverTheMemoryLimitWithTheEstimate) {
  const std::string path = temp_file(".mzt");
  // deepseek-v3: 58 MoE layers, top-8; 2^32 tokens with gates and domains need ~10.9 TiB.
  Result r = run("trace gen --model deepseek-v3 --tokens 4294967296 -o " + path);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("4294967296 tokens × 58 layers × top-8 with gates needing 10.9 TiB"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("MOZART_MEMORY_LIMIT"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Cli, TraceReadersBoundTokenIndicesByTheRecords) {
  const std::string path = temp_file(".jsonl");
  write_text(path,
             "{\"layer\": 0, \"token_idx\": 0, \"experts\": [1, 2]}\n"
             "{\"layer\": 0, \"token_idx\": 1000000000, \"experts\": [1, 2]}\n");
  Result r = run("trace info " + path + " --experts 4");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(path + ":2: field 'token_idx': got '1000000000', expected a token index "
                              "below 2"),
            std::string::npos)
      << r.err;
  std::filesystem::remove(path);
}

TEST(Cli, TraceEmptyFilesAreRefusedAlikeInEveryFormat) {
  const std::string jsonl = temp_file(".jsonl"), csv = temp_file(".csv");
  write_text(jsonl, "");
  write_text(csv, "token,layer,e0\n");
  for (const auto& path : {jsonl, csv}) {
    Result r = run("trace info " + path + " --experts 4");
    EXPECT_EQ(r.exit_code, 2) << path;
    EXPECT_NE(r.err.find(path + ": field 'records': got 'none', expected at least one token (a "
                                "trace without records is refused in every format)"),
              std::string::npos)
        << r.err;
  }
  for (const auto& path : {jsonl, csv})
    std::filesystem::remove(path);
}

// ---- Hardening of hardware, model and placement inputs (issue 13: hw-model-place) ----

const char* kOneChiplet = R"(name: one
clock: 1 GHz
chiplet_kinds:
  c: {peak_flops: {bf16: 1 TFLOP/s}, array: {rows: 8, cols: 8, count: 1}, sram: {capacity: 1 MiB, bandwidth: 10 GB/s}}
chiplets: [{name: n, kind: c, count: 1}]
memories: [{name: m, kind: dram, capacity: 1 GiB, bandwidth: 10 GB/s, attach: [n]}]
topology: {kind: mesh, rows: 1, cols: 1, nodes: n, link: {bandwidth: 10 GB/s}}
)";

TEST(CliHardening, OneChipletCollectivesAreEmptyAndTakeNoTime) {
  const std::string hw = temp_file(".yaml");
  write_text(hw, kOneChiplet);
  ASSERT_EQ(run("hw check " + hw).exit_code, 0);
  for (const char* kind : {"all-to-all", "all-gather", "reduce-scatter", "broadcast",
                           "all-reduce-ring", "all-reduce-tree", "all-reduce-in-network"}) {
    Result r = run("net collective " + hw + " --kind " + kind + " --bytes '1 MB' --json");
    ASSERT_EQ(r.exit_code, 0) << kind << ": " << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["flows"], 0) << kind;
    EXPECT_EQ(j["time_s"], 0.0) << kind;
  }
  std::filesystem::remove(hw);
}

TEST(CliHardening, DuplicateKeysAndOutOfRangeQuantitiesAreRefused) {
  const std::string hw = temp_file(".yaml");
  write_text(hw, std::string(kOneChiplet) + "clock: 2 GHz\n");
  Result dup = run("hw check " + hw);
  EXPECT_EQ(dup.exit_code, 2);
  EXPECT_EQ(lines(dup.err), 1) << dup.err;
  EXPECT_NE(dup.err.find("key 'clock' again (first on line 2)"), std::string::npos) << dup.err;
  std::string huge = kOneChiplet;
  huge.replace(huge.find("10 GB/s, attach"), 7, "1e308 TB/s");
  write_text(hw, huge);
  Result r = run("hw check " + hw);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("field 'memories.m.bandwidth'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("at most 1000 TB/s"), std::string::npos) << r.err;
  std::filesystem::remove(hw);
}

TEST(CliHardening, PlacementFilesMustMatchWhatTheyAreUsedWith) {
  const std::string olmoe = temp_file(".olmoe.mzt");
  const std::string qwen = temp_file(".qwen.mzt");
  const std::string placement = temp_file(".json");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 256 -o " + olmoe).exit_code, 0);
  ASSERT_EQ(run("trace gen --model qwen3-30b-a3b --tokens 256 -o " + qwen).exit_code, 0);
  ASSERT_EQ(run("place --trace " + olmoe + " --hw mozart-nop-tree-ucie --placer contiguous -o " +
                placement)
                .exit_code,
            0);
  // A placement for OLMoE (64 experts) measured on a Qwen3 trace (128).
  Result other = run("place eval --placement " + placement + " --trace " + qwen);
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_EQ(lines(other.err), 1) << other.err;
  EXPECT_NE(other.err.find(placement + ": field 'experts': got '64'"), std::string::npos)
      << other.err;
  // ... and simulated on other hardware.
  Result sim =
      run("simulate --model olmoe-1b-7b --hw wsc-mesh-8x8 --policy C --sequences 2 "
          "--micro-batches 1 --seq-len 32 --placement " +
          placement);
  EXPECT_EQ(sim.exit_code, 2);
  EXPECT_NE(sim.err.find("layout.chiplets"), std::string::npos) << sim.err;
  // A chiplet index of 1.5: a non-integer, said so, without a json exception's text.
  std::string text = slurp(placement);
  const auto at = text.find("\"chiplets_of\"");
  ASSERT_NE(at, std::string::npos) << text.substr(0, 400);
  text.insert(text.find_first_of("0123456789", at), "1.5, ");
  write_text(placement, text);
  Result fraction = run("place eval --placement " + placement + " --trace " + olmoe);
  EXPECT_EQ(fraction.exit_code, 2);
  EXPECT_NE(fraction.err.find("'1.5', expected an integer"), std::string::npos) << fraction.err;
  EXPECT_EQ(fraction.err.find("json.exception"), std::string::npos) << fraction.err;
  for (const auto& f : {olmoe, qwen, placement})
    std::filesystem::remove(f);
}

TEST(CliHardening, ReplicasThatCannotBePlacedAreAnError) {
  const std::string trace = temp_file(".mzt");
  const std::string placement = temp_file(".json");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 256 -o " + trace).exit_code, 0);
  // 16 expert chiplets x 4 slots hold the 64 experts and not one replica more.
  Result r = run("place --trace " + trace +
                 " --hw mozart-nop-tree-ucie --placer balanced --replicas 8 -o " + placement);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("at most the 0 free slots"), std::string::npos) << r.err;
  EXPECT_EQ(run("place --trace " + trace +
                " --hw mozart-nop-tree-ucie --placer balanced "
                "--replicas 8 --slots 5 -o " +
                placement)
                .exit_code,
            0);
  std::filesystem::remove(trace);
  std::filesystem::remove(placement);
}

}  // namespace
