// libFuzzer target for one reader of a user file other than a trace, chosen at build time by
// MOZART_FUZZ_READER: hw (hardware YAML), model (model YAML), hf (Hugging Face config.json),
// placement (placement JSON) or placement_csv. Any input must either read into a valid value or
// raise InputError: never crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mozart/core/config.hpp"
#include "mozart/core/error.hpp"
#include "mozart/hw/spec.hpp"
#include "mozart/model/hf_import.hpp"
#include "mozart/model/params.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/placement/placement.hpp"

namespace {

void read(std::string_view reader, std::string_view bytes) {
  using namespace mozart;
  if (reader == "hw") {
    const hw::HwSpec spec = hw::read_hw(core::ConfigNode::parse(bytes, "fuzz.yaml"));
    (void)hw::to_json(spec).dump();
  } else if (reader == "model" || reader == "hf") {
    const model::MoeModel m = reader == "model"
                                  ? model::read_model(core::ConfigNode::parse(bytes, "fuzz.yaml"))
                                  : model::import_hf_config(bytes, "fuzz.json");
    (void)model::count_params(m);  // what every later command computes first
    (void)model::to_yaml(m);
  } else if (reader == "placement") {
    const auto json = nlohmann::json::parse(bytes, nullptr, false);
    if (json.is_discarded())
      return;
    (void)placement::to_csv(placement::placement_from_json(json, "fuzz.json"));
  } else if (reader == "placement_csv") {
    (void)placement::to_json(placement::placement_from_csv(bytes, "fuzz.csv")).dump();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    read(MOZART_FUZZ_READER, std::string_view(reinterpret_cast<const char*>(data), size));
  } catch (const mozart::core::InputError&) {
  }
  return 0;
}
