// A flow-level (fluid) network: transfers share channel bandwidth by max-min fairness.
//
// A channel is one direction of a link (or any other shared bandwidth: a memory stack, an SRAM
// port). A flow streams `bytes` through a set of channels; on each it consumes `coefficient`
// bytes per byte of its stream: 1 for a unicast route, the share of the stream a branch
// carries for a multicast tree or an in-network aggregation, 1 + header/payload with
// packetisation. A flow of weight w stands for w identical flows (exact aggregation).
//
// Rates are the weighted max-min fair allocation (progressive filling), kept current
// incrementally and exactly:
//  * a start re-solves the connected component of flows and channels it joins (max-min
//    allocations of disjoint components are independent), after first trying, as a finish
//    does below, the started flows and those they reach through bottlenecks;
//  * a finish re-solves only the flows whose rate is at least the finished flow's: a flow frozen
//    at rate r crosses no channel that saturates below r, and removing it only lowers demand on
//    channels that saturate at r or above, so every flow below r keeps its rate; and of the
//    flows at r or above, first only those the finished flow's channels reach through
//    bottlenecks: on the finished flow's own channels every flow at r or above; on any other
//    channel a reached flow uses, only when it is saturated, and only its flows with the
//    largest share there (those it bottlenecks). The others keep their rates: a flow left
//    out keeps its bottleneck, which no re-solved flow crosses. The solve then checks each
//    channel it saturates: a flow left out with a larger share there than the share the
//    channel gives would lose its bottleneck, so the solve is dropped and the flows at r or
//    above that the finished flow's channels reach through any shared channel are re-solved
//    instead (flows at r or above in other components face the same problem as before);
//  * many events need no solve at all. The allocation is max-min fair exactly when every flow
//    has a bottleneck: a saturated channel on which no flow has a larger share. A finishing flow
//    whose shared channels are all unsaturated is nobody's bottleneck, so the others keep their
//    rates. A starting flow whose channels are all unsaturated takes what its tightest channel
//    has left, and keeps everyone's rate, when no flow on that channel has a larger share: it
//    crosses no one's bottleneck and the tightest channel becomes its own.
// A flow first waits out its latency, then joins the sharing (as SimGrid's CM02 model does),
// and finishes when its last byte is delivered.
//
// Strict priority: a flow started at Priority::low never changes a normal flow's rate. The
// normal flows share the channels among themselves as above, as if no low flow were there; the
// low flows then share, max-min fairly among themselves, what the normal flows leave of each
// channel (re-solved, all of them, after every event while any is on channels: low flows are
// few, e.g. background balancing traffic). A channel's load and statistics count both.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

namespace mozart::net {

using ChannelId = int32_t;
using FlowId = int32_t;

inline constexpr double kNever = std::numeric_limits<double>::infinity();

struct ChannelUse {
  ChannelId channel = 0;
  double coefficient = 1;
};

// Normal flows share by max-min fairness; low flows take only what the normal flows leave.
enum class Priority : uint8_t { normal, low };

struct FlowSpec {
  std::vector<ChannelUse> uses;  // empty: only the latency applies
  double bytes = 0;
  double latency_s = 0;
  double weight = 1;
  Priority priority = Priority::normal;
};

struct ChannelStats {
  double bytes = 0;   // carried so far
  double busy_s = 0;  // time with a non-zero load
  double load = 0;    // current bytes/s
  double peak_load = 0;
};

class FluidNetwork {
 public:
  explicit FluidNetwork(std::vector<double> capacity_bytes_per_s);

  // Back to time 0 with no flows, the statistics and counters cleared, as if just constructed
  // (the observer stays), keeping the memory: a caller that runs many short simulations saves
  // the allocations (and the page faults of a heap that shrinks and grows again).
  void reset();
  // Makes room for this many more flows and channel uses in all (a hint).
  void reserve(size_t flows, size_t uses);
  // Starts a flow now; ids are dense, in start order.
  FlowId start(const FlowSpec& spec);
  // The same, with the spec's parts given apart (uses held by the caller, e.g. a task graph).
  FlowId start(std::span<const ChannelUse> uses, double bytes, double latency_s, double weight,
               Priority priority = Priority::normal);
  // The time of the next latency end or completion; kNever when idle.
  double next_event_time();
  // Moves the clock to t (at most next_event_time()) and returns the flows finished by then,
  // in id order. Flows whose finishing times agree to 1e-9 relative finish together.
  std::vector<FlowId> advance_to(double t);
  // The same, into `done` (cleared first), which a caller that advances often keeps and reuses.
  void advance_to(double t, std::vector<FlowId>& done);

  double now() const { return now_; }
  double rate(FlowId f) const {  // per member of the flow
    if (flows_[f].low_pos >= 0)
      return low_[size_t(flows_[f].low_pos)].rate;
    return hot_[f].active_pos < 0 ? 0 : listed_rate_[size_t(hot_[f].active_pos)];
  }
  Priority priority(FlowId f) const { return flows_[f].priority; }
  bool finished(FlowId f) const { return flows_[f].phase == Phase::done; }
  double finish_time(FlowId f) const { return flows_[f].finish_time; }
  size_t flow_count() const { return flows_.size(); }
  size_t active_flows() const { return active_count_; }
  int channel_count() const { return int(capacity_.size()); }
  // Bytes carried are settled lazily; settle() brings every channel up to now.
  const ChannelStats& channel(ChannelId c) const { return stats_[c]; }
  void settle();
  // Called whenever a channel's load changes: (channel, time, bytes per second).
  void on_load_change(std::function<void(ChannelId, double, double)> observer) {
    observer_ = std::move(observer);
  }
  uint64_t solves() const { return solves_; }
  uint64_t resolved_flows() const { return resolved_flows_; }  // summed over solves
  // Of those, the ones whose rate moved by more than 1e-9 of itself (a started flow's from 0):
  // what a solver that re-solved only the flows a change reaches would still have to touch.
  uint64_t moved_flows() const { return moved_flows_; }
  // Events that needed no solve (see the header): flows that took the room left on their
  // channels, and finishes that were nobody's bottleneck.
  uint64_t placed_flows() const { return placed_flows_; }
  uint64_t quiet_finishes() const { return quiet_finishes_; }
  // Solves of the flows a start or finish reached through bottlenecks (see the header), and
  // those whose check failed, re-solved over every channel they share (the failed try counts
  // as a solve).
  uint64_t bottleneck_solves() const { return bottleneck_solves_; }
  uint64_t bottleneck_retries() const { return bottleneck_retries_; }

 private:
  enum class Phase : uint8_t { latency, active, done };
  struct Flow {
    Phase phase = Phase::latency;
    Priority priority = Priority::normal;
    int32_t low_pos = -1;  // position in low_ while a low flow is on channels
    double bytes = 0;
    double finish_time = kNever;
    int32_t heap_pos = -1;  // position in heap_, -1 when not queued
  };
  // A flow's channels sit contiguously in use_channel_, and its coefficients, kept only when
  // some differ from 1, at the same positions of use_coefficient_.
  struct Hot {
    double weight = 1;
    uint32_t first_use = 0;
    uint32_t use_count : 31 = 0;
    uint32_t unit : 1 = 1;    // every coefficient is 1
    int32_t active_pos = -1;  // position in the listed arrays, -1 when not on channels
  };
  struct Uses {
    uint32_t first;
    uint32_t count;
  };
  struct Progress {
    double remaining = 0;
    double settled_at = 0;
  };
  // A channel's state in a solve, packed so that a flow's visit touches one line per channel.
  struct Filling {
    double residual = 0;  // capacity left to the unfrozen flows
    double demand = 0;    // what the unfrozen flows ask per unit of share
    int32_t unfrozen = 0;
    uint32_t mark = 0;  // search stamp
  };
  static bool unlisted(double rate) { return std::isnan(rate); }
  std::span<const ChannelId> channels_of(FlowId f) const {
    return {use_channel_.data() + hot_[f].first_use, hot_[f].use_count};
  }
  // What flow f puts on the k-th of its channels per byte per second of its rate.
  double demand(FlowId f, size_t k) const {
    const Hot& h = hot_[f];
    return h.unit ? h.weight : h.weight * use_coefficient_[h.first_use + k];
  }

  void activate(FlowId f);
  void finish(FlowId f);
  void settle_listed(size_t pos);
  void resolve();
  // Whether the normal flows fill channel c to within 1e-9 of its capacity.
  bool saturated(ChannelId c) const;
  // Whether no channel of flow f that other flows share is saturated: then f is nobody's
  // bottleneck.
  bool bottleneck_free(FlowId f) const;
  // Gives each flow started since the last solve the room left on its channels, as long as
  // that keeps the allocation max-min fair (see the header); false at the first that does not.
  bool place_started();
  bool place(FlowId f);
  // Drops the finished flows' slots from the listed arrays once they are half of them.
  void compact_listed();
  // The solves below take and give flows by their position in the listed arrays.
  void solve_started();
  void solve_reached(const std::vector<ChannelId>& seeds);
  // Solves the flows a bottleneck search found (searched_, solve_channels_) with the check;
  // false, counted as a retry and with nothing changed, when the check fails.
  bool solve_searched();
  void solve_above(double floor);
  // The flows at or above `floor` that the seeds reach through shared channels (or only
  // through bottlenecks: see Through), into `listed` and the solve's channels; false (lists
  // incomplete) once more than `cap` are found.
  // shared: every channel a found flow uses leads on, to all its flows. saturated: only a
  // saturated channel (or a seed) leads on, and only to its flows with the largest share.
  enum class Through : uint8_t { shared, saturated };
  // `started` (optional, Through::saturated only): flows in the search from the outset.
  bool reach(const std::vector<ChannelId>& seeds, double floor, size_t cap,
             std::vector<uint32_t>& listed, Through through,
             const std::vector<FlowId>* started = nullptr);
  // Whether a finish's solve searches its component first (see solve_above).
  bool search_after_finish();
  // kUnitDemand: every flow on channels puts 1 on each of its channels per unit of rate.
  template <bool kUnitDemand>
  void gather(std::vector<ChannelId>& channels, const std::vector<uint32_t>& listed);
  // Marks channel c as part of the solve and gives it its residual.
  [[gnu::noinline]] void open_channel(ChannelId c);
  enum class Check : uint8_t { none, others };
  template <bool kUnitDemand>
  bool fill(const std::vector<ChannelId>& channels, const std::vector<uint32_t>& listed,
            Check check);
  static bool unit_demand(const Hot& h) { return h.unit && h.weight == 1; }
  bool apply(std::vector<ChannelId>& channels, const std::vector<uint32_t>& listed, Check check);
  // Stamps run from 1 to kLastStamp, so that a solve marks the flows it froze with its stamp's
  // complement, which no stamp equals; when they run out, every mark is cleared first.
  void next_stamp();
  static constexpr uint32_t kLastStamp = 0x7fffffffu;
  // Records load_[c] (plus low_load_[c]) in the statistics and tells the observer when it
  // changed; while low flows are on channels, only once they are re-solved too.
  void refresh_load(ChannelId c);
  void record_load(ChannelId c);
  void flush_loads();
  // The low-priority flows: a max-min filling of what the normal flows leave.
  void activate_low(FlowId f);
  void finish_low(FlowId f);
  void solve_low();
  struct LowFlow;
  void settle_low(LowFlow& l) const;
  // Takes what a flow at this rate puts on its channels out of their loads.
  void remove_load(FlowId f, double rate);

  // Indexed min-heap by time (ties by id) of the flows not on channels: those waiting out
  // their latency and those with nothing to share, each entry with its key (a comparison reads
  // no flow). Flows on channels keep their finishing times in listed_time_ instead.
  struct HeapEntry {
    double time;  // latency end or finishing time
    FlowId flow;
    bool operator<(const HeapEntry& o) const {
      return time != o.time ? time < o.time : flow < o.flow;
    }
  };
  void heap_set(FlowId f, double time);
  void heap_remove(FlowId f);
  void heap_fix(size_t i);
  void heap_place(size_t i, HeapEntry e);

  std::vector<double> capacity_;
  std::vector<ChannelStats> stats_;
  std::vector<double> load_since_;  // when the current load started (busy time)
  std::vector<double> load_;        // bytes per second on each channel, kept current
  // The flows on each channel, by listed position, with the position of that use in the use
  // arrays. A solve reads the lists of the channels that saturate to freeze their flows.
  struct OnChannel {
    uint32_t pos;
    uint32_t use;
  };
  std::vector<std::vector<OnChannel>> channel_flows_;
  std::vector<Filling> filling_;
  std::vector<Flow> flows_;
  std::vector<Hot> hot_;
  std::vector<ChannelId> use_channel_;   // every flow's uses, in start order
  std::vector<double> use_coefficient_;  // up to the last flow with a coefficient other than 1
  std::vector<uint32_t> use_slot_;       // where the use sits in its channel's channel_flows_
  std::vector<HeapEntry> heap_;
  // The flows on channels, in the order they joined, with what the solves and the event scans
  // read of them in the same order, so that both stream through memory. A finished flow
  // leaves a hole (rate NaN, time kNever) until compact_listed().
  std::vector<FlowId> listed_;
  std::vector<double> listed_rate_;
  std::vector<double> listed_time_;  // finishing time
  std::vector<Progress> listed_progress_;
  std::vector<Uses> listed_uses_;
  // stamp_ while the flow is in the current search or solve and not yet frozen by it; ~stamp_
  // once the solve froze it.
  std::vector<uint32_t> listed_state_;
  size_t listed_holes_ = 0;
  std::vector<ChannelId> dirty_;   // channels that gained a flow
  std::vector<FlowId> started_;    // the flows that joined the channels since the last solve
  std::vector<ChannelId> freed_;   // channels that lost a flow since the last solve
  double finished_rate_ = kNever;  // lowest rate among flows finished since the last solve
  uint32_t stamp_ = 0;
  uint32_t searches_to_skip_ = 0;  // finishes left whose solve takes every flow above the floor
  uint32_t searches_skipped_ = 0;  // how many the last failed search made skip (0: it succeeded)
  double now_ = 0;
  size_t active_count_ = 0;
  size_t nonunit_listed_ = 0;  // flows on channels whose demand is not 1 on every channel
  uint64_t solves_ = 0;
  uint64_t resolved_flows_ = 0;
  uint64_t moved_flows_ = 0;
  uint64_t placed_flows_ = 0;
  uint64_t quiet_finishes_ = 0;
  uint64_t bottleneck_solves_ = 0;
  uint64_t bottleneck_retries_ = 0;
  std::function<void(ChannelId, double, double)> observer_;

  // Low-priority flows on channels (unordered; a finish moves the last into its slot), their
  // loads apart from the normal flows' load_, and the channels whose load awaits recording.
  struct LowFlow {
    FlowId flow = 0;
    double rate = 0;
    double time = kNever;  // finishing time
    Progress progress;
  };
  std::vector<LowFlow> low_;
  std::vector<double> low_load_;
  bool low_changed_ = false;  // an event since the low flows were last solved
  std::vector<ChannelId> unrecorded_;
  std::vector<uint8_t> unrecorded_mark_;

  // Scratch buffers of the filling, reused across solves. The three below are sized once, for
  // every channel: a solve holds each channel at most once, and the component search's stack
  // (frontier_, which a filling round reuses for the channels it touched) one slot more, which
  // its branch-free queueing writes ahead.
  std::vector<double> channel_share_;      // a filling's fair share per solved channel
  std::vector<uint32_t> slot_of_channel_;  // where a channel sits in channel_share_
  std::vector<uint32_t> near_minimum_;     // a filling round's candidate channels
  std::vector<ChannelId> frontier_;
  std::vector<uint32_t> solve_listed_;  // the flows (listed positions), channels of a solve
  std::vector<uint32_t> searched_;      // the flows a search after finishes found
  std::vector<ChannelId> solve_channels_;
  std::vector<uint32_t> frozen_;  // the flows a round of the filling freezes
  // A solve's new rates: by listed position for the normal flows, by position in low_ for the
  // low ones.
  std::vector<double> solved_rate_;
  std::vector<ChannelUse> normalised_;  // a starting flow's uses
};

// Flows that start at given times, run on `net` until all finish; returns each flow's finishing
// time, in input order. (The engine does the same for flows inside a task graph.)
struct TimedFlow {
  FlowSpec spec;
  double start_s = 0;
};
std::vector<double> run_flows(FluidNetwork& net, const std::vector<TimedFlow>& flows);

}  // namespace mozart::net
