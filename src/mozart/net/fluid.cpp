#include "mozart/net/fluid.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

namespace mozart::net {
namespace {

constexpr double kTimeTolerance = 1e-9;    // relative: finishing times this close coincide
constexpr double kShareTolerance = 1e-12;  // relative: channels this close saturate together
constexpr double kRateTolerance = 1e-9;    // relative: rates this close count as equal
constexpr uint32_t kFillAhead = 6;         // flows whose uses the filling fetches ahead
constexpr size_t kSearchFrom = 16;         // flows above the floor worth a component search
// A channel counts as saturated from within 1e-9 of its capacity: far above the rounding the
// filling leaves on the channels it saturates, so the shortcuts never take a saturated channel
// for a free one.
constexpr double kSaturated = 1 - 1e-9;

// Two doubles, in GCC's and Clang's portable vector extension (one SSE2 register on x86-64):
// the scans below compare two channels' shares per operation.
using Double2 = double __attribute__((vector_size(16)));

Double2 load2(const double* p) {
  Double2 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// The smallest of n values (kNever for none), by four running minima (two pairs of lanes) so
// the scan pipelines; minimum j takes the values at j mod 4, as four scalar minima would.
double smallest(const double* value, size_t n) {
  Double2 low = {kNever, kNever}, high = {kNever, kNever};
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const Double2 a = load2(value + i), b = load2(value + i + 2);
    low = a < low ? a : low;
    high = b < high ? b : high;
  }
  for (; i < n; ++i)
    low[0] = value[i] < low[0] ? value[i] : low[0];
  return std::min({low[0], low[1], high[0], high[1]});
}

// The positions of the values at most `limit` (kAtMost) or at least `limit`, in order, into
// `out`; returns how many. NaN never passes. Few pass as a rule (the channels that saturate in
// a round of the filling, the flows that finish at an event, the fast flows a finish
// re-solves), so blocks of eight are tested at once and only a block with a hit is written
// out, branch-free within it since which of its values pass is unpredictable.
template <bool kAtMost>
size_t positions_passing(const double* value, size_t n, double limit, uint32_t* out) {
  constexpr size_t kBlock = 8;
  const Double2 bound = {limit, limit};
  auto pass2 = [&](const double* at) { return kAtMost ? load2(at) <= bound : load2(at) >= bound; };
  auto pass = [&](double v) { return kAtMost ? v <= limit : v >= limit; };
  size_t found = 0, at = 0;
  for (; at + kBlock <= n; at += kBlock) {
    const auto hit =
        pass2(value + at) | pass2(value + at + 2) | pass2(value + at + 4) | pass2(value + at + 6);
    if ((hit[0] | hit[1]) == 0)
      continue;
    for (size_t j = 0; j < kBlock; ++j) {
      out[found] = uint32_t(at + j);
      found += pass(value[at + j]);
    }
  }
  for (; at < n; ++at) {
    out[found] = uint32_t(at);
    found += pass(value[at]);
  }
  return found;
}

size_t positions_at_most(const double* value, size_t n, double limit, uint32_t* out) {
  return positions_passing<true>(value, n, limit, out);
}

size_t positions_at_least(const double* value, size_t n, double limit, uint32_t* out) {
  return positions_passing<false>(value, n, limit, out);
}

// Sorts uses by channel and merges repeats, so each channel appears once per flow.
void normalise(std::vector<ChannelUse>& uses) {
  const auto before = [](const ChannelUse& a, const ChannelUse& b) {
    return a.channel < b.channel;
  };
  if (std::adjacent_find(uses.begin(), uses.end(), std::not_fn(before)) == uses.end())
    return;  // routes mostly come in order already
  std::sort(uses.begin(), uses.end(), before);
  size_t out = 0;
  for (size_t i = 0; i < uses.size(); ++i) {
    if (out > 0 && uses[out - 1].channel == uses[i].channel) {
      uses[out - 1].coefficient += uses[i].coefficient;
    } else {
      uses[out++] = uses[i];
    }
  }
  uses.resize(out);
}

}  // namespace

FluidNetwork::FluidNetwork(std::vector<double> capacity_bytes_per_s)
    : capacity_(std::move(capacity_bytes_per_s)),
      stats_(capacity_.size()),
      load_since_(capacity_.size(), 0),
      load_(capacity_.size(), 0),
      channel_flows_(capacity_.size()),
      filling_(capacity_.size()),
      low_load_(capacity_.size(), 0),
      unrecorded_mark_(capacity_.size(), 0),
      slot_of_channel_(capacity_.size()),
      near_minimum_(capacity_.size()),
      frontier_(capacity_.size() + 1) {
  for (size_t c = 0; c < capacity_.size(); ++c) {
    if (!(capacity_[c] > 0) || !std::isfinite(capacity_[c])) {
      throw std::invalid_argument("channel " + std::to_string(c) + " needs a positive capacity");
    }
  }
}

void FluidNetwork::reset() {
  std::fill(stats_.begin(), stats_.end(), ChannelStats{});
  std::fill(load_since_.begin(), load_since_.end(), 0.0);
  std::fill(load_.begin(), load_.end(), 0.0);
  std::fill(low_load_.begin(), low_load_.end(), 0.0);
  std::fill(unrecorded_mark_.begin(), unrecorded_mark_.end(), uint8_t{0});
  for (std::vector<OnChannel>& list : channel_flows_)
    list.clear();
  // The filling's marks stay: no old mark equals a coming stamp (see next_stamp).
  flows_.clear();
  hot_.clear();
  use_channel_.clear();
  use_coefficient_.clear();
  use_slot_.clear();
  heap_.clear();
  listed_.clear();
  listed_rate_.clear();
  listed_time_.clear();
  listed_progress_.clear();
  listed_uses_.clear();
  listed_state_.clear();
  listed_holes_ = 0;
  dirty_.clear();
  started_.clear();
  freed_.clear();
  finished_rate_ = kNever;
  searches_to_skip_ = 0;
  searches_skipped_ = 0;
  now_ = 0;
  active_count_ = 0;
  nonunit_listed_ = 0;
  solves_ = resolved_flows_ = moved_flows_ = placed_flows_ = quiet_finishes_ = 0;
  bottleneck_solves_ = bottleneck_retries_ = 0;
  low_.clear();
  low_changed_ = false;
  unrecorded_.clear();
}

// --- the event heap ----------------------------------------------------------------------

void FluidNetwork::heap_place(size_t i, HeapEntry e) {
  heap_[i] = e;
  flows_[e.flow].heap_pos = int32_t(i);
}

// Moves the entry at i up or down to where its key belongs (a hole moves, not the entry).
void FluidNetwork::heap_fix(size_t i) {
  const HeapEntry e = heap_[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (!(e < heap_[parent]))
      break;
    heap_place(i, heap_[parent]);
    i = parent;
  }
  const size_t n = heap_.size();
  while (true) {
    const size_t left = 2 * i + 1, right = left + 1;
    if (left >= n)
      break;
    const size_t child = right < n && heap_[right] < heap_[left] ? right : left;
    if (!(heap_[child] < e))
      break;
    heap_place(i, heap_[child]);
    i = child;
  }
  heap_place(i, e);
}

void FluidNetwork::heap_set(FlowId f, double time) {
  Flow& flow = flows_[f];
  if (flow.heap_pos < 0) {
    flow.heap_pos = int32_t(heap_.size());
    heap_.push_back({time, f});
  } else {
    heap_[size_t(flow.heap_pos)].time = time;
  }
  heap_fix(size_t(flow.heap_pos));
}

void FluidNetwork::heap_remove(FlowId f) {
  Flow& flow = flows_[f];
  if (flow.heap_pos < 0)
    return;
  const size_t i = size_t(flow.heap_pos);
  flow.heap_pos = -1;
  const HeapEntry last = heap_.back();
  heap_.pop_back();
  if (i < heap_.size()) {
    heap_[i] = last;
    heap_fix(i);
  }
}

// --- flows --------------------------------------------------------------------------------

void FluidNetwork::reserve(size_t flows, size_t uses) {
  flows_.reserve(flows);
  hot_.reserve(flows);
  use_channel_.reserve(uses);
  use_coefficient_.reserve(uses);
  use_slot_.reserve(uses);
}

FlowId FluidNetwork::start(const FlowSpec& spec) {
  return start(spec.uses, spec.bytes, spec.latency_s, spec.weight, spec.priority);
}

FlowId FluidNetwork::start(std::span<const ChannelUse> spec_uses, double bytes, double latency_s,
                           double weight, Priority priority) {
  if (!(bytes >= 0) || !(latency_s >= 0) || !(weight > 0)) {
    throw std::invalid_argument("flow needs bytes >= 0, latency >= 0 and weight > 0");
  }
  for (const ChannelUse& u : spec_uses) {
    if (u.channel < 0 || u.channel >= channel_count() || !(u.coefficient > 0)) {
      throw std::invalid_argument("flow uses an unknown channel or a non-positive coefficient");
    }
  }
  std::vector<ChannelUse>& uses = normalised_;
  uses.assign(spec_uses.begin(), spec_uses.end());
  normalise(uses);
  const FlowId id = FlowId(flows_.size());
  Flow& flow = flows_.emplace_back();
  flow.bytes = bytes;
  flow.priority = priority;
  Hot& h = hot_.emplace_back();
  h.weight = weight;
  h.first_use = uint32_t(use_channel_.size());
  h.use_count = uint32_t(uses.size()) & 0x7fffffffu;
  for (const ChannelUse& u : uses) {
    if (u.coefficient != 1)
      h.unit = 0;
  }
  if (!h.unit) {  // the coefficients are stored only up to the last flow that needs them
    use_coefficient_.resize(h.first_use);
    for (const ChannelUse& u : uses)
      use_coefficient_.push_back(u.coefficient);
  }
  for (const ChannelUse& u : uses) {
    use_channel_.push_back(u.channel);
    use_slot_.push_back(0);
  }
  if (latency_s > 0) {
    heap_set(id, now_ + latency_s);
  } else {
    activate(id);
  }
  return id;
}

void FluidNetwork::activate(FlowId id) {
  Flow& f = flows_[id];
  f.phase = Phase::active;
  ++active_count_;
  low_changed_ = true;
  Hot& h = hot_[id];
  if (h.use_count == 0 || f.bytes <= 0) {
    heap_set(id, now_);  // nothing to share: done at once
    return;
  }
  heap_remove(id);  // its finishing time lives in listed_time_ (or low_) from now on
  if (f.priority == Priority::low) {
    activate_low(id);
    return;
  }
  h.active_pos = int32_t(listed_.size());
  if (!unit_demand(h))
    ++nonunit_listed_;
  listed_.push_back(id);
  listed_rate_.push_back(0);
  listed_time_.push_back(kNever);
  listed_progress_.push_back({f.bytes, now_});
  listed_uses_.push_back({h.first_use, h.use_count});
  listed_state_.push_back(0);
  for (uint32_t u = h.first_use; u < h.first_use + h.use_count; ++u) {
    const ChannelId c = use_channel_[u];
    use_slot_[u] = uint32_t(channel_flows_[c].size());
    channel_flows_[c].push_back({uint32_t(h.active_pos), u});
    dirty_.push_back(c);
  }
  started_.push_back(id);
}

// Channels count their bytes from their load (refresh_load), so settling a flow is O(1).
void FluidNetwork::settle_listed(size_t pos) {
  Progress& p = listed_progress_[pos];
  const double dt = now_ - p.settled_at;
  if (dt > 0 && listed_rate_[pos] > 0)
    p.remaining -= std::min(listed_rate_[pos] * dt, p.remaining);
  p.settled_at = now_;
}

void FluidNetwork::remove_load(FlowId id, double rate) {
  const std::span<const ChannelId> channels = channels_of(id);
  for (size_t k = 0; k < channels.size(); ++k)
    load_[channels[k]] -= rate * demand(id, k);
}

void FluidNetwork::finish(FlowId id) {
  Flow& f = flows_[id];
  heap_remove(id);
  f.phase = Phase::done;
  f.finish_time = now_;
  --active_count_;
  low_changed_ = true;
  if (f.low_pos >= 0) {
    finish_low(id);
    return;
  }
  Hot& h = hot_[id];
  if (h.active_pos < 0)
    return;
  const auto pos = size_t(h.active_pos);
  if (!unit_demand(h))
    --nonunit_listed_;
  const double rate = listed_rate_[pos];
  // After a finish that needs a solve, loads no longer tell which channels are saturated.
  if (finished_rate_ == kNever && bottleneck_free(id)) {
    ++quiet_finishes_;
  } else {
    finished_rate_ = std::min(finished_rate_, rate);
    // Removing a flow from a channel with room left changes no one's rate there.
    for (const ChannelId c : channels_of(id))
      if (saturated(c))
        freed_.push_back(c);
  }
  remove_load(id, rate);
  listed_rate_[pos] = std::numeric_limits<double>::quiet_NaN();
  listed_time_[pos] = kNever;
  ++listed_holes_;
  h.active_pos = -1;
  for (uint32_t u = h.first_use; u < h.first_use + h.use_count; ++u) {
    const ChannelId c = use_channel_[u];
    refresh_load(c);
    std::vector<OnChannel>& list = channel_flows_[c];
    const uint32_t slot = use_slot_[u];
    list[slot] = list.back();
    use_slot_[list[slot].use] = slot;
    list.pop_back();
  }
}

double FluidNetwork::next_event_time() {
  resolve();
  double t = heap_.empty() ? kNever : heap_.front().time;
  // A contiguous scan beats a heap of changing keys.
  for (const LowFlow& l : low_)
    t = std::min(t, l.time);
  return std::min(t, smallest(listed_time_.data(), listed_time_.size()));
}

std::vector<FlowId> FluidNetwork::advance_to(double t) {
  std::vector<FlowId> done;
  advance_to(t, done);
  return done;
}

void FluidNetwork::advance_to(double t, std::vector<FlowId>& done) {
  if (t < now_)
    throw std::invalid_argument("advance_to: time goes backwards");
  resolve();  // rates changed at the old time hold until t
  now_ = t;
  const double horizon = t + kTimeTolerance * std::fabs(t);
  done.clear();
  while (!heap_.empty() && heap_.front().time <= horizon) {
    const FlowId id = heap_.front().flow;
    if (flows_[id].phase == Phase::latency) {
      activate(id);
    } else {
      finish(id);
      done.push_back(id);
    }
  }
  const size_t instant = done.size();
  std::vector<uint32_t>& due = solve_listed_;
  due.resize(listed_.size());
  const size_t found = positions_at_most(listed_time_.data(), listed_.size(), horizon, due.data());
  for (size_t k = 0; k < found; ++k)
    done.push_back(listed_[due[k]]);
  for (const LowFlow& l : low_) {
    if (l.time <= horizon)
      done.push_back(l.flow);
  }
  std::sort(done.begin() + std::ptrdiff_t(instant), done.end());
  for (size_t i = instant; i < done.size(); ++i)
    finish(done[i]);
  std::sort(done.begin(), done.end());
}

// --- solving ------------------------------------------------------------------------------

void FluidNetwork::resolve() {
  compact_listed();
  const bool placed = finished_rate_ == kNever && place_started();
  if (placed) {
    // Every started flow took the room left to it: the others keep their rates.
  } else if (!dirty_.empty()) {
    solve_started();
  } else if (finished_rate_ != kNever) {
    solve_above(finished_rate_ * (1 - kRateTolerance));
  }
  dirty_.clear();
  freed_.clear();
  started_.clear();
  finished_rate_ = kNever;
  if (low_changed_ && !low_.empty())
    solve_low();
  low_changed_ = false;
  flush_loads();
}

bool FluidNetwork::saturated(ChannelId c) const {
  return load_[c] >= kSaturated * capacity_[c];
}

bool FluidNetwork::bottleneck_free(FlowId f) const {
  for (const ChannelId c : channels_of(f)) {
    if (channel_flows_[c].size() > 1 && saturated(c))
      return false;
  }
  return true;
}

bool FluidNetwork::place_started() {
  for (size_t i = 0; i < started_.size(); ++i) {
    if (!place(started_[i]))
      return false;
  }
  return true;
}

// The new flow f's share is what its tightest channel has left, over its demand there. It
// keeps the allocation max-min fair when none of its channels is saturated yet (it then
// crosses no flow's bottleneck) and no flow on the tightest channel has a larger share (which
// makes that channel f's bottleneck).
bool FluidNetwork::place(FlowId f) {
  const std::span<const ChannelId> channels = channels_of(f);
  double share = kNever;
  ChannelId tightest = -1;
  for (size_t k = 0; k < channels.size(); ++k) {
    const ChannelId c = channels[k];
    if (saturated(c))
      return false;
    const double room = (capacity_[c] - load_[c]) / demand(f, k);
    if (room < share) {
      share = room;
      tightest = c;
    }
  }
  const auto pos = uint32_t(hot_[f].active_pos);
  for (const OnChannel& on : channel_flows_[tightest]) {
    if (on.pos != pos && listed_rate_[on.pos] > share)
      return false;
  }
  ++placed_flows_;
  listed_rate_[pos] = share;
  listed_time_[pos] = now_ + listed_progress_[pos].remaining / share;
  for (size_t k = 0; k < channels.size(); ++k) {
    load_[channels[k]] += share * demand(f, k);
    refresh_load(channels[k]);
  }
  return true;
}

void FluidNetwork::compact_listed() {
  if (listed_holes_ < 64 || 2 * listed_holes_ < listed_.size())
    return;
  size_t kept = 0;
  for (size_t pos = 0; pos < listed_.size(); ++pos) {
    if (unlisted(listed_rate_[pos]))
      continue;
    listed_[kept] = listed_[pos];
    listed_rate_[kept] = listed_rate_[pos];
    listed_time_[kept] = listed_time_[pos];
    listed_progress_[kept] = listed_progress_[pos];
    listed_uses_[kept] = listed_uses_[pos];
    listed_state_[kept] = listed_state_[pos];
    hot_[listed_[kept]].active_pos = int32_t(kept);
    const Uses uses = listed_uses_[kept];  // the channels' lists follow the move
    for (uint32_t u = uses.first; u < uses.first + uses.count; ++u)
      channel_flows_[use_channel_[u]][use_slot_[u]].pos = uint32_t(kept);
    ++kept;
  }
  listed_.resize(kept);
  listed_rate_.resize(kept);
  listed_time_.resize(kept);
  listed_progress_.resize(kept);
  listed_uses_.resize(kept);
  listed_state_.resize(kept);
  listed_holes_ = 0;
}

// Re-solves the flows reached from `seeds` through shared channels: after starts, the
// connected component of the channels that gained a flow (and of those finished flows left),
// since max-min allocations of disjoint components are independent. Once the search has
// reached half the flows on channels, re-solving them all costs less than searching on.
void FluidNetwork::solve_reached(const std::vector<ChannelId>& seeds) {
  next_stamp();
  if (reach(seeds, -kNever, (listed_.size() - listed_holes_) / 2, solve_listed_, Through::shared))
    apply(solve_channels_, solve_listed_, Check::none);
  else
    solve_above(-kNever);
}

// After starts (and any finishes since the last solve): first the started flows and the
// flows they and the finished flows' channels reach through bottlenecks, checked by the solve
// (see the header: the same argument holds with no floor, a started flow being in the solve);
// if the check fails, the connected component of both. A search that finds half the flows on
// channels gives way to re-solving them all, as the component's search would: it finds more.
void FluidNetwork::solve_started() {
  next_stamp();
  const size_t cap = (listed_.size() - listed_holes_) / 2;
  if (!reach(freed_, -kNever, cap, searched_, Through::saturated, &started_)) {
    solve_above(-kNever);
    return;
  }
  if (solve_searched())
    return;
  // Finished flows may sit in other components than the started ones: seed both.
  dirty_.insert(dirty_.end(), freed_.begin(), freed_.end());
  solve_reached(dirty_);
}

// After finishes: the flows at or above `floor` (flows below it keep their rates; see the
// header), found by a scan of the contiguous rate array. When they are many, only those the
// freed channels reach through bottlenecks are taken, checked by the solve, and if the check
// fails those they reach through any channel they share, since flows at or above the floor in
// a component that lost no flow keep their rates too. The search stops once it has
// found half of them (then it saves little, as in an all-to-all whose fast flows all share the
// central links), and after each such failure in a row the next searches are skipped, twice as
// many each time, so that an all-to-all pays for a logarithmic number of searches.
void FluidNetwork::solve_above(double floor) {
  next_stamp();
  std::vector<uint32_t>& listed = solve_listed_;
  std::vector<ChannelId>& channels = solve_channels_;
  channels.clear();
  listed.resize(listed_.size());
  // Holes (NaN) never pass.
  const size_t picked =
      positions_at_least(listed_rate_.data(), listed_.size(), floor, listed.data());
  listed.resize(picked);
  if (floor != -kNever && picked >= kSearchFrom && search_after_finish()) {
    if (reach(freed_, floor, picked / 2, searched_, Through::saturated)) {
      searches_skipped_ = 0;
      if (solve_searched())
        return;
      next_stamp();
      if (reach(freed_, floor, picked / 2, searched_, Through::shared)) {
        apply(solve_channels_, searched_, Check::none);
        return;
      }
    }
    searches_to_skip_ = std::max<uint32_t>(1, 2 * searches_skipped_);
    searches_skipped_ = searches_to_skip_;
    next_stamp();  // forget the search's marks: the solve finds its channels as it goes
    channels.clear();
  }
  apply(channels, listed, Check::none);
}

bool FluidNetwork::solve_searched() {
  if (apply(solve_channels_, searched_, Check::others)) {
    ++bottleneck_solves_;
    return true;
  }
  ++bottleneck_retries_;
  return false;
}

void FluidNetwork::next_stamp() {
  if (stamp_ == kLastStamp) {
    for (Filling& f : filling_)
      f.mark = 0;
    std::fill(listed_state_.begin(), listed_state_.end(), 0u);
    stamp_ = 0;
  }
  ++stamp_;
}

bool FluidNetwork::search_after_finish() {
  if (searches_to_skip_ == 0)
    return true;
  --searches_to_skip_;
  return false;
}

// Finds, into `listed` and solve_channels_, the flows at or above `floor` connected to
// the seed channels through the channels they use (Through::saturated: through the saturated
// ones, taking there only the flows with the largest share; see the header); false once it has
// found more than `cap`.
bool FluidNetwork::reach(const std::vector<ChannelId>& seeds, double floor, size_t cap,
                         std::vector<uint32_t>& listed, Through through,
                         const std::vector<FlowId>* started) {
  std::vector<ChannelId>& channels = solve_channels_;
  channels.clear();
  // Raw pointers and counts: the pushes would otherwise make the compiler reload every array.
  ChannelId* const frontier = frontier_.data();
  size_t queued = 0;
  uint32_t* const state = listed_state_.data();
  const double* const rate = listed_rate_.data();
  const Uses* const flow_uses = listed_uses_.data();
  const ChannelId* const use_channel = use_channel_.data();
  Filling* const filling = filling_.data();
  const uint32_t stamp = stamp_;
  // Queues c unless the search has; branch-free, as whether it has is unpredictable.
  auto queue = [&](ChannelId c) {
    Filling& f = filling[c];
    frontier[queued] = c;
    queued += f.mark != stamp;
    f.mark = stamp;
  };
  // A channel with room left is in the solve but leads nowhere (see solve_above).
  auto queue_saturated = [&](ChannelId c) {
    Filling& f = filling[c];
    if (f.mark == stamp)
      return;
    f.mark = stamp;
    if (saturated(c))
      frontier[queued++] = c;
    else
      channels.push_back(c);
  };
  for (const ChannelId c : seeds)
    queue(c);
  // A channel's list is taken in one branch-free pass (whether a flow there is new to the
  // search is unpredictable, and most are not), then the new flows' channels are queued in the
  // same order as if each were queued on sight: the list's flows are all read before the next
  // channel is. Each flow is found once, so the buffer needs one slot more than there are.
  listed.resize(listed_.size() + 1);
  uint32_t* const out = listed.data();
  size_t found = 0;
  // Started flows are in the search whatever their channels; those that finished at once are
  // not on channels.
  const std::span<const FlowId> first =
      started != nullptr ? std::span<const FlowId>(*started) : std::span<const FlowId>();
  for (const FlowId f : first) {
    const int32_t pos = hot_[f].active_pos;
    if (pos < 0 || state[pos] == stamp)
      continue;
    state[pos] = stamp;
    out[found++] = uint32_t(pos);
    const Uses uses = flow_uses[pos];
    for (uint32_t u = uses.first; u < uses.first + uses.count; ++u)
      queue_saturated(use_channel[u]);
  }
  while (queued > 0) {
    const ChannelId c = frontier[--queued];
    channels.push_back(c);
    const size_t first_new = found;
    double floor_here = floor;
    if (through == Through::saturated) {
      double top = 0;
      for (const OnChannel& on : channel_flows_[c])
        top = std::max(top, rate[on.pos]);
      floor_here = std::max(floor, top * (1 - kRateTolerance));
    }
    for (const OnChannel& on : channel_flows_[c]) {
      const uint32_t pos = on.pos;
      const bool fresh = (state[pos] != stamp) & (rate[pos] >= floor_here);
      out[found] = pos;
      state[pos] = fresh ? stamp : state[pos];
      found += fresh;
    }
    if (found > cap) {
      listed.resize(found);
      return false;
    }
    for (size_t k = first_new; k < found; ++k) {
      const Uses uses = flow_uses[out[k]];
      if (through == Through::saturated) {
        for (uint32_t u = uses.first; u < uses.first + uses.count; ++u)
          queue_saturated(use_channel[u]);
      } else {
        for (uint32_t u = uses.first; u < uses.first + uses.count; ++u)
          queue(use_channel[u]);
      }
    }
  }
  listed.resize(found);
  return true;
}

// Fills `flows` into what their channels have left once their own contributions are taken
// out, then updates events. `channels` lists channels to re-solve and grows by any other
// channel the flows use. A flow whose rate comes out unchanged needs neither settling nor a
// new event. With Check::others, false (and nothing changed) when the filling's check fails.
bool FluidNetwork::apply(std::vector<ChannelId>& channels, const std::vector<uint32_t>& listed,
                         Check check) {
  ++solves_;
  resolved_flows_ += listed.size();
  bool solved;
  if (nonunit_listed_ == 0) {
    gather<true>(channels, listed);
    solved = fill<true>(channels, listed, check);
  } else {
    gather<false>(channels, listed);
    solved = fill<false>(channels, listed, check);
  }
  if (!solved)
    return false;
  for (ChannelId c : channels) {
    load_[c] = capacity_[c] - filling_[c].residual;
    refresh_load(c);
  }
  for (size_t i = 0; i < listed.size(); ++i) {
    const uint32_t pos = listed[i];
    const double rate = solved_rate_[pos];
    if (rate == listed_rate_[pos] && listed_time_[pos] != kNever)
      continue;
    moved_flows_ += std::fabs(rate - listed_rate_[pos]) > kRateTolerance * listed_rate_[pos];
    settle_listed(pos);
    listed_rate_[pos] = rate;
    listed_time_[pos] = rate > 0 ? now_ + listed_progress_[pos].remaining / rate : kNever;
  }
  return true;
}

// One pass over the flows' uses: each channel's residual gets the flows' contributions back,
// its demand adds theirs and its count of unfrozen flows counts them, and each flow is marked
// as in the solve. The filling finds a saturating channel's flows in its list of all flows,
// skipping those not in the solve: listing the solve's flows per channel here would write
// every use of every flow to scattered places, where only the channels that saturate need a
// list.
template <bool kUnitDemand>
void FluidNetwork::gather(std::vector<ChannelId>& channels, const std::vector<uint32_t>& listed) {
  for (ChannelId c : channels)
    open_channel(c);
  Filling* const filling = filling_.data();
  const ChannelId* const use_channel = use_channel_.data();
  const Uses* const listed_uses = listed_uses_.data();
  uint32_t* const state = listed_state_.data();
  const uint32_t stamp = stamp_;
  // The flows' uses are scattered over a large array: fetch them a few flows ahead.
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < listed.size(); ++i) {
    if (i + kAhead < listed.size()) {
      const Uses& next = listed_uses[listed[i + kAhead]];
      __builtin_prefetch(use_channel + next.first);
      __builtin_prefetch(use_channel + next.first + next.count - 1);
    }
    const uint32_t pos = listed[i];
    state[pos] = stamp;
    const Uses uses = listed_uses[pos];
    const double rate = listed_rate_[pos];
    const uint32_t end = uses.first + uses.count;
    for (uint32_t u = uses.first; u < end; ++u) {
      const ChannelId c = use_channel[u];
      Filling& f = filling[c];
      if (f.mark != stamp) [[unlikely]] {
        channels.push_back(c);
        open_channel(c);
      }
      if constexpr (kUnitDemand) {
        f.residual += rate;
      } else {
        const Hot& h = hot_[listed_[pos]];
        const double d = h.unit ? h.weight : h.weight * use_coefficient_[u];
        f.residual += rate * d;
        f.demand += d;
      }
      f.unfrozen += 1;
    }
  }
}

void FluidNetwork::open_channel(ChannelId c) {
  Filling& f = filling_[c];
  f.mark = stamp_;
  f.residual = capacity_[c] - load_[c];
  f.demand = 0;
  f.unfrozen = 0;
}

// Progressive filling of the gathered flows into the channels' residuals: each round, the
// channels with the smallest fair share saturate and freeze their flows at it, whose
// contributions leave the residuals. Each channel's fair share is kept in a contiguous array
// (infinite once it has no unfrozen flow) and recomputed only when a frozen flow touches the
// channel, so a round's search is a scan of that array rather than a division per channel.
// Check::others: false as soon as a channel saturates under a flow left out of the solve with
// a larger share than the channel gives (the solve's flows are then not all max-min fair).
template <bool kUnitDemand>
bool FluidNetwork::fill(const std::vector<ChannelId>& channels, const std::vector<uint32_t>& listed,
                        Check check) {
  const size_t flow_count = listed.size();
  if (solved_rate_.size() < listed_.size())
    solved_rate_.resize(listed_.size());
  Filling* const filling = filling_.data();
  double* const rate = solved_rate_.data();
  uint32_t* const state = listed_state_.data();
  const uint32_t stamp = stamp_, frozen_mark = ~stamp_;
  const double* const old_rate = listed_rate_.data();
  // With unit demands a channel's demand is its count of unfrozen flows, exactly.
  auto demand_of = [](const Filling& f) { return kUnitDemand ? double(f.unfrozen) : f.demand; };
  auto share_of = [&](const Filling& f) {
    return f.unfrozen == 0 ? kNever : std::max(f.residual, 0.0) / demand_of(f);
  };
  const size_t n = channels.size();
  std::vector<double>& fair = channel_share_;
  fair.resize(n);
  double* const fair_of = fair.data();
  uint32_t* const slot = slot_of_channel_.data();
  for (size_t k = 0; k < n; ++k) {
    slot[channels[k]] = uint32_t(k);
    fair_of[k] = share_of(filling[channels[k]]);
  }
  const ChannelId* const use_channel = use_channel_.data();
  // A channel a frozen flow leaves gets its share again once the round's freezes are done;
  // NaN marks it as listed for that (the search is idle meanwhile: its list serves).
  // Raw pointers and a count: a channel is touched at most once a round, and the stores below
  // would otherwise make the compiler reload each vector's bounds.
  ChannelId* const touched = frontier_.data();
  size_t touched_count = 0;
  const Uses* const flow_uses = listed_uses_.data();
  auto leave = [&](ChannelId c, double contribution, double d) {
    Filling& f = filling[c];
    f.residual -= contribution;
    if constexpr (!kUnitDemand)
      f.demand -= d;
    f.unfrozen -= 1;
    double& share = fair_of[slot[c]];
    if (!std::isnan(share)) {
      share = std::numeric_limits<double>::quiet_NaN();
      touched[touched_count++] = c;
    }
  };
  auto freeze = [&](uint32_t pos, double share) {
    const Uses uses = flow_uses[pos];
    const uint32_t first = uses.first, last = first + uses.count;
    if constexpr (kUnitDemand) {
      for (uint32_t u = first; u < last; ++u)
        leave(use_channel[u], share, 1);
      return;
    }
    const Hot& h = hot_[listed_[pos]];
    if (h.unit) {
      const double d = h.weight;
      for (uint32_t u = first; u < last; ++u)
        leave(use_channel[u], d * share, d);
      return;
    }
    for (uint32_t u = first; u < last; ++u) {
      const double d = h.weight * use_coefficient_[u];
      leave(use_channel[u], d * share, d);
    }
  };
  std::vector<uint32_t>& frozen = frozen_;
  size_t left = flow_count;
  uint32_t* const near = near_minimum_.data();
  while (left > 0) {
    // The smallest share, and, in channel order, the channels whose quotient lies within a few
    // roundings of the threshold: a superset of those the product test below, the one a scan of
    // every channel would make, lets saturate.
    const double share = smallest(fair_of, n);
    const double limit = share * (1 + kShareTolerance) * (1 + 1e-14);
    const size_t found = positions_at_most(fair_of, n, limit, near);
    const double threshold = share * (1 + kShareTolerance);
    frozen.clear();
    for (size_t j = 0; j < found; ++j) {
      const ChannelId c = channels[near[j]];
      const Filling& f = filling[c];
      if (std::max(f.residual, 0.0) > threshold * demand_of(f))
        continue;
      for (const OnChannel& on : channel_flows_[c]) {  // the flows not in the solve are frozen
        if (state[on.pos] == stamp) {
          state[on.pos] = frozen_mark;
          rate[on.pos] = share;
          frozen.push_back(on.pos);
        } else if (check == Check::others && state[on.pos] != frozen_mark &&
                   old_rate[on.pos] > threshold * (1 + kRateTolerance)) {
          return false;  // c is a bottleneck with a faster flow the solve left out
        }
      }
    }
    left -= frozen.size();
    if (left == 0) {
      // The last round freezes every flow still open: each channel's residual drops by the
      // share times its whole demand at once, and no flow's uses need visiting.
      for (const ChannelId c : channels) {
        Filling& f = filling[c];
        if (f.unfrozen == 0)
          continue;
        f.residual -= share * demand_of(f);
        f.demand = 0;
        f.unfrozen = 0;
      }
      break;
    }
    for (size_t k = 0; k < frozen.size(); ++k) {
      if (k + kFillAhead < frozen.size())  // the uses lie far apart in a large array
        __builtin_prefetch(use_channel + flow_uses[frozen[k + kFillAhead]].first);
      freeze(frozen[k], share);
    }
    for (size_t k = 0; k < touched_count; ++k)
      fair_of[slot[touched[k]]] = share_of(filling[touched[k]]);
    touched_count = 0;
  }
  return true;
}

void FluidNetwork::refresh_load(ChannelId c) {
  if (std::fabs(load_[c]) < 1e-12 * capacity_[c])
    load_[c] = 0;  // what is left of adding and removing the same contributions
  if (low_.empty()) {
    record_load(c);
  } else if (!unrecorded_mark_[c]) {
    // The low flows' share of c follows once they are re-solved; record the sum then.
    unrecorded_mark_[c] = 1;
    unrecorded_.push_back(c);
  }
}

void FluidNetwork::flush_loads() {
  for (const ChannelId c : unrecorded_) {
    unrecorded_mark_[c] = 0;
    record_load(c);
  }
  unrecorded_.clear();
}

void FluidNetwork::record_load(ChannelId c) {
  if (std::fabs(low_load_[c]) < 1e-12 * capacity_[c])
    low_load_[c] = 0;
  const double load = load_[c] + low_load_[c];
  ChannelStats& s = stats_[c];
  if (load == s.load)
    return;
  if (s.load > 0) {
    s.busy_s += now_ - load_since_[c];
    s.bytes += s.load * (now_ - load_since_[c]);
  }
  load_since_[c] = now_;
  s.load = load;
  s.peak_load = std::max(s.peak_load, load);
  if (observer_)
    observer_(c, now_, load);
}

void FluidNetwork::settle() {
  flush_loads();
  for (size_t pos = 0; pos < listed_.size(); ++pos) {
    if (!unlisted(listed_rate_[pos]))
      settle_listed(pos);
  }
  for (LowFlow& l : low_)
    settle_low(l);
  for (size_t c = 0; c < stats_.size(); ++c) {
    if (stats_[c].load > 0) {
      stats_[c].busy_s += now_ - load_since_[c];
      stats_[c].bytes += stats_[c].load * (now_ - load_since_[c]);
    }
    load_since_[c] = now_;
  }
}

// --- low priority --------------------------------------------------------------------------

void FluidNetwork::settle_low(LowFlow& l) const {
  const double dt = now_ - l.progress.settled_at;
  if (dt > 0 && l.rate > 0)
    l.progress.remaining -= std::min(l.rate * dt, l.progress.remaining);
  l.progress.settled_at = now_;
}

void FluidNetwork::activate_low(FlowId id) {
  flows_[id].low_pos = int32_t(low_.size());
  LowFlow& l = low_.emplace_back();
  l.flow = id;
  l.progress = {flows_[id].bytes, now_};
}

void FluidNetwork::finish_low(FlowId id) {
  const auto pos = size_t(flows_[id].low_pos);
  const std::span<const ChannelId> channels = channels_of(id);
  for (size_t k = 0; k < channels.size(); ++k) {
    low_load_[channels[k]] -= low_[pos].rate * demand(id, k);
    refresh_load(channels[k]);  // low_ still holds the flow: recorded at the next solve
  }
  flows_[id].low_pos = -1;
  low_[pos] = low_.back();
  flows_[low_[pos].flow].low_pos = int32_t(pos);
  low_.pop_back();
}

// Progressive filling of the low flows into what the normal flows leave of each channel. A
// channel the normal flows saturate (to within kSaturated) leaves nothing, so that rounding
// there never hands a low flow a sliver of rate.
void FluidNetwork::solve_low() {
  next_stamp();
  std::vector<ChannelId>& channels = solve_channels_;
  channels.clear();
  for (LowFlow& l : low_) {
    settle_low(l);
    const std::span<const ChannelId> uses = channels_of(l.flow);
    for (size_t k = 0; k < uses.size(); ++k) {
      Filling& f = filling_[uses[k]];
      if (f.mark != stamp_) {
        const ChannelId c = uses[k];
        const double left = capacity_[c] - load_[c];
        f = Filling{};
        f.mark = stamp_;
        f.residual = left > (1 - kSaturated) * capacity_[c] ? left : 0;
        channels.push_back(c);
      }
      f.demand += demand(l.flow, k);
      f.unfrozen += 1;
    }
  }
  std::vector<double>& rate = solved_rate_;
  rate.assign(low_.size(), -1);  // negative: not frozen yet
  std::vector<uint32_t>& frozen = frozen_;
  for (size_t left = low_.size(); left > 0; left -= frozen.size()) {
    double share = kNever;
    for (const ChannelId c : channels) {
      const Filling& f = filling_[c];
      if (f.unfrozen > 0)
        share = std::min(share, std::max(f.residual, 0.0) / f.demand);
    }
    const double threshold = share * (1 + kShareTolerance);
    const auto saturates = [&](ChannelId c) {
      const Filling& f = filling_[c];
      return f.unfrozen > 0 && std::max(f.residual, 0.0) <= threshold * f.demand;
    };
    frozen.clear();
    for (size_t i = 0; i < low_.size(); ++i) {
      const std::span<const ChannelId> uses = channels_of(low_[i].flow);
      if (rate[i] < 0 && std::any_of(uses.begin(), uses.end(), saturates))
        frozen.push_back(uint32_t(i));
    }
    for (const uint32_t i : frozen) {
      rate[i] = share;
      const std::span<const ChannelId> uses = channels_of(low_[i].flow);
      for (size_t k = 0; k < uses.size(); ++k) {
        Filling& f = filling_[uses[k]];
        const double d = demand(low_[i].flow, k);
        f.residual -= d * share;
        f.demand -= d;
        f.unfrozen -= 1;
      }
    }
  }
  for (const ChannelId c : channels) {
    low_load_[c] = 0;
    refresh_load(c);
  }
  for (size_t i = 0; i < low_.size(); ++i) {
    LowFlow& l = low_[i];
    l.rate = rate[i];
    l.time = l.rate > 0 ? now_ + l.progress.remaining / l.rate : kNever;
    const std::span<const ChannelId> uses = channels_of(l.flow);
    for (size_t k = 0; k < uses.size(); ++k)
      low_load_[uses[k]] += l.rate * demand(l.flow, k);
  }
}

std::vector<double> run_flows(FluidNetwork& net, const std::vector<TimedFlow>& flows) {
  std::vector<size_t> order(flows.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return flows[a].start_s < flows[b].start_s; });
  std::vector<FlowId> id(flows.size());
  size_t next = 0;
  while (true) {
    while (next < order.size() && flows[order[next]].start_s <= net.now()) {
      id[order[next]] = net.start(flows[order[next]].spec);
      ++next;
    }
    double t = net.next_event_time();
    if (next < order.size())
      t = std::min(t, flows[order[next]].start_s);
    if (t == kNever)
      break;
    net.advance_to(t);
  }
  std::vector<double> out;
  out.reserve(flows.size());
  for (FlowId f : id)
    out.push_back(net.finish_time(f));
  return out;
}

}  // namespace mozart::net
