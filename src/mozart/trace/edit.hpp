// Cutting traces: the tokens of a range, some of the layers, a split for held-out evaluation,
// and counts that tools print.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "mozart/trace/trace.hpp"

namespace mozart::trace {

// Distinct sequence ids (a trace cut from another keeps its ids, so the largest + 1 overcounts).
std::size_t count_sequences(const Trace& trace);

// Tokens [first, last) at the MoE layers `layer_ids` (empty: all), every column kept. An id the
// trace lacks or a range outside it is an InputError naming `source`.
Trace slice(const Trace& trace, std::size_t first, std::size_t last,
            const std::vector<int>& layer_ids, const std::string& source);

// Where a split puts its cut: after `tokens` tokens, after the first `sequences` sequences (in
// token order), or after a `fraction` in (0, 1) of the tokens moved to the nearest sequence
// boundary (a sequence is never cut when the trace has more than one). Exactly one is set.
struct SplitAt {
  std::size_t tokens = 0;
  std::size_t sequences = 0;
  std::optional<double> fraction = std::nullopt;  // in (0, 1)
};

// The token index of the cut; both parts must hold at least one token (InputError otherwise,
// naming `source`).
std::size_t split_point(const Trace& trace, const SplitAt& at, const std::string& source);

// Mean share of a token's top-k also chosen by the token before it in the same sequence, per
// layer (decode-time locality: the experts a serving step keeps warm). 0 when no two
// consecutive tokens share a sequence.
std::vector<double> consecutive_reuse(const Trace& trace);

}  // namespace mozart::trace
