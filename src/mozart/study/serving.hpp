// Routing for serving runs, drawn from the generator's default law in serving order.
#pragma once

#include <cstdint>

#include "mozart/model/spec.hpp"
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

}  // namespace mozart::study
