#include "mozart/workload/policy.hpp"

#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::workload {
namespace {

Policy named(const std::string& name) {
  Policy p;
  p.name = name;
  if (name == "baseline")
    return p;
  p.overlap = true;
  if (name == "A")
    return p;
  p.all_to_all = net::AllToAllMode::in_network;
  if (name == "B")
    return p;
  p.streaming = true;
  p.placer = "mozart";
  return p;
}

std::optional<net::AllToAllMode> all_to_all_named(const std::string& word) {
  for (const auto mode : {net::AllToAllMode::copy_per_expert, net::AllToAllMode::copy_per_chiplet,
                          net::AllToAllMode::in_network})
    if (word == net::to_string(mode))
      return mode;
  return std::nullopt;
}

}  // namespace

Policy parse_policy(const std::string& text, const std::string& field) {
  if (text == "baseline" || text == "A" || text == "B" || text == "C")
    return named(text);
  Policy p;
  p.name = text;
  std::istringstream words(text);
  std::string word;
  bool any = false;
  while (std::getline(words, word, '+')) {
    any = true;
    if (word == "overlap") {
      p.overlap = true;
    } else if (word == "overlap-a2a") {
      p.overlap_a2a = true;
    } else if (word == "streaming") {
      p.streaming = true;
    } else if (const auto mode = all_to_all_named(word)) {
      p.all_to_all = *mode;
    } else if (word.rfind("placer=", 0) == 0 && word.size() > 7) {
      p.placer = word.substr(7);
    } else {
      throw core::InputError({field, "policy", 0}, word,
                             "baseline, A, B, C, or options joined by '+': overlap, overlap-a2a, "
                             "streaming, "
                             "per-expert, per-chiplet, in-network, placer=NAME");
    }
  }
  if (!any)
    throw core::InputError({field, "policy", 0}, "(empty)", "a policy name or options");
  return p;
}

std::string describe(const Policy& p) {
  std::string out = p.overlap ? "overlap+" : "";
  if (p.overlap_a2a)
    out += "overlap-a2a+";
  out += net::to_string(p.all_to_all);
  if (p.streaming)
    out += "+streaming";
  return out + "+placer=" + p.placer;
}

}  // namespace mozart::workload
