// Runs the real `mozart` binary: exit codes, one-line errors, and outputs that parse.
#include <array>
#include <cstdio>
#include <filesystem>
#include <regex>
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

// `prefix` wraps the command, e.g. "timeout 20" for a run that could hang.
Result run(const std::string& args, const std::string& prefix = "") {
  namespace fs = std::filesystem;
  // Unique per process and test: ctest runs the tests of this binary in parallel.
  const std::string stem = fmt_stem();
  fs::path dir = fs::temp_directory_path();
  std::string out = (dir / (stem + ".out")).string();
  std::string err = (dir / (stem + ".err")).string();
  std::string command =
      prefix + " " + std::string(MOZART_BINARY) + " " + args + " >" + out + " 2>" + err;
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
  EXPECT_EQ(nlohmann::json::parse(run("model list --json").out).size(), 15u);
  EXPECT_EQ(nlohmann::json::parse(run("hw list --json").out).size(), 9u);
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
  EXPECT_TRUE(step.contains("memory_fits"));
  EXPECT_EQ(run("hw cost mozart-paper-olmoe --policy C").exit_code, 2);  // --policy needs --model
  EXPECT_EQ(run("hw cost mozart-paper-olmoe --weights-may-overflow").exit_code, 2);
}

// The memory rule of `simulate`: weights that overfill their stacks are refused unless the
// user asks to simulate them anyway, and then the power says the step does not fit.
TEST(Cli, HwCostAtAStepKeepsSimulatesMemoryRule) {
  const Result refused = run("hw cost mozart-paper-qwen3 --model qwen3-30b-a3b");
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_EQ(lines(refused.err), 1) << refused.err;
  EXPECT_NE(refused.err.find("does not fit"), std::string::npos) << refused.err;
  const Result r =
      run("hw cost mozart-paper-qwen3 --model qwen3-30b-a3b --weights-may-overflow --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["power_at_step"]["memory_fits"], false);
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
    EXPECT_EQ(lines(r.err), 1) << args << r.err;
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

TEST(Cli, TraceGenSaysWhenTheFamilysLawComesFromAnotherFamily) {
  const std::string path = temp_file(".mzt");
  // DeepSeek-V3's law is bias-balanced with OLMoE's topics: said on stderr, not refused.
  Result r = run("trace gen --model deepseek-v3 --tokens 512 -o " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("loss-free-bias"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("olmoe-1b-7b"), std::string::npos) << r.err;
  // OLMoE and Mixtral have laws calibrated on their own routing.
  for (const char* own : {"olmoe-1b-7b", "mixtral-8x7b"}) {
    r = run(std::string("trace gen --model ") + own + " --tokens 512 -o " + path);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << own << ": " << r.err;
  }
  std::filesystem::remove(path);
}

TEST(Cli, SimulateAndServeSayWhenTheFamilysLawComesFromAnotherFamily) {
  // DeepSeek-MoE's routing is drawn from OLMoE's law: said on stderr, and the run goes on.
  const std::string step =
      "simulate --model deepseek-moe-16b --hw mozart-nop-tree-ucie --policy A --sequences 2 "
      "--micro-batches 2 --seq-len 32 --no-resimulate --json";
  Result r = run(step);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: simulate"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("olmoe-1b-7b"), std::string::npos) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out).contains("step_s"));
  // With both traces given, nothing is drawn from the law: nothing to say.
  const std::string path = temp_file(".mzt");
  ASSERT_EQ(run("trace gen --model deepseek-moe-16b --tokens 128 -o " + path).exit_code, 0);
  r = run(step + " --trace " + path + " --priors " + path);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  std::filesystem::remove(path);
  // Serving draws its priors from the law whatever the routing.
  const std::string serve = " --hw wsc-mesh-8x8 --batch 16 --context 64 --json";
  r = run("serve --model qwen3-30b-a3b" + serve);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: serve"), std::string::npos) << r.err;
  r = run("serve --model olmoe-1b-7b" + serve);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
}

TEST(Cli, TraceSplitSliceAndReadableStats) {
  const std::string path = temp_file(".mzt"), first = temp_file("-a.mzt"),
                    second = temp_file("-b.jsonl"), part = temp_file("-c.csv");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 2000 --seq-len 100 -o " + path).exit_code,
            0);
  Result split = run("trace split " + path + " " + first + " " + second + " --fraction 0.75");
  ASSERT_EQ(split.exit_code, 0) << split.err;
  EXPECT_NE(split.out.find("1500 tokens in 15 sequences"), std::string::npos) << split.out;
  EXPECT_NE(split.out.find("500 tokens in 5 sequences"), std::string::npos) << split.out;
  Result info = run("trace info " + second + " --json");  // sequence ids 15 to 19
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out)["sequences"], 5);
  Result slice = run("trace slice " + path + " " + part + " --layers 0,15 --tokens 100:300");
  ASSERT_EQ(slice.exit_code, 0) << slice.err;
  Result stats = run("trace stats " + part + " --experts 64");
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_NE(stats.out.find("200 tokens in 2 sequences, 2 layers"), std::string::npos);
  EXPECT_NE(stats.out.find(" coact-lift  trans-c    drift    reuse"), std::string::npos)
      << stats.out;
  for (const std::string& bad :
       {"trace split " + path + " " + first + " " + second + " --fraction 1.5",
        "trace slice " + path + " " + part + " --layers 99"}) {
    Result r = run(bad);
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_EQ(lines(r.err), 1) << r.err;
  }
  for (const auto& file : {path, first, second, part})
    std::filesystem::remove(file);
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
  // --json alone prints the figures and writes no placement.
  Result figures = run("place --trace " + trace + " --hw mozart-nop-tree-ucie --json");
  ASSERT_EQ(figures.exit_code, 0) << figures.err;
  EXPECT_TRUE(nlohmann::json::parse(figures.out)["placement"].is_null());
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

// The studies run their models on --jobs threads and merge them in the order given: the same
// JSON for one thread and two (with the models listed in either order, each keeps its rows).
TEST(Cli, ReproduceIsTheSameForOneAndTwoJobs) {
  for (const std::string study :
       {"reproduce mozart --quick --no-resimulate --models olmoe-1b-7b qwen3-30b-a3b",
        "reproduce moentwine --quick --models mixtral-8x22b qwen3-235b-a22b --iterations 12"}) {
    const Result one = run(study + " --json -j 1"), two = run(study + " --json -j 2");
    ASSERT_EQ(one.exit_code, 0) << one.err;
    ASSERT_EQ(two.exit_code, 0) << two.err;
    EXPECT_TRUE(one.out == two.out) << study;
    EXPECT_GT(nlohmann::json::parse(one.out)["rows"].size(), 4u) << study;
  }
  EXPECT_NE(run("reproduce moentwine --quick -j 0").err.find("--jobs"), std::string::npos);
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
  EXPECT_EQ(run("hw check " + hw).exit_code, 2);          // not a quantity at all
  huge.replace(huge.find("1e308 TB/s"), 10, "1e4 TB/s");  // a quantity, not a stack's
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

// ---- CLI hardening: bad numbers, outputs, special files, one-line messages, progress ----

// Every refusal is exit 2 and one line that says `says`.
void expect_refused(const std::string& args, const std::string& says,
                    const std::string& prefix = "") {
  const Result r = run(args, prefix);
  EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
  EXPECT_EQ(lines(r.err), 1) << args << ": " << r.err;
  EXPECT_NE(r.err.find(says), std::string::npos) << args << ": " << r.err;
}

// Binary-safe (the noise below holds NUL bytes).
void write_bytes(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

// Temporaries a run left beside its outputs ("x.json.tmp.1234").
int temporaries_beside(const std::string& path) {
  namespace fs = std::filesystem;
  const std::string stem = fs::path(path).filename().string() + ".tmp.";
  int count = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(path).parent_path()))
    count += entry.path().filename().string().rfind(stem, 0) == 0 ? 1 : 0;
  return count;
}

TEST(CliHardening, NegativeIntegersAreRefusedAtParse) {
  const std::string trace = temp_file(".mzt");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 64 -o " + trace).exit_code, 0);
  const std::string sim = "simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --policy A ";
  for (const std::string& args : std::vector<std::string>{
           sim + "--first-token -8000",  // wrapped to 2^64 - 8000: a segfault before
           sim + "--first-token -1", sim + "--seed -1", sim + "--sequences -4",
           sim + "--micro-batches -1", sim + "--seq-len=-256",
           "trace gen --model olmoe-1b-7b --tokens -5 -o " + temp_file("-neg.mzt"),
           "trace gen --model olmoe-1b-7b --seed -1 -o " + temp_file("-neg.mzt"),
           "trace stats " + trace + " --window -1", "trace info " + trace + " --experts -64",
           "trace calibrate --model olmoe-1b-7b --tokens -300 -o " + temp_file("-neg.json"),
           "trace calibrate --model olmoe-1b-7b --seed -1 -o " + temp_file("-neg.json"),
           "place --trace " + trace + " --hw mozart-nop-tree-ucie --seed -1 -o x.json",
           "place --trace " + trace + " --hw mozart-nop-tree-ucie --nodes -1 -o x.json",
           "place compare --trace " + trace + " --hw mozart-nop-tree-ucie --replicas -2",
           "reproduce mozart --quick --models olmoe-1b-7b --seed -1",
           "model cost olmoe-1b-7b --sequences -1"})
    expect_refused(args, "whole number");
  std::filesystem::remove(trace);
}

TEST(CliHardening, SizesThatDriveMemoryAreBoundedBeforeWork) {
  // (trace gen's 2^32 tokens of deepseek-v3 are refused by the trace memory estimate above.)
  expect_refused(
      "simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --sequences 1048576 --seq-len "
      "1048576",
      "2^32 choices");
  expect_refused("simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --sequences 2000000",
                 "whole number in [1, 1048576]");
}

// Hardware the study's policies cannot run on (no switch to multicast) is refused before the
// study's work: it failed after 70 s, naming neither --hw nor the policy.
TEST(CliHardening, StudyHardwareIsCheckedBeforeTheStudy) {
  expect_refused("reproduce mozart --quick --hw wsc-mesh-8x8", "policy C");
}

TEST(CliHardening, NonFiniteAndHugeQuantitiesAreRefused) {
  expect_refused("net collective mozart-nop-tree-ucie --bytes '1e300 TB'", "at most 2^60 B");
  expect_refused("net collective mozart-nop-tree-ucie --bytes 'inf B'", "--bytes");
  expect_refused("net collective mozart-nop-tree-ucie --efficiency nan", "finite number");
  expect_refused("trace gen --model olmoe-1b-7b --skew nan -o " + temp_file(".mzt"),
                 "finite number");
  expect_refused("reproduce mozart --quick --sweep-factors nan", "finite number");
  expect_refused("place compare --trace t.mzt --hw mozart-nop-tree-ucie --group-balance inf",
                 "finite number");
  // A link of 1e308 TB/s passed `hw check` and overflowed inside the network.
  const Result yaml = run("hw show mozart-nop-tree-ucie --yaml");
  ASSERT_EQ(yaml.exit_code, 0);
  std::string text = yaml.out;
  const std::string link = "bandwidth: 256 GB/s";
  const auto at = text.find(link);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, link.size(), "bandwidth: 1e308 TB/s");
  const std::string hw = temp_file(".yaml");
  write_bytes(hw, text);
  expect_refused("hw check " + hw, "1e308 TB/s");
  std::filesystem::remove(hw);
}

TEST(CliHardening, FailingRunsLeaveOutputsUntouched) {
  const std::string summary = temp_file(".json");
  const std::string timeline = temp_file("-timeline.json");
  write_bytes(summary, "keep me");
  write_bytes(timeline, "keep me too");
  // Fails inside the work (policy B needs switches; the mesh has none).
  const std::string small = " --sequences 2 --micro-batches 2 --seq-len 32";
  Result r = run("simulate --model olmoe-1b-7b --hw mozart-mesh --policy B" + small + " -o " +
                 summary + " --timeline " + timeline);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  // Refused before the work: the summary used to be written, then the timeline failed.
  r = run("simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --policy A" + small + " -o " +
          summary + " --timeline /nonexistent-dir/t.json");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("existing directory"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(summary), "keep me");
  EXPECT_EQ(slurp(timeline), "keep me too");
  EXPECT_EQ(temporaries_beside(summary) + temporaries_beside(timeline), 0);
  expect_refused("simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie -o " +
                     std::filesystem::temp_directory_path().string(),
                 "-o");
  std::filesystem::remove(summary);
  std::filesystem::remove(timeline);
}

TEST(CliHardening, AnOutputIsNeverAnInput) {
  const std::string trace = temp_file(".csv");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 256 -o " + trace).exit_code, 0);
  const std::string before = slurp(trace);
  // `place ... -o` onto its own input trace overwrote it.
  expect_refused("place --trace " + trace + " --hw mozart-nop-tree-ucie -o " + trace,
                 "other than the input");
  expect_refused("trace convert " + trace + " " + trace, "other than the input");
  expect_refused("trace stats " + trace + " -o " + trace, "ending in .json");
  EXPECT_EQ(slurp(trace), before);
  std::filesystem::remove(trace);
}

TEST(CliHardening, OutputFormatFollowsTheExtensionOrIsRefused) {
  const std::string trace = temp_file(".mzt");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 256 -o " + trace).exit_code, 0);
  const std::string sim = "simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie ";
  expect_refused(sim + "-o " + temp_file(".txt"), "ending in .json");
  expect_refused(sim + "--timeline " + temp_file(".perfetto"), "ending in .json");
  expect_refused("place --trace " + trace + " --hw mozart-nop-tree-ucie -o " + temp_file(".yaml"),
                 ".json or .csv");
  expect_refused("trace gen --model olmoe-1b-7b -o " + temp_file(".txt"), "extension");
  expect_refused("trace gen --model olmoe-1b-7b --format csv -o " + temp_file("-f.mzt"),
                 "follows the extension");
  expect_refused("trace convert " + trace + " " + temp_file(".npy") + " --to jsonl",
                 "follows the extension");
  expect_refused("reproduce mozart --quick --markdown " + temp_file(".json"), "ending in .md");
  expect_refused("trace calibrate --model olmoe-1b-7b --counts x -o " + temp_file(".yaml"),
                 "ending in .json");
  expect_refused("net collective mozart-mesh --timeline " + temp_file(".txt"), "ending in .json");
  // model import: YAML or JSON by the extension.
  const std::string config = data("hf/olmoe.json");
  const std::string as_json = temp_file("-model.json");
  ASSERT_EQ(run("model import " + config + " -o " + as_json).exit_code, 0);
  EXPECT_TRUE(nlohmann::json::accept(slurp(as_json)));
  expect_refused("model import " + config + " --json -o " + temp_file(".yaml"), "ending in .json");
  expect_refused("model import " + config + " -o " + temp_file(".txt"), ".yaml, .yml or .json");
  std::filesystem::remove(as_json);
  std::filesystem::remove(trace);
}

TEST(CliHardening, SpecialFilesAreRefusedNotRead) {
  // Each of these read /dev/zero forever.
  for (const std::string args :
       {"hw check /dev/zero", "model show /dev/zero", "hw show /dev/zero",
        "trace info /dev/zero --format native", "place eval --placement /dev/zero --trace x.mzt"})
    expect_refused(args, "is a device", "timeout 60");
  expect_refused("hw check /tmp", "is a directory");
}

TEST(CliHardening, MessagesAreOneLineAndQuoteLittle) {
  // CLI11's own errors were two lines ("...\nRun with --help").
  expect_refused("hw list --bogus", "--bogus");
  expect_refused("trace", "subcommand");
  // Random bytes as YAML: the message quoted over 4 KB of them.
  std::string noise;
  std::uint32_t state = 12345;
  for (int i = 0; i < 8192; ++i) {
    state = state * 1664525u + 1013904223u;
    noise += static_cast<char>(state >> 24);
  }
  const std::string yaml = temp_file(".yaml");
  for (const std::string& text : {noise, "name: " + std::string(8000, 'x') + "\nchiplets: 3\n"}) {
    write_bytes(yaml, text);
    for (const std::string command : {"hw check ", "model show "}) {
      const Result r = run(command + yaml);
      EXPECT_EQ(r.exit_code, 2) << command << r.err;
      EXPECT_EQ(lines(r.err), 1) << command << r.err;
      EXPECT_LT(r.err.size(), 1100u) << command << r.err;
    }
  }
  std::filesystem::remove(yaml);
}

TEST(CliHardening, ModelIsCheckedNotIgnored) {
  const std::string trace = temp_file(".mzt");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 256 -o " + trace).exit_code, 0);
  expect_refused("trace stats " + trace + " --model deepseek-moe-16b", "--model deepseek-moe-16b");
  expect_refused("trace info " + trace + " --model deepseek-moe-16b", "--model deepseek-moe-16b");
  expect_refused("place --trace " + trace +
                     " --hw mozart-nop-tree-ucie --model deepseek-moe-16b -o " + temp_file(".json"),
                 "--model deepseek-moe-16b");
  EXPECT_EQ(run("trace stats " + trace + " --model olmoe-1b-7b").exit_code, 0);
  const std::string counts = std::string(MOZART_TEST_DATA) +
                             "/../../data/routing-counts/token-experts/mixtral-8x7b-c4.json";
  expect_refused("trace gen --token-experts " + counts + " --model olmoe-1b-7b --tokens 64 -o " +
                     temp_file("-te.mzt"),
                 "--model olmoe-1b-7b");
  // Measured routing of some of the model's layers (OLMoE's 0, 7 and 15) fits the model.
  const std::string olmoe = std::string(MOZART_TEST_DATA) +
                            "/../../data/routing-counts/token-experts/olmoe-1b-7b-arxiv.json";
  const std::string some_layers = temp_file("-some.mzt");
  EXPECT_EQ(run("trace gen --token-experts " + olmoe + " --model olmoe-1b-7b --tokens 64 -o " +
                some_layers)
                .exit_code,
            0);
  EXPECT_EQ(run("trace stats " + some_layers + " --model olmoe-1b-7b").exit_code, 0);
  std::filesystem::remove(some_layers);
  expect_refused("trace gen --model olmoe-1b-7b --domains '' -o " + temp_file("-d.mzt"),
                 "non-empty name");
  std::filesystem::remove(trace);
}

TEST(CliHardening, ProgressOnlyOnATerminalAndNeverWhenQuiet) {
  if (std::system("command -v script >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "needs script(1) for a terminal";
  const std::string trace = temp_file(".mzt");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 256 -o " + trace).exit_code, 0);
  const std::string compare = std::string(MOZART_BINARY) + " place compare --trace " + trace +
                              " --hw mozart-nop-tree-ucie --placers contiguous,round-robin";
  auto on_terminal = [&](const std::string& extra) {
    const std::string out = temp_file("-tty.txt");
    const std::string command =
        "script -qec \"" + compare + extra + "\" /dev/null >" + out + " 2>&1";
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    const std::string text = slurp(out);
    std::filesystem::remove(out);
    return text;
  };
  EXPECT_NE(on_terminal("").find("place compare: round-robin"), std::string::npos);
  EXPECT_EQ(on_terminal(" --quiet").find("place compare:"), std::string::npos);
  EXPECT_EQ(on_terminal(" --json").find("place compare:"), std::string::npos);
  // Not a terminal: stderr stays empty.
  const Result piped =
      run("place compare --trace " + trace + " --hw mozart-nop-tree-ucie --placers contiguous");
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.err, "");
  std::filesystem::remove(trace);
}

// ---- Lead's merge follow-ups: --groups bounded, trace loops show progress ----

TEST(CliFollowUps, TraceStatsRefusesMoreGroupsThanExperts) {
  const std::string trace = temp_file(".mzt");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 64 -o " + trace).exit_code, 0);
  const Result r = run("trace stats " + trace + " --groups 65");  // olmoe: 64 experts
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("--groups': got '65', expected at most the trace's 64 experts"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(run("trace stats " + trace + " --groups 64").exit_code, 0);
  std::filesystem::remove(trace);
}

TEST(CliFollowUps, TraceGenShowsItsLoopsOnATerminalOnly) {
  if (std::system("command -v script >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "needs script(1) for a terminal";
  const std::string trace = temp_file(".npy");
  const std::string out = temp_file("-tty.txt");
  const std::string gen =
      std::string(MOZART_BINARY) + " trace gen --model olmoe-1b-7b --tokens 200000 -o " + trace;
  const std::string command = "script -qec \"" + gen + "\" /dev/null >" + out + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  const std::string text = slurp(out);
  EXPECT_NE(text.find("trace gen: writing"), std::string::npos) << text;
  const Result piped = run("trace gen --model olmoe-1b-7b --tokens 2000 -o " + trace);
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.err, "");
  std::filesystem::remove(out);
  std::filesystem::remove(trace);
}

}  // namespace

// ---- batch-check: a micro-batch no attention chiplet can hold is refused before any trace ----

TEST(CliBatchCheck, AnOversizedMicroBatchIsRefusedBeforeTracesAreMade) {
  // 4096 x 256 tokens in 4 micro-batches: two 1M-token traces would take a minute to generate.
  const Result r =
      run("simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --sequences 4096 --seq-len 256");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("chiplet_kinds.attention.sram.capacity"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("micro-batch of 262144 tokens (use smaller micro-batches)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
}

TEST(Cli, NetFlowsAndHotSpotsReportLikeACollective) {
  const std::string mesh = data("../../configs/net/booksim/mesh-4x4.yaml");
  Result flows = run("net flows " + mesh + " " + data("net/traffic.csv") + " --json");
  ASSERT_EQ(flows.exit_code, 0) << flows.err;
  auto j = nlohmann::json::parse(flows.out);
  EXPECT_EQ(j["flows"], 3);
  EXPECT_DOUBLE_EQ(j["payload_bytes"].get<double>(), 400);
  // Three flows one after another into n5 through its one-byte-per-second port: 400 s.
  EXPECT_DOUBLE_EQ(j["time_s"].get<double>(), 400);
  Result hot = run("net collective " + mesh + " --bytes 160 --hot n5 --hot-weight 4 --json");
  ASSERT_EQ(hot.exit_code, 0) << hot.err;
  // n5 receives 15 x 640 bytes through its one ejection port.
  EXPECT_GE(nlohmann::json::parse(hot.out)["time_s"].get<double>(), 15 * 640 * (1 - 1e-12));
}

TEST(Cli, BadTrafficAndCalibrationGetOneLineAndExitTwo) {
  const std::string mesh = data("../../configs/net/booksim/mesh-4x4.yaml");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"net flows " + mesh + " " + data("net/traffic_cycle.csv"), "cycle"},
      {"net flows " + mesh + " " + data("net/traffic_unknown_node.csv"), "n99"},
      {"net flows " + mesh + " " + data("net/traffic_negative.csv"), "bytes"},
      {"net collective " + mesh + " --hot nobody", "--hot"},
      {"net calibrate " + data("net/cases_too_fast.yaml"), "no efficiency in (0, 1]"},
  };
  for (const auto& [args, expect] : cases) {
    Result r = run(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(lines(r.err), 1) << args << ": " << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << args << ": " << r.err;
  }
}

TEST(Cli, NetCalibrateFitsAndReportsResiduals) {
  Result r = run("net calibrate " + data("net/cases.yaml") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_NEAR(j["classes"]["link"]["efficiency"].get<double>(), 0.8, 1e-4);
  EXPECT_NEAR(j["cases"][0]["residual"].get<double>(), 0, 1e-4);
  EXPECT_EQ(j["cases"][1]["fit"], false);
}

TEST(CliServe, BadServingInputIsOneLineAndExitTwo) {
  const std::string base = "serve --model olmoe-1b-7b --hw wsc-mesh-8x8 --batch 16 --context 64 ";
  struct Case {
    std::string args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {base + "--tp 3", "--tp"},                          // not a divisor of 64
      {base + "--mapping her --tp 4", "several wafers"},  // one wafer
      {"serve --model olmoe-1b-7b --hw nvl72 --mapping er", "a mesh"},
      {base + "--mapping ring", "--mapping"},
      {"serve --model deepseek-v3 --hw wsc-mesh-8x8 --batch 4096 --context 131072", "missing"},
      {base + "--balancer fancy", "none, eplb, ni"},
      {base + "--balancer ni --alpha 0 --window 1", "--alpha"},
      {base + "--balancer ni --alpha -0.5 --window 1", "--alpha"},
      {base + "--balancer eplb --iterations 4 --window 5", "--window"},
      {base + "--shadow-slots 100000", "missing"},
      {base + "--ep 3", "--ep"},  // not a divisor of 64
      {base + "-j 0", "--jobs"},
      {base + "--alpha inf --balancer ni", "finite number"},
      {base + "--window 5", "--balancer"},  // a balancer's option without one
      {base + "--balancer ni --window 99999999999999999999", "--window"},
      {base + "--balancer eplb --iterations 12 --window 2 --period 100000", "never rebalance"},
      {base + "--balancer ni", "the window's default is 10"},
      {base + "--ep 8 --dispatch load", "nearest with --ep"},
      {base + "--phase prefill --prompt 1048576 --iterations 1048576", "--prompt"},
      {"reproduce moentwine --alpha inf", "finite number"},
      {"reproduce moentwine --alpha 0", "--alpha"},
      {"reproduce moentwine --quick --window 1000", "--window"},
  };
  for (const Case& c : cases) {
    const Result r = run(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args << "\n" << r.err;
    EXPECT_EQ(lines(r.err), 1) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << c.args << "\n" << r.err;
  }
  // A trace shorter than the iterations asked for.
  const std::string t = (std::filesystem::temp_directory_path() / (fmt_stem() + ".mzt")).string();
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 16 -o " + t).exit_code, 0);
  const Result r = run(base + "--iterations 4 --trace " + t);
  std::filesystem::remove(t);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("at least 64 tokens"), std::string::npos) << r.err;
}

TEST(CliServe, SummaryIsByteIdenticalOnRepeatAndWithWorkersAndTheMapIsDrawn) {
  namespace fs = std::filesystem;
  const std::string a = (fs::temp_directory_path() / (fmt_stem() + "_a.json")).string();
  const std::string b = (fs::temp_directory_path() / (fmt_stem() + "_b.json")).string();
  const std::string args =
      "serve --model olmoe-1b-7b --hw wsc-mesh-8x8 --mapping er --tp 16 --batch 32 --context 128 "
      "--iterations 3 -o ";
  ASSERT_EQ(run(args + a + " -j 1").exit_code, 0);
  ASSERT_EQ(run(args + b + " -j 2").exit_code, 0);  // iterations 1 and 2 on two threads
  const std::string first = slurp(a);
  EXPECT_EQ(first, slurp(b));
  const auto j = nlohmann::json::parse(first);
  EXPECT_EQ(j["per_iteration"].size(), 3u);
  EXPECT_GT(j["tokens_per_s_per_device"].get<double>(), 0);
  fs::remove(a);
  fs::remove(b);
  // With a balancer: the same bytes on repeat, its copies counted in whole experts.
  const std::string balanced =
      "serve --model olmoe-1b-7b --hw wsc-mesh-8x8 --mapping er --tp 16 --batch 32 --context 128 "
      "--iterations 2 --shadow-slots 1 --balancer ni --window 1 -o ";
  ASSERT_EQ(run(balanced + a).exit_code, 0);
  ASSERT_EQ(run(balanced + b).exit_code, 0);
  EXPECT_EQ(slurp(a), slurp(b));
  const auto k = nlohmann::json::parse(slurp(a));
  EXPECT_EQ(k["balancer"], "ni");
  EXPECT_EQ(k["per_iteration"].size(), 2u);
  EXPECT_EQ(k["stall_s"].get<double>(), 0);
  fs::remove(a);
  fs::remove(b);
  const Result map = run("map show --hw wsc-mesh-8x8 --mapping er --tp 16");
  EXPECT_EQ(map.exit_code, 0) << map.err;
  EXPECT_NE(map.out.find("16 disjoint FTDs of 4 devices (2x2 blocks)"), std::string::npos)
      << map.out;
  // Off a mesh: no blocks and no wafers.
  const Result switched = run("map show --hw nvl72 --mapping baseline --tp 4");
  EXPECT_EQ(switched.exit_code, 0) << switched.err;
  EXPECT_NE(switched.out.find("72 devices, TP 4 (18 TP groups)\n"), std::string::npos)
      << switched.out;
  EXPECT_EQ(switched.out.find("0x0"), std::string::npos) << switched.out;
}

// ---- Bad input to the trace commands (issue 13, follow-up audit) ----

// A router log of `tokens` tokens at layers 0 and 1, with `logits(token, layer)` router logits.
std::string logits_log(int tokens, int (*logits)(int, int)) {
  std::string text;
  for (int t = 0; t < tokens; ++t)
    for (int l = 0; l < 2; ++l) {
      std::string values;
      for (int e = 0; e < logits(t, l); ++e)
        values += (e ? ", " : "") + std::to_string((e * 7 + t + l) % 5) + ".5";
      text += "{\"tok\": " + std::to_string(t) + ", \"l\": " + std::to_string(l) +
              ", \"router_logits\": [" + values + "]}\n";
    }
  return text;
}

TEST(CliTraceInput, RouterLogitsAreOnePerExpert) {
  const std::string log = temp_file(".jsonl"), out = temp_file(".csv");
  const std::string convert = "trace convert " + log + " " + out +
                              " --top-k 2 --fields token=tok,layer=l,logits=router_logits ";
  write_text(log, logits_log(3, [](int, int) { return 3; }));
  expect_refused(convert + "--experts 8",
                 log +
                     ":1: field 'router_logits': got '3 logits', expected one logit per "
                     "expert (8 experts)");
  write_text(log, logits_log(3, [](int t, int l) { return (t + l) % 2 ? 5 : 8; }));
  expect_refused(convert + "--experts 8", log + ":2: field 'router_logits': got '5 logits'");
  write_text(log, logits_log(3, [](int, int) { return 8; }));
  expect_refused(convert + "--experts 4", "got '8 logits', expected one logit per expert (4 ");
  EXPECT_FALSE(std::filesystem::exists(out));
  const Result r = run(convert + "--experts 8");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 tokens × 2 layers"), std::string::npos) << r.out;
  std::filesystem::remove(log);
  std::filesystem::remove(out);
}

TEST(CliTraceInput, FieldsMapEachRoleOnceAndEachFieldOnce) {
  const std::string log = temp_file(".jsonl"), out = temp_file(".csv");
  write_text(log, "{\"tok\": 0, \"l\": 0, \"ids\": [7, 1], \"p\": [0.6, 0.4]}\n");
  const std::string convert = "trace convert " + log + " " + out + " --experts 8 --fields ";
  expect_refused(convert + "token=tok,layer=l,experts=ids,gates=ids",
                 "got 'gates=ids', expected each field for one role (experts=ids is given");
  expect_refused(convert + "token=tok,layer=l,experts=ids,experts=p",
                 "got 'experts=p', expected each role once (experts=ids is given");
  EXPECT_EQ(run(convert + "token=tok,layer=l,experts=ids,gates=p").exit_code, 0);
  std::filesystem::remove(log);
  std::filesystem::remove(out);
}

TEST(CliTraceInput, CalibrateFitsOneSourceAndSaysWhyNoiseIsUnknown) {
  const std::string trace = temp_file(".mzt"), params = temp_file(".json");
  const std::string counts =
      std::string(MOZART_TEST_DATA) + "/../../data/routing-counts/olmoe-mixtral-expert-counts.json";
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 64 -o " + trace).exit_code, 0);
  const std::string calibrate = "trace calibrate --model olmoe-1b-7b --tokens 256 -o " + params;
  expect_refused(calibrate + " --trace " + trace + " --counts " + counts,
                 "expected no --counts with --trace");
  expect_refused(calibrate + " --trace " + trace + " --token-experts " + counts,
                 "no --token-experts with --trace");
  expect_refused(calibrate + " --counts " + counts + " --experts 64",
                 "field '--experts': got '64', expected --experts only with --trace");
  expect_refused(calibrate + " --trace " + trace + " --domain c4", "--domain requires --counts");
  EXPECT_FALSE(std::filesystem::exists(params));
  // One token: refused as trace gen --like refuses it; three: fitted, the noise not known
  // for that reason (not the aggregate counts' one).
  const std::string one = temp_file("-1.mzt"), three = temp_file("-3.mzt");
  ASSERT_EQ(run("trace slice " + trace + " " + one + " --tokens 0:1 --layers 0").exit_code, 0);
  ASSERT_EQ(run("trace slice " + trace + " " + three + " --tokens 0:3 --layers 0").exit_code, 0);
  expect_refused(calibrate + " --trace " + one,
                 one + ": field 'tokens': got '1', expected at least 2 tokens to fit a generator");
  expect_refused("trace gen --like " + one + " --tokens 8 -o " + temp_file("-g.mzt"),
                 one + ": field 'tokens': got '1', expected at least 2 tokens to fit a generator");
  const Result r = run(calibrate + " --trace " + three);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sampling noise: not known (3 tokens are too few to halve; 4 at least)"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(nlohmann::json::parse(slurp(params))["calibration"]["sampling_noise_unknown"],
            "3 tokens are too few to halve; 4 at least");
  for (const auto& path : {trace, params, one, three})
    std::filesystem::remove(path);
}

TEST(CliTraceInput, EveryCommandThatReadsATraceTakesTheReadOptions) {
  // A foreign log of 8 experts, top-2, that only --experts and --fields make readable.
  const std::string log = temp_file(".jsonl");
  std::string text;
  for (int t = 0; t < 16; ++t)
    text += "{\"tok\": " + std::to_string(t) + ", \"l\": 0, \"ids\": [" + std::to_string(t % 8) +
            ", " + std::to_string((t + 3) % 8) + "]}\n";
  write_text(log, text);
  const std::string read = " --experts 8 --top-k 2 --fields token=tok,layer=l,experts=ids";
  const std::string placement = temp_file(".json"), generated = temp_file("-g.mzt");
  for (const std::string& command :
       {"trace info " + log, "place --trace " + log + " --hw mozart-nop-tree-ucie -o " + placement,
        "place compare --placers contiguous --trace " + log + " --hw mozart-nop-tree-ucie",
        "place eval --placement " + placement + " --trace " + log,
        "trace gen --like " + log + " --tokens 32 -o " + generated}) {
    // (trace gen's --format is its output's)
    const bool gen = command.rfind("trace gen", 0) == 0;
    const Result r = run(command + read + (gen ? "" : " --format jsonl"));
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.err;
  }
  // serve and simulate read their traces with them (here the model's own shape, confirmed).
  const std::string serving = temp_file("-s.jsonl");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 256 -o " + serving).exit_code, 0);
  const std::string serve =
      "serve --model olmoe-1b-7b --hw wsc-mesh-8x8 --batch 16 --context 64 "
      "--iterations 2 --experts 64 --top-k 8";
  const Result r = run(serve + " --format jsonl --trace " + serving);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string simulate =
      "simulate --model olmoe-1b-7b --hw mozart-nop-tree-ucie --sequences 4 --micro-batches 2 "
      "--seq-len 64 --experts 64 --top-k 8";
  const Result step = run(simulate + " --format jsonl --trace " + serving + " --priors " + serving);
  EXPECT_EQ(step.exit_code, 0) << step.err;
  expect_refused(simulate,
                 "field '--experts': got '64', expected --experts only with --trace or "
                 "--priors");
  // Where no trace is read they would be ignored: refused.
  expect_refused(serve, "field '--experts': got '64', expected --experts only with --trace");
  expect_refused("trace gen --model olmoe-1b-7b --tokens 8 --fields token=tok -o " + generated,
                 "field '--fields': got 'token=tok', expected --fields only with --like");
  for (const auto& path : {log, placement, generated, serving})
    std::filesystem::remove(path);
}

TEST(CliTraceInput, SplitAndDriftMessagesSayWhatIsWrong) {
  const std::string trace = temp_file(".mzt");
  ASSERT_EQ(run("trace gen --model olmoe-1b-7b --tokens 300 -o " + trace).exit_code, 0);
  for (const std::string fraction : {"0", "1", "-0.5", "nan"})
    expect_refused("trace split " + trace + " " + temp_file("-a.mzt") + " " + temp_file("-b.mzt") +
                       " --fraction " + fraction,
                   "field 'fraction': got '" + fraction + "', expected a fraction in (0, 1)");
  // A window over the whole trace leaves no second window to drift from: "-", not 0.
  const Result r = run("trace stats " + trace + " --window 100000");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("drift: - (a window of 100000 tokens holds the whole trace of 300)"),
            std::string::npos)
      << r.out;
  const Result json = run("trace stats " + trace + " --window 100000 --json");
  EXPECT_FALSE(nlohmann::json::parse(json.out)["layers"][0].contains("drift_mean")) << json.out;
  const Result split = run("trace stats " + trace + " --window 100 --json");
  EXPECT_TRUE(nlohmann::json::parse(split.out)["layers"][0].contains("drift_mean")) << split.out;
  std::filesystem::remove(trace);
}

// ---- Network commands: bad input is one line naming the file or option, exit 2 ----

namespace {

std::string booksim(const std::string& name) {
  return data("../../configs/net/booksim/" + name);
}

// A cases file in the temporary folder with these case lines (YAML flow maps), its `hw` the
// BookSim 4x4 mesh unless a line says otherwise.
std::string cases_file(const std::string& suffix, const std::vector<std::string>& lines) {
  const std::string path = temp_file(suffix + ".yaml");
  std::string text = "cases:\n";
  for (const std::string& line : lines)
    text += "  - " + line + "\n";
  write_bytes(path, text);
  return path;
}

std::string mesh_case(const std::string& fields) {
  return "{name: a, hw: " + booksim("mesh-4x4.yaml") + ", " + fields + "}";
}

}  // namespace

TEST(CliNet, CalibrateRefusesAnUnknownCollectiveNamingTheCase) {
  int k = 0;
  for (const char* kind : {"bogus", "\"\"", "All-To-All"}) {
    const std::string cases = cases_file(
        std::to_string(k++),
        {mesh_case(std::string("collective: ") + kind + ", bytes: 160, measured: 3361")});
    const Result r = run("net calibrate " + cases);
    EXPECT_EQ(r.exit_code, 2) << kind << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    for (const std::string& says : {cases, std::string("cases[0].collective"),
                                    std::string("one of: all-to-all"), std::string("case 'a'")})
      EXPECT_NE(r.err.find(says), std::string::npos) << says << ": " << r.err;
    std::filesystem::remove(cases);
  }
}

// A memory refusal writes every size in the units of the capacity it is about (binary for the
// paper's 2 GiB per expert chiplet), never decimal and binary sizes side by side.
TEST(Cli, MemoryRefusalsWriteSizesInOneUnitSystem) {
  const std::string trace = temp_file(".mzt");
  ASSERT_EQ(run("trace gen --model qwen3-30b-a3b --tokens 64 -o " + trace).exit_code, 0);
  const std::string placed = temp_file(".json");
  const std::regex decimal(R"(\d [KMGT]B\b)"), binary(R"(\d [KMGT]iB\b)");
  for (const std::string& args :
       {std::string("hw cost mozart-paper-qwen3 --model qwen3-30b-a3b"),
        "place --trace " + trace + " --hw mozart-paper-qwen3 -o " + placed,
        "place compare --trace " + trace + " --hw mozart-paper-qwen3 --placers mozart",
        std::string("simulate --model mixtral-8x22b --hw mozart-nop-tree-ucie --policy A "
                    "--sequences 2 --micro-batches 2 --seq-len 64")}) {
    const Result r = run(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("does not fit"), std::string::npos) << r.err;
    EXPECT_TRUE(std::regex_search(r.err, binary)) << r.err;
    EXPECT_FALSE(std::regex_search(r.err, decimal)) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(placed));
}

TEST(CliNet, EveryCollectiveAndTrafficIsRefusedBeforeItsPlanWhenTooLarge) {
  const std::string mesh = temp_file("-mesh100.yaml");
  write_bytes(mesh,
              "name: m100\nclock: 1 GHz\nchiplet_kinds:\n  t:\n    peak_flops: {fp16: 1 TFLOP/s}\n"
              "    array: {rows: 1, cols: 1, count: 1}\n"
              "    sram: {capacity: 1 MB, bandwidth: 1 GB/s}\n"
              "chiplets:\n  - {name: n, kind: t, count: 10000, holds_weights: false}\n"
              "topology: {kind: mesh, rows: 100, cols: 100, nodes: n, link: {bandwidth: 100 "
              "GB/s}}\n");
  // 16,384 chiplets under 256 switches; split paths of ~260 channel uses per pair.
  const std::string tree = temp_file("-ft128.yaml");
  write_bytes(tree,
              "name: ft128\nclock: 1 GHz\nchiplet_kinds:\n  t:\n    peak_flops: {fp16: 1 TFLOP/s}\n"
              "    array: {rows: 1, cols: 1, count: 1}\n"
              "    sram: {capacity: 1 MB, bandwidth: 1 GB/s}\n"
              "chiplets:\n  - {name: n, kind: t, count: 16384, holds_weights: false}\n"
              "topology: {kind: fat_tree, k: 128, n: 2, nodes: n, link: {bandwidth: 100 GB/s}}\n");
  // The refusals take about a second; the fat tree's, dominated by its route searches, takes
  // 40 s of CPU in the sanitizer build, so the timeout (a hang check) leaves room for that.
  const std::string limit = "MOZART_MEMORY_LIMIT='1 GiB' timeout 240";
  for (const char* kind :
       {"all-gather", "reduce-scatter", "all-reduce-ring", "all-reduce-mesh-2d", "all-to-all"})
    expect_refused("net collective " + mesh + " --kind " + kind, "needing", limit);
  expect_refused("net collective " + tree, "channel uses each on average", limit);
  // Traffic: its split flows' channel uses count.
  const std::string traffic = temp_file("-traffic.csv");
  write_bytes(traffic, "source,destination,bytes\nn0,n16383,1 MB\nn1,n16000,1 MB\n");
  expect_refused("net flows " + tree + " " + traffic, "traffic of 2 flows",
                 "MOZART_MEMORY_LIMIT='1 KiB' timeout 60");
  for (const std::string& f : {mesh, tree, traffic})
    std::filesystem::remove(f);
}

TEST(CliNet, CalibrateRefusesACaseNoEfficiencyInItsRangeFits) {
  const std::string cases = cases_file("slow", {mesh_case("bytes: 160, measured: 1e9")});
  expect_refused("net calibrate " + cases, "at most");
  const Result r = run("net calibrate " + cases);
  EXPECT_NE(r.err.find("every efficiency class at 0.01"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("case 'a'"), std::string::npos) << r.err;
  std::filesystem::remove(cases);
}

TEST(CliNet, FlowsWithoutAnIdTakeTheirRowNumber) {
  const std::string mesh = booksim("mesh-4x4.yaml");
  const std::string traffic = temp_file(".csv");
  // Empty id cells: rows 1 and 2 are numbered; row 3 waits for both.
  write_bytes(traffic,
              "source,destination,bytes,id,after\nn0,n5,160,,\nn1,n5,160,,\nn2,n5,80,x,1;2\n");
  const Result ok = run("net flows " + mesh + " " + traffic + " --json");
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(ok.out)["time_s"].get<double>(), 400);
  // An explicit id equal to another flow's number is ambiguous in `after`: refused, both ways.
  write_bytes(traffic, "source,destination,bytes,id\nn0,n1,5,\nn2,n3,5,1\n");
  expect_refused("net flows " + mesh + " " + traffic, "row 1 has none, so it is numbered '1'");
  write_bytes(traffic, "source,destination,bytes,id\nn0,n1,5,2\nn2,n3,5,\n");
  expect_refused("net flows " + mesh + " " + traffic, "row 2.id");
  std::filesystem::remove(traffic);
}

TEST(CliNet, CalibrationErrorsNameTheCasesFileFieldAndCase) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {mesh_case("bytes: 160, measured: 3361, hot: [n99]"), {"cases[0].hot[0]", "'n99'"}},
      {"{name: a, hw: nosuch.yaml, bytes: 160, measured: 3361}", {"cases[0].hw", "preset"}},
      {mesh_case("bytes: 160, measured: 3361, hot: [n1], hot_weight: 0"), {"cases[0].hot_weight"}},
      {mesh_case("traffic: nosuch.csv, measured: 3361"), {"cases[0].traffic"}},
  };
  int k = 0;
  for (const auto& [line, says] : cases) {
    const std::string path = cases_file(std::to_string(k++), {line});
    const Result r = run("net calibrate " + path);
    EXPECT_EQ(r.exit_code, 2) << line << ": " << r.err;
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err.find("--hot"), std::string::npos) << r.err;
    for (const std::string& s : says)
      EXPECT_NE(r.err.find(s), std::string::npos) << s << ": " << r.err;
    EXPECT_NE(r.err.find(path + ":2"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("case 'a'"), std::string::npos) << r.err;
    std::filesystem::remove(path);
  }
}

TEST(CliNet, ContradictoryOrRepeatedSettingsAreRefused) {
  const std::string mesh = booksim("mesh-4x4.yaml");
  const std::string traffic = temp_file("-self.csv");
  write_bytes(traffic, "source,destination,bytes\nn0,n0,640\n");
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"net collective " + mesh + " --hot n1,n1", "each hot destination once"},
      {"net collective " + mesh + " --hot n1,", "separated by single commas"},
      {"net collective " + mesh + " --hot-weight 4", "--hot as well"},
      {"net collective " + mesh + " --hot n1 --hot-weight 0", "--hot-weight"},
      {"net collective mozart-nop-tree-ucie --routing yx", "--routing"},
      {"net collective mozart-nop-tree-ucie --routing xy", "--routing"},
      {"net collective " + mesh + " --multipath hash", "--multipath"},
      {"net flows " + mesh + " " + traffic, "a node other than the source"},
  };
  for (const auto& [args, says] : commands)
    expect_refused(args, says);
  const std::vector<std::pair<std::string, std::string>> case_files = {
      {mesh_case("collective: all-reduce-ring, bytes: 160, measured: 3361, traffic: t.csv"),
       "either traffic or collective"},
      {mesh_case("bytes: 160, measured: 3361, hot: [n1, n1]"), "each hot destination once"},
      {mesh_case("bytes: 160, measured: 3361, hot_weight: 4"), "hot destinations as well"},
      {"{name: t, hw: mozart-nop-tree-ucie, bytes: 160, measured: 1, routing: yx}",
       "cases[0].routing"},
  };
  int k = 0;
  for (const auto& [line, says] : case_files) {
    const std::string path = cases_file(std::to_string(k++), {line});
    expect_refused("net calibrate " + path, says);
    std::filesystem::remove(path);
  }
  const std::string twice = cases_file(
      "twice", {mesh_case("bytes: 160, measured: 3361"), mesh_case("bytes: 160, measured: 5000")});
  expect_refused("net calibrate " + twice, "a name no other case has");
  std::filesystem::remove(twice);
  std::filesystem::remove(traffic);
  // Where they apply, the same settings run.
  EXPECT_EQ(run("net collective " + mesh + " --routing yx --hot n1 --hot-weight 2").exit_code, 0);
  EXPECT_EQ(run("net collective mozart-nop-tree-ucie --multipath hash").exit_code, 0);
}

TEST(CliNet, FlowsShowProgressOnATerminalOnly) {
  if (std::system("command -v script >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "needs script(1) for a terminal";
  const std::string out = temp_file("-tty.txt");
  const std::string flows = std::string(MOZART_BINARY) + " net flows " + booksim("mesh-4x4.yaml") +
                            " " + data("net/traffic.csv");
  const std::string command = "script -qec \"" + flows + "\" /dev/null >" + out + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_NE(slurp(out).find("net flows"), std::string::npos) << slurp(out);
  std::filesystem::remove(out);
  const Result piped = run("net flows " + booksim("mesh-4x4.yaml") + " " + data("net/traffic.csv"));
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.err, "");
}
