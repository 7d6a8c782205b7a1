// Routing for serving runs, drawn from the generator's default law in serving order.
#pragma once

#include <cstdint>

#include "mozart/hw/spec.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/placement/placement.hpp"
#include "mozart/trace/trace.hpp"
#include "mozart/workload/inference.hpp"

namespace mozart::study {

// The tokens of `iterations` serving iterations of `groups` TP groups (workload::group_tokens),
// iteration after iteration. Decode draws each sequence as one generated sequence of
// `iterations` tokens and takes its i-th token at iteration i, so a sequence keeps its topic
// from one iteration to the next with the generator's stickiness and expert popularity drifts
// as topics change; prefill and mixed take generated prompts in order.
trace::Trace serving_trace(const model::MoeModel& m, const workload::ServeConfig& config,
                           int groups, std::uint64_t seed);

// Expert parallelism over `ep` devices: the system's expert devices (the layout of `hw`, in its
// order) split into consecutive EP groups of `ep`, each holding every expert once, as `placer`
// lays them on `ep` devices from the priors. InputError (naming `command`'s --ep) when ep does not
// divide the devices or cannot hold the experts. The copies outside the first group are replicas.
placement::Placement place_over_ep(const model::MoeModel& m, const hw::HwSpec& hw,
                                   const trace::Trace& priors, const std::string& placer, int ep,
                                   std::uint64_t seed, const std::string& command);

}  // namespace mozart::study
