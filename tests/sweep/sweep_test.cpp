// Sweeps: expansion of grids and lists, fields into the hardware and model documents, and the
// `mozart sweep` command's results, resumption and refusals, run on the real binary.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mozart/core/error.hpp"
#include "mozart/sweep/inputs.hpp"
#include "mozart/sweep/spec.hpp"

namespace fs = std::filesystem;
using mozart::core::InputError;
using namespace mozart::sweep;

namespace {

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Result {
  int exit_code = -1;
  std::string out, err;
};

// A scratch directory per test, removed at its end.
class Scratch {
 public:
  Scratch() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("mozart_sweep_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~Scratch() { fs::remove_all(dir_); }
  fs::path operator/(const std::string& name) const { return dir_ / name; }

  Result run(const std::string& args, const std::string& prefix = "") const {
    const std::string out = (dir_ / "stdout").string(), err = (dir_ / "stderr").string();
    const std::string command =
        prefix + " " + MOZART_BINARY + " " + args + " >" + out + " 2>" + err;
    const int status = std::system(command.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
  }

 private:
  fs::path dir_;
};

std::string data(const std::string& name) {
  return std::string(MOZART_TEST_DATA) + "/sweep/" + name;
}

std::size_t count_lines(const std::string& text) {
  return std::size_t(std::count(text.begin(), text.end(), '\n'));
}

std::vector<fs::path> point_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir / "points"))
    if (e.path().extension() == ".json")
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SweepSpec, GridVariesTheFirstFieldSlowestAndCrossesListedPoints) {
  const SweepSpec s = parse_sweep(
      "run: collective\nbase: {hw: x}\ngrid: {a: [1, 2], b: [p, q, r]}\npoints: [{c: 7}, {c: 8}]",
      "s.yaml");
  ASSERT_EQ(s.points.size(), 2u * 3u * 2u);
  EXPECT_EQ(s.swept, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(s.points[0], (std::vector<std::string>{"1", "p", "7"}));
  EXPECT_EQ(s.points[1], (std::vector<std::string>{"1", "p", "8"}));
  EXPECT_EQ(s.points[2], (std::vector<std::string>{"1", "q", "7"}));
  EXPECT_EQ(s.points.back(), (std::vector<std::string>{"2", "r", "8"}));
  const auto settings = point_settings(s, 3);
  EXPECT_EQ(setting(settings, "hw"), "x");
  EXPECT_EQ(setting(settings, "c"), "8");
}

TEST(SweepSpec, ListedPointsLeaveOtherFieldsAtTheirBase) {
  const SweepSpec s =
      parse_sweep("run: simulate\nbase: {policy: C}\npoints: [{policy: A}, {seed: 3}]", "s.yaml");
  ASSERT_EQ(s.points.size(), 2u);
  EXPECT_EQ(setting(point_settings(s, 0), "policy"), "A");
  EXPECT_EQ(setting(point_settings(s, 1), "policy"), "C");
  EXPECT_EQ(setting(point_settings(s, 1), "seed"), "3");
}

TEST(SweepSpec, HashNamesTheRunsNotTheComments) {
  const auto a = parse_sweep("run: collective\ngrid: {bytes: [1 MB, 2 MB]}", "a.yaml");
  const auto b = parse_sweep("# same\nrun: collective\ngrid:\n  bytes: [1 MB, 2 MB]\n", "b.yaml");
  const auto c = parse_sweep("run: collective\ngrid: {bytes: [1 MB, 3 MB]}", "c.yaml");
  EXPECT_EQ(a.hash, b.hash);
  EXPECT_NE(a.hash, c.hash);
}

TEST(SweepSpec, EmptyGridOrListIsAnInputError) {
  EXPECT_THROW(parse_sweep("run: collective\ngrid: {bytes: []}", "s.yaml"), InputError);
  EXPECT_THROW(parse_sweep("run: collective\ngrid: {}", "s.yaml"), InputError);
  EXPECT_THROW(parse_sweep("run: collective\npoints: []", "s.yaml"), InputError);
  EXPECT_THROW(parse_sweep("run: collective\nbase: {hw: x}", "s.yaml"), InputError);
  EXPECT_THROW(parse_sweep("run: collective\ngird: {bytes: [1]}", "s.yaml"), InputError);
}

TEST(SweepInputs, HardwareFieldsAreSetInTheDocument) {
  const auto hw = point_hw({{"hw", "mozart-nop-tree-ucie"},
                            {"hw.topology.link.bandwidth", "64 GB/s"},
                            {"hw.memories.1.bandwidth", "1 TB/s"}});
  const auto base = point_hw({{"hw", "mozart-nop-tree-ucie"}});
  ASSERT_FALSE(hw.links.empty());
  EXPECT_DOUBLE_EQ(hw.links[0].spec.bytes_per_s, 64e9);
  EXPECT_DOUBLE_EQ(base.links[0].spec.bytes_per_s, 256e9);
  // The document's second entry is hbm_g0 (the first, hbm_attn, counts two stacks).
  const auto g0 = std::find_if(hw.memories.begin(), hw.memories.end(),
                               [](const auto& m) { return m.name == "hbm_g0"; });
  ASSERT_NE(g0, hw.memories.end());
  EXPECT_DOUBLE_EQ(g0->bytes_per_s, 1e12);
}

TEST(SweepInputs, ModelFieldsAreSetInItsYamlForm) {
  const auto m = point_model({{"model", "olmoe-1b-7b"}, {"model.experts.top_k", "4"}});
  EXPECT_EQ(m.top_k, 4);
}

TEST(SweepInputs, UnknownFieldNamesTheNearestValidOnes) {
  try {
    point_hw({{"hw", "mozart-nop-tree-ucie"}, {"hw.topology.link.bandwith", "64 GB/s"}});
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("hw.topology.link.bandwith"), std::string::npos) << what;
    EXPECT_NE(what.find("nearest: hw.topology.link.bandwidth"), std::string::npos) << what;
  }
  SweepSpec s = parse_sweep("run: simulate\ngrid: {polcy: [A]}", "s.yaml");
  try {
    check_points(s, {"policy", "placer", "seed"});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nearest: policy"), std::string::npos) << e.what();
  }
}

// One sweep of 24 collectives, run with 1 and with 2 threads: the same bytes.
TEST(SweepCommand, CsvIsTheSameForOneAndTwoThreads) {
  Scratch s;
  const Result one =
      s.run("sweep " + data("collective.yaml") + " --jobs 1 --out-dir " + (s / "one").string());
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const Result two =
      s.run("sweep " + data("collective.yaml") + " --jobs 2 --out-dir " + (s / "two").string());
  ASSERT_EQ(two.exit_code, 0) << two.err;
  const std::string csv = slurp(s / "one/results.csv");
  EXPECT_EQ(csv, slurp(s / "two/results.csv"));
  EXPECT_EQ(count_lines(csv), 25u);
  EXPECT_EQ(csv.rfind("point,hw.topology.link.bandwidth,bytes,kind,error,hw,collective,", 0), 0u)
      << csv.substr(0, 200);
  EXPECT_EQ(point_files(s / "one").size(), 24u);
}

// More bandwidth never makes a collective slower: a check on what the sweep measured.
TEST(SweepCommand, MoreLinkBandwidthIsNeverSlower) {
  Scratch s;
  ASSERT_EQ(
      s.run("sweep " + data("collective.yaml") + " --out-dir " + (s / "r").string()).exit_code, 0);
  std::istringstream csv(slurp(s / "r/results.csv"));
  std::string line;
  std::getline(csv, line);
  std::vector<std::string> header;
  for (std::stringstream h(line); std::getline(h, line, ',');)
    header.push_back(line);
  const auto time_col =
      std::size_t(std::find(header.begin(), header.end(), "time_s") - header.begin());
  ASSERT_LT(time_col, header.size());
  std::vector<double> times;
  while (std::getline(csv, line)) {
    std::vector<std::string> cells;
    for (std::stringstream c(line); std::getline(c, line, ',');)
      cells.push_back(line);
    times.push_back(std::stod(cells.at(time_col)));
  }
  ASSERT_EQ(times.size(), 24u);
  for (std::size_t i = 0; i + 8 < times.size(); ++i)  // bandwidth is the slowest field: 8 apart
    EXPECT_GE(times[i] * (1 + 1e-9), times[i + 8]) << "point " << i;
}

// A rerun after points are lost runs exactly those, leaves the others untouched, and gives the
// same CSV.
TEST(SweepCommand, ResumeRunsOnlyTheMissingPoints) {
  Scratch s;
  const std::string args = "sweep " + data("collective.yaml") + " --out-dir " + (s / "r").string();
  ASSERT_EQ(s.run(args).exit_code, 0);
  const std::string full = slurp(s / "r/results.csv");
  auto files = point_files(s / "r");
  ASSERT_EQ(files.size(), 24u);
  const auto kept_time = fs::last_write_time(files[0]);
  for (std::size_t i : {3u, 10u, 23u})
    fs::remove(files[i]);
  fs::remove(s / "r/results.csv");
  const Result again = s.run(args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("24 points, 3 run now"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("21 finished before"), std::string::npos) << again.out;
  EXPECT_EQ(fs::last_write_time(files[0]), kept_time);
  EXPECT_EQ(slurp(s / "r/results.csv"), full);
}

// Killed mid-sweep (eight steps of about 0.1 s each, killed once two are done): the finished
// points survive, the rerun repeats none of them, and the CSV
// is the one an uninterrupted run writes.
TEST(SweepCommand, KillMidSweepLosesNoFinishedPointAndRepeatsNone) {
  Scratch s;
  ASSERT_EQ(s.run("sweep " + data("seeds.yaml") + " --out-dir " + (s / "whole").string()).exit_code,
            0);
  const std::string dir = (s / "r").string();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::freopen("/dev/null", "w", stdout);
    ::execl(MOZART_BINARY, MOZART_BINARY, "sweep", data("seeds.yaml").c_str(), "--jobs", "1",
            "--out-dir", dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Kill it once a few points are done (or at once if it is faster than the polling).
  for (int i = 0; i < 2000; ++i) {
    std::error_code ec;
    if (fs::exists(dir + "/points", ec) && point_files(dir).size() >= 2)
      break;
    ::usleep(2000);
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  std::vector<std::pair<fs::path, fs::file_time_type>> before;
  if (fs::exists(dir + "/points"))
    for (const auto& f : point_files(dir))
      before.emplace_back(f, fs::last_write_time(f));
  ASSERT_GE(before.size(), 1u);
  ASSERT_LT(before.size(), 8u) << "the sweep ended before the kill";
  const Result again = s.run("sweep " + data("seeds.yaml") + " --out-dir " + dir);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find(std::to_string(8 - before.size()) + " run now"), std::string::npos)
      << again.out << " after " << before.size() << " finished";
  for (const auto& [path, time] : before)
    EXPECT_EQ(fs::last_write_time(path), time) << path;  // not run again
  EXPECT_EQ(point_files(dir).size(), 8u);
  EXPECT_EQ(slurp(dir + "/results.csv"), slurp(s / "whole/results.csv"));
}

TEST(SweepCommand, SimulatePointsGiveStepMetricsAndArea) {
  Scratch s;
  const Result r = s.run("sweep " + data("simulate.yaml") + " --out-dir " + (s / "r").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string csv = slurp(s / "r/results.csv");
  EXPECT_EQ(count_lines(csv), 5u);
  const std::string header = csv.substr(0, csv.find('\n'));
  for (const char* column : {"policy", "hw.memories.0.bandwidth", "step_s", "breakdown.compute_s",
                             "energy_j.total", "area_mm2"})
    EXPECT_NE(header.find(column), std::string::npos) << column << " in " << header;
}

TEST(SweepCommand, BadInputIsOneLineAndExitTwo) {
  Scratch s;
  std::ofstream(s / "typo.yaml") << "run: collective\nbase: {hw: mozart-nop-tree-ucie}\n"
                                    "grid: {hw.topology.link.bandwith: [64 GB/s]}\n";
  std::ofstream(s / "empty.yaml") << "run: collective\nbase: {hw: mozart-nop-tree-ucie}\n"
                                     "grid: {bytes: []}\n";
  std::ofstream(s / "option.yaml") << "run: collective\nbase: {hw: mozart-nop-tree-ucie}\n"
                                      "grid: {byte: [1 MB]}\n";
  std::ofstream(s / "other.yaml") << "run: collective\nbase: {hw: mozart-nop-tree-ucie}\n"
                                     "grid: {bytes: [1 MB]}\n";
  for (const char* spec : {"typo.yaml", "empty.yaml", "option.yaml"}) {
    const Result r = s.run("sweep " + (s / spec).string() + " --out-dir " + (s / "r").string());
    EXPECT_EQ(r.exit_code, 2) << spec << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  }
  EXPECT_NE(s.run("sweep " + (s / "typo.yaml").string() + " --out-dir " + (s / "r").string())
                .err.find("nearest: hw.topology.link.bandwidth"),
            std::string::npos);
  EXPECT_NE(s.run("sweep " + (s / "option.yaml").string() + " --out-dir " + (s / "r").string())
                .err.find("nearest: bytes"),
            std::string::npos);
  // A results directory of another sweep.
  ASSERT_EQ(
      s.run("sweep " + (s / "other.yaml").string() + " --out-dir " + (s / "r").string()).exit_code,
      0);
  const Result foreign =
      s.run("sweep " + data("collective.yaml") + " --out-dir " + (s / "r").string());
  EXPECT_EQ(foreign.exit_code, 2) << foreign.err;
  EXPECT_EQ(count_lines(foreign.err), 1u) << foreign.err;
  EXPECT_NE(foreign.err.find("another sweep"), std::string::npos) << foreign.err;
}

}  // namespace
