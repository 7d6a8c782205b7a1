#include "mozart/study/serving.hpp"

#include "mozart/study/setup.hpp"

namespace mozart::study {

trace::Trace serving_trace(const model::MoeModel& m, const workload::ServeConfig& config,
                           int groups, std::uint64_t seed) {
  const std::size_t per = workload::tokens_per_iteration(config, groups);
  const std::size_t its = std::size_t(config.iterations);
  if (config.phase != workload::ServePhase::decode)
    return generated_trace(m, per * its, config.prompt, seed);
  // Sequence-major as drawn (sequence s's i-th token is s * its + i); served iteration-major.
  const trace::Trace drawn = generated_trace(m, per * its, config.iterations, seed);
  trace::Trace out = trace::make_trace(drawn.shape, drawn.tokens, drawn.model);
  const std::size_t k = std::size_t(drawn.top_k());
  for (std::size_t i = 0; i < its; ++i) {
    for (std::size_t s = 0; s < per; ++s) {
      const std::size_t from = s * its + i, to = i * per + s;
      out.sequence[to] = drawn.sequence[from];
      out.position[to] = drawn.position[from];
      for (int l = 0; l < drawn.layers(); ++l)
        for (std::size_t j = 0; j < k; ++j)
          out.experts[out.offset(l, to) + j] = drawn.experts[drawn.offset(l, from) + j];
    }
  }
  return out;
}

}  // namespace mozart::study
