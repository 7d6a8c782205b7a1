// libFuzzer target for one trace reader, chosen at build time by MOZART_FUZZ_FORMAT. Any input
// must either parse into a valid trace or raise InputError: never crash, hang or leak.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mozart/core/error.hpp"
#include "mozart/trace/formats.hpp"
#include "mozart/trace/trace.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  mozart::trace::ReadOptions options;
  options.hint.experts = 64;  // what foreign formats leave out
  mozart::trace::Trace trace;
  try {
    trace = mozart::trace::parse_trace(bytes, *mozart::trace::parse_format(MOZART_FUZZ_FORMAT),
                                       options, "fuzz");
  } catch (const mozart::core::InputError&) {
    return 0;
  }
  // A trace the reader accepted must be valid: the text formats check records as they read
  // them and skip validate(), so a fault found here is one their reading path missed.
  try {
    mozart::trace::validate(trace, "fuzz");
  } catch (const mozart::core::InputError&) {
    __builtin_trap();
  }
  return 0;
}
