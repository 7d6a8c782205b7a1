// Routing of each token, and the order in which experts stream through SRAM.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "mozart/workload/step_builder.hpp"

namespace mozart::workload::detail {

const net::TokenRoutes& StepBuilder::routes_of(int mb, std::size_t li) {
  const std::size_t first = cfg_.first_token + std::size_t(mb) * tokens_per_mb_;
  routes_.source.resize(tokens_per_mb_);
  routes_.destinations.resize(tokens_per_mb_);
  for (std::size_t t = 0; t < tokens_per_mb_; ++t) {
    const std::size_t seq = t / static_cast<std::size_t>(cfg_.micro_batch.seq_len);
    routes_.source[t] = attention_of_sequence_[seq];
    std::vector<int>& dests = routes_.destinations[t];
    dests.clear();
    for (const trace::ExpertId e : in_.trace.choices(static_cast<int>(li), first + t))
      dests.push_back(chiplet_of(li, e));
  }
  return routes_;
}

double StepBuilder::count_copies(const net::TokenRoutes& routes) {
  if (copy_stamp_.empty())
    copy_stamp_.assign(static_cast<std::size_t>(hw_.node_count()), 0);
  double copies = 0;
  for (const auto& dests : routes.destinations) {
    if (policy_.all_to_all == net::AllToAllMode::copy_per_expert) {
      copies += double(dests.size());
      continue;
    }
    // Distinct destinations: each node counted the first time this token names it.
    if (++copy_token_ == 0) {  // wrapped: forget every stamp
      std::fill(copy_stamp_.begin(), copy_stamp_.end(), 0);
      copy_token_ = 1;
    }
    std::size_t distinct = 0;
    for (const int d : dests) {
      std::uint32_t& seen = copy_stamp_[static_cast<std::size_t>(d)];
      if (seen != copy_token_) {
        seen = copy_token_;
        ++distinct;
      }
    }
    copies += double(distinct);
  }
  return copies;
}

const ExchangePlans::Entry& StepBuilder::exchange_plans(int mb, std::size_t li) {
  const auto id = [](const auto& object) { return reinterpret_cast<std::uintptr_t>(&object); };
  const ExchangePlans::Key key{id(net_),
                               id(m_),
                               id(in_.trace),
                               id(in_.placement),
                               cfg_.first_token,
                               cfg_.micro_batch.sequences,
                               cfg_.micro_batch.seq_len,
                               mb,
                               li,
                               policy_.all_to_all};
  ExchangePlans* cache = in_.exchange_plans;
  if (cache != nullptr)
    if (const ExchangePlans::Entry* found = cache->find(key))
      return *found;
  const net::TokenRoutes& routes = routes_of(mb, li);
  ExchangePlans::Entry made;
  made.tokens = double(routes.destinations.size());
  made.copies = count_copies(routes);
  const double token_bytes = double(m_.hidden) * b_;
  made.plans = net::dispatch_and_combine(net_, routes, token_bytes, policy_.all_to_all);
  independent(made.plans.dispatch);
  independent(made.plans.combine);
  if (cache != nullptr)
    return cache->add(key, std::move(made));
  own_plans_ = std::move(made);
  return own_plans_;
}

bool StepBuilder::likely_used(std::size_t li, int e) const {
  const double p = prior_[li][static_cast<std::size_t>(e)] / prior_tokens_;
  return 1 - std::pow(1 - std::min(p, 1.0), double(tokens_per_mb_)) >= 0.5;
}

std::vector<StepBuilder::Streamed> StepBuilder::stream_order(std::size_t li, int chiplet, int mb,
                                                             bool forward) const {
  const auto& counts = counts_[static_cast<std::size_t>(mb)][li];
  std::vector<Streamed> order;
  for (const int e : experts_on(li, chiplet)) {
    const bool used = counts[static_cast<std::size_t>(e)] > 0;
    const bool prefetch =
        policy_.streaming && (!forward || plan_.prefetch[li][static_cast<std::size_t>(e)]);
    if (used || (forward && prefetch))
      order.push_back({e, prefetch});
  }
  if (policy_.streaming)
    std::stable_sort(order.begin(), order.end(), [&](const Streamed& x, const Streamed& y) {
      if (x.prefetch != y.prefetch)
        return x.prefetch;
      return prior_[li][static_cast<std::size_t>(x.expert)] >
             prior_[li][static_cast<std::size_t>(y.expert)];
    });
  return order;
}

}  // namespace mozart::workload::detail
