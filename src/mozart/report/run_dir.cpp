#include "mozart/report/run_dir.hpp"

#include <filesystem>
#include <fstream>
#include <memory>

#include <fmt/format.h>
#include <xxhash.h>

#include "mozart/core/error.hpp"
#include "mozart/hw/spec.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/model/zoo.hpp"

namespace mozart::report {
namespace {

std::string hash_text(const std::string& text) {
  return fmt::format("xxh3:{:016x}", XXH3_64bits(text.data(), text.size()));
}

// Streams the file: a trace can be larger than memory.
std::string hash_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw core::InputError(path, "cannot be read to record its hash");
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  XXH3_64bits_reset(state.get());
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), std::streamsize(buffer.size()));
    XXH3_64bits_update(state.get(), buffer.data(), std::size_t(in.gcount()));
  }
  return fmt::format("xxh3:{:016x}", XXH3_64bits_digest(state.get()));
}

}  // namespace

std::string input_hash(const Input& input) {
  if (input.name.empty())
    return "";
  std::error_code ec;
  if (std::filesystem::is_regular_file(input.name, ec))
    return hash_file(input.name);
  if (input.role == "hw")
    if (auto hw = hw::find_preset(input.name))
      return hash_text(hw::to_json(*hw).dump());
  if (input.role == "model")
    if (auto m = model::find_preset(input.name))
      return hash_text(model::to_json(*m).dump());
  return hash_text(input.name);  // a name the command resolved itself (a policy, a preset)
}

nlohmann::ordered_json inputs_record(const std::string& command, const std::vector<Input>& inputs,
                                     const nlohmann::ordered_json& settings) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& in : inputs) {
    if (in.name.empty())
      continue;
    std::error_code ec;
    const bool file = std::filesystem::is_regular_file(in.name, ec);
    list.push_back({{"role", in.role},
                    {"name", in.name},
                    {"kind", file ? "file" : "preset"},
                    {"hash", input_hash(in)}});
  }
  return {{"command", command}, {"inputs", list}, {"settings", settings}};
}

std::vector<std::string> declare_run_dir(core::OutputPlan& plan, const std::string& dir,
                                         const std::vector<std::string>& files) {
  std::vector<std::string> paths;
  if (dir.empty())
    return paths;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw core::InputError({"--out-dir", "", 0}, dir,
                           "a directory that can be created (" + ec.message() + ")");
  for (const auto& name : files) {
    paths.push_back((std::filesystem::path(dir) / name).string());
    plan.output("--out-dir", paths.back(), {".json"});
  }
  return paths;
}

void stage_run_dir(core::OutputPlan& plan, const std::string& dir,
                   const std::vector<std::pair<std::string, std::string>>& files,
                   const nlohmann::ordered_json& record) {
  if (dir.empty())
    return;
  const std::filesystem::path base(dir);
  for (const auto& [name, content] : files)
    plan.stage((base / name).string(), content);
  plan.stage((base / kInputsFile).string(), record.dump(1) + "\n");
}

}  // namespace mozart::report
