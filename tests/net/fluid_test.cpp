#include "mozart/net/fluid.hpp"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

namespace mozart::net {
namespace {

FlowSpec on(std::vector<ChannelId> channels, double bytes, double latency = 0) {
  FlowSpec f;
  for (ChannelId c : channels)
    f.uses.push_back({c, 1});
  f.bytes = bytes;
  f.latency_s = latency;
  return f;
}

// Runs until idle; returns each flow's finishing time.
std::vector<double> drain(FluidNetwork& net) {
  for (double t = net.next_event_time(); t != kNever; t = net.next_event_time())
    net.advance_to(t);
  std::vector<double> out;
  for (size_t f = 0; f < net.flow_count(); ++f)
    out.push_back(net.finish_time(FlowId(f)));
  return out;
}

// A network reset (even mid-run, with flows on its channels and low flows) runs the next flows
// as a new one would, its statistics and counters from zero.
TEST(Fluid, AResetNetworkRunsAsANewOne) {
  std::mt19937 rng(3);
  std::vector<TimedFlow> flows;
  for (int i = 0; i < 60; ++i) {
    TimedFlow t;
    t.spec = on({ChannelId(rng() % 4), ChannelId(4 + rng() % 3)}, 1 + double(rng() % 9),
                0.1 * double(rng() % 3));
    t.spec.priority = i % 10 == 0 ? Priority::low : Priority::normal;
    t.start_s = 0.5 * double(rng() % 4);
    flows.push_back(t);
  }
  const std::vector<double> capacities{1, 2, 1.5, 3, 2, 1, 2.5};
  FluidNetwork fresh(capacities), reused(capacities);
  run_flows(reused, flows);
  reused.start(on({0, 4}, 100));  // still on its channels at the reset
  reused.advance_to(reused.next_event_time());
  reused.reset();
  EXPECT_EQ(reused.now(), 0);
  EXPECT_EQ(reused.flow_count(), 0u);
  EXPECT_EQ(reused.solves(), 0u);
  EXPECT_EQ(reused.channel(0).bytes, 0);
  const std::vector<double> a = run_flows(fresh, flows), b = run_flows(reused, flows);
  EXPECT_EQ(a, b);
  fresh.settle();
  reused.settle();
  for (int c = 0; c < fresh.channel_count(); ++c) {
    EXPECT_EQ(fresh.channel(c).bytes, reused.channel(c).bytes) << c;
    EXPECT_EQ(fresh.channel(c).busy_s, reused.channel(c).busy_s) << c;
    EXPECT_EQ(fresh.channel(c).peak_load, reused.channel(c).peak_load) << c;
  }
  EXPECT_EQ(fresh.solves(), reused.solves());
}

TEST(Fluid, OneFlowTakesLatencyPlusSizeOverBandwidth) {
  FluidNetwork net({4.0});
  net.start(on({0}, 10, 0.5));
  EXPECT_DOUBLE_EQ(drain(net)[0], 0.5 + 10 / 4.0);
}

TEST(Fluid, NFlowsOnOneLinkShareItEqually) {
  for (int n : {1, 2, 3, 7, 64}) {
    FluidNetwork net({2.0});
    for (int i = 0; i < n; ++i)
      net.start(on({0}, 3));
    net.next_event_time();
    EXPECT_DOUBLE_EQ(net.rate(0), 2.0 / n);
    for (double t : drain(net))
      EXPECT_NEAR(t, 3.0 * n / 2.0, 1e-12);
  }
}

TEST(Fluid, ProgressiveFillingClassicCase) {
  // Link 0 (capacity 1) carries flows 0 and 1; link 1 (capacity 2) carries flows 1 and 2.
  FluidNetwork net({1.0, 2.0});
  net.start(on({0}, 1));
  net.start(on({0, 1}, 1));
  net.start(on({1}, 1));
  net.next_event_time();
  EXPECT_DOUBLE_EQ(net.rate(0), 0.5);
  EXPECT_DOUBLE_EQ(net.rate(1), 0.5);
  EXPECT_DOUBLE_EQ(net.rate(2), 1.5);
}

// A finish re-solves the flows at or above its rate that it reaches; moved_flows counts only
// those whose rate the solve changed. Link 0 carries flows 0 and 1, link 1 flows 1 and 2, all
// at 0.5: when flow 0 ends, flow 1 is still held to 0.5 by link 1, so neither rate moves.
TEST(Fluid, MovedFlowsCountOnlyRatesASolveChanged) {
  FluidNetwork net({1.0, 1.0});
  net.start(on({0}, 1));
  net.start(on({0, 1}, 10));
  net.start(on({1}, 10));
  ASSERT_DOUBLE_EQ(net.next_event_time(), 2.0);
  EXPECT_EQ(net.moved_flows(), 3u);  // every started flow left rate 0
  const uint64_t resolved = net.resolved_flows(), solves = net.solves();
  net.advance_to(2.0);
  net.next_event_time();
  EXPECT_EQ(net.solves(), solves + 1);
  EXPECT_EQ(net.resolved_flows(), resolved + 2);
  EXPECT_EQ(net.moved_flows(), 3u);
  EXPECT_EQ(net.rate(1), 0.5);
  EXPECT_EQ(net.rate(2), 0.5);
  // With link 1 roomier, flow 1 is link 0's alone once flow 0 ends, and its rate moves.
  FluidNetwork roomy({1.0, 4.0});
  roomy.start(on({0}, 1));
  roomy.start(on({0, 1}, 10));
  roomy.start(on({1}, 10));
  roomy.advance_to(roomy.next_event_time());
  const uint64_t before = roomy.moved_flows();
  roomy.next_event_time();
  EXPECT_EQ(roomy.moved_flows(), before + 2);  // flow 1 up to 1, flow 2 down to 3
  EXPECT_DOUBLE_EQ(roomy.rate(1), 1.0);
  EXPECT_DOUBLE_EQ(roomy.rate(2), 3.0);
}

TEST(Fluid, LaterArrivalSharesWhatIsLeft) {
  FluidNetwork net({1.0});
  net.start(on({0}, 2));
  net.advance_to(1.0);
  net.start(on({0}, 1));
  std::vector<double> t = drain(net);
  EXPECT_DOUBLE_EQ(t[0], 3.0);
  EXPECT_DOUBLE_EQ(t[1], 3.0);
}

TEST(Fluid, AFinishAndAStartInOtherComponentsAreBothSolved) {
  // A1 and A2 share channel 0; B is alone on channel 1. When A1 finishes at t = 2, C starts on
  // channel 1 at the same moment: A2 must still take all of channel 0 from then on.
  FluidNetwork net({1.0, 1.0});
  const FlowId a2 = net.start(on({0}, 3));
  net.start(on({0}, 1));
  net.start(on({1}, 10));
  EXPECT_DOUBLE_EQ(net.next_event_time(), 2.0);
  EXPECT_EQ(net.advance_to(2.0).size(), 1u);
  net.start(on({1}, 1));
  const auto done = drain(net);
  EXPECT_DOUBLE_EQ(done[size_t(a2)], 4.0);  // 2 bytes left at full rate
}

TEST(Fluid, WeightAndCoefficientScaleTheShare) {
  FluidNetwork net({1.0, 1.0});
  FlowSpec heavy = on({0}, 1);
  heavy.weight = 3;  // three identical flows
  net.start(heavy);
  net.start(on({0}, 1));
  FlowSpec wide = on({1}, 1);
  wide.uses[0].coefficient = 2;  // two bytes on the wire per byte delivered
  net.start(wide);
  net.next_event_time();
  EXPECT_DOUBLE_EQ(net.rate(0), 0.25);
  EXPECT_DOUBLE_EQ(net.rate(1), 0.25);
  EXPECT_DOUBLE_EQ(net.rate(2), 0.5);
}

TEST(Fluid, EmptyRouteAndZeroBytesFinishAfterLatencyOnly) {
  FluidNetwork net({1.0});
  net.start(on({}, 100, 0.25));
  net.start(on({0}, 0, 0.5));
  std::vector<double> t = drain(net);
  EXPECT_DOUBLE_EQ(t[0], 0.25);
  EXPECT_DOUBLE_EQ(t[1], 0.5);
}

struct Instance {
  std::vector<double> capacity;
  std::vector<FlowSpec> flows;
  std::vector<double> start;
};

// Unit instances have only unicast flows of weight 1, which the network solves by counting.
Instance random_instance(std::mt19937& rng, int channels, int flows, bool unit = false) {
  Instance in;
  std::uniform_real_distribution<double> cap(0.5, 4), size(0.1, 10), when(0, 5), coeff(0.25, 1);
  std::uniform_int_distribution<int> pick(0, channels - 1), length(1, std::min(4, channels));
  for (int c = 0; c < channels; ++c)
    in.capacity.push_back(cap(rng));
  for (int f = 0; f < flows; ++f) {
    FlowSpec spec;
    int n = length(rng);
    std::vector<ChannelId> used;
    while (int(used.size()) < n) {
      ChannelId c = pick(rng);
      if (std::find(used.begin(), used.end(), c) == used.end())
        used.push_back(c);
    }
    for (ChannelId c : used)
      spec.uses.push_back({c, (f % 3 == 0 && !unit) ? coeff(rng) : 1.0});
    spec.bytes = size(rng);
    spec.weight = f % 5 == 0 && !unit ? 2 : 1;
    in.flows.push_back(spec);
    in.start.push_back(f % 2 == 0 ? 0 : when(rng));
  }
  return in;
}

// Reference: re-solves every flow at every event with a plain progressive filling.
std::vector<double> reference(const Instance& in) {
  const size_t n = in.flows.size();
  std::vector<double> remaining(n), finish(n, kNever);
  for (size_t f = 0; f < n; ++f)
    remaining[f] = in.flows[f].bytes;
  double now = 0;
  while (true) {
    std::vector<size_t> active;
    for (size_t f = 0; f < n; ++f) {
      if (in.start[f] <= now + 1e-12 && finish[f] == kNever)
        active.push_back(f);
    }
    std::vector<double> rate(n, -1), residual = in.capacity;
    size_t left = active.size();
    while (left > 0) {
      double share = kNever;
      for (size_t c = 0; c < residual.size(); ++c) {
        double demand = 0;
        for (size_t f : active) {
          if (rate[f] >= 0)
            continue;
          for (const ChannelUse& u : in.flows[f].uses) {
            if (u.channel == ChannelId(c))
              demand += u.coefficient * in.flows[f].weight;
          }
        }
        if (demand > 0)
          share = std::min(share, residual[c] / demand);
      }
      for (size_t c = 0; c < residual.size(); ++c) {
        double demand = 0;
        for (size_t f : active) {
          if (rate[f] >= 0)
            continue;
          for (const ChannelUse& u : in.flows[f].uses) {
            if (u.channel == ChannelId(c))
              demand += u.coefficient * in.flows[f].weight;
          }
        }
        if (demand == 0 || residual[c] > share * demand * (1 + 1e-12))
          continue;
        for (size_t f : active) {
          if (rate[f] >= 0)
            continue;
          bool uses = false;
          for (const ChannelUse& u : in.flows[f].uses)
            uses |= u.channel == ChannelId(c);
          if (!uses)
            continue;
          rate[f] = share;
          --left;
          for (const ChannelUse& u : in.flows[f].uses) {
            residual[u.channel] -= u.coefficient * in.flows[f].weight * share;
          }
        }
      }
    }
    double next = kNever;
    for (size_t f : active)
      next = std::min(next, now + remaining[f] / rate[f]);
    for (size_t f = 0; f < n; ++f) {
      if (in.start[f] > now + 1e-12)
        next = std::min(next, in.start[f]);
    }
    if (next == kNever)
      break;
    for (size_t f : active) {
      remaining[f] -= rate[f] * (next - now);
      if (remaining[f] <= 1e-9 * in.flows[f].bytes)
        finish[f] = next;
    }
    now = next;
  }
  return finish;
}

std::vector<double> incremental(const Instance& in, FluidNetwork& net) {
  std::vector<TimedFlow> flows;
  for (size_t f = 0; f < in.flows.size(); ++f)
    flows.push_back({in.flows[f], in.start[f]});
  return run_flows(net, flows);
}

TEST(Fluid, IncrementalResolvingMatchesFullResolving) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 60; ++trial) {
    Instance in = random_instance(rng, 3 + trial % 6, 4 + trial % 13, trial % 3 == 0);
    FluidNetwork net(in.capacity);
    std::vector<double> got = incremental(in, net);
    std::vector<double> want = reference(in);
    for (size_t f = 0; f < got.size(); ++f) {
      EXPECT_NEAR(got[f], want[f], 1e-7 * std::max(1.0, want[f]))
          << "trial " << trial << " flow " << f;
    }
    // Bytes are conserved on every channel.
    net.settle();
    std::vector<double> expected(in.capacity.size(), 0);
    for (const FlowSpec& f : in.flows) {
      for (const ChannelUse& u : f.uses)
        expected[u.channel] += f.bytes * f.weight * u.coefficient;
    }
    for (size_t c = 0; c < expected.size(); ++c) {
      EXPECT_NEAR(net.channel(ChannelId(c)).bytes, expected[c], 1e-9 * expected[c] + 1e-12);
    }
  }
}

// Runs `in` on `net` and compares every finishing time with the reference filling's.
void expect_matches_reference(const Instance& in, FluidNetwork& net, bool unit) {
  const std::vector<double> got = incremental(in, net);
  const std::vector<double> want = reference(in);
  for (size_t f = 0; f < got.size(); ++f)
    EXPECT_NEAR(got[f], want[f], 1e-7 * std::max(1.0, want[f])) << "unit " << unit << " flow " << f;
}

TEST(Fluid, IncrementalResolvingMatchesFullResolvingAtScale) {
  // Enough flows that finished ones leave holes to compact and that a start's search gives
  // way to re-solving everything.
  std::mt19937 rng(13);
  for (bool unit : {true, false}) {
    Instance in = random_instance(rng, 12, 300, unit);
    FluidNetwork net(in.capacity);
    expect_matches_reference(in, net, unit);
  }
}

TEST(Fluid, FinishesInSeparateComponentsMatchFullResolving) {
  // Several independent groups of flows on disjoint channels, each busy enough that a finish
  // searches its own component rather than re-solving every faster flow.
  std::mt19937 rng(17);
  for (bool unit : {true, false}) {
    Instance in;
    for (int group = 0; group < 6; ++group) {
      const Instance part = random_instance(rng, 5, 40, unit);
      const auto offset = ChannelId(in.capacity.size());
      in.capacity.insert(in.capacity.end(), part.capacity.begin(), part.capacity.end());
      for (size_t f = 0; f < part.flows.size(); ++f) {
        FlowSpec spec = part.flows[f];
        for (ChannelUse& u : spec.uses)
          u.channel += offset;
        in.flows.push_back(spec);
        in.start.push_back(part.start[f]);
      }
    }
    FluidNetwork net(in.capacity);
    expect_matches_reference(in, net, unit);
    EXPECT_LT(net.resolved_flows(), net.solves() * in.flows.size() / 6)
        << "finishes re-solved flows of other components";
  }
}

TEST(Fluid, UnitDemandShortcutAgreesWithTheGeneralPath) {
  // The same unit flows, alone and beside a multicast-like flow (coefficient 1/2) on a channel
  // of its own that outlasts them all: the second run takes the general path throughout.
  std::mt19937 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    Instance in = random_instance(rng, 3 + trial % 6, 6 + trial % 17, true);
    FluidNetwork alone(in.capacity);
    const std::vector<double> want = incremental(in, alone);
    Instance mixed = in;
    mixed.capacity.push_back(1.0);
    FlowSpec other;
    other.uses.push_back({ChannelId(in.capacity.size()), 0.5});
    other.bytes = 1e6;
    mixed.flows.push_back(other);
    mixed.start.push_back(0);
    FluidNetwork beside(mixed.capacity);
    const std::vector<double> got = incremental(mixed, beside);
    for (size_t f = 0; f < want.size(); ++f)
      EXPECT_NEAR(got[f], want[f], 1e-12 * want[f]) << "trial " << trial << " flow " << f;
  }
}

TEST(Fluid, ALatencyIsAStartThatLate) {
  // Flows with random latencies (many equal, some zero-byte, some with no channel) finish when
  // the same flows, started at their latency's end with none, do: every latency end leaves the
  // waiting queue in time order, whatever the order the flows were queued in.
  std::mt19937 rng(23);
  std::uniform_int_distribution<int> latency_step(0, 6);
  for (int trial = 0; trial < 10; ++trial) {
    Instance in = random_instance(rng, 4 + trial % 5, 150, trial % 2 == 0);
    FluidNetwork late(in.capacity);
    std::vector<double> latency(in.flows.size());
    for (size_t f = 0; f < in.flows.size(); ++f) {
      latency[f] = 0.5 * latency_step(rng);
      if (f % 17 == 0)
        in.flows[f].bytes = 0;
      if (f % 23 == 0)
        in.flows[f].uses.clear();
      FlowSpec spec = in.flows[f];
      spec.latency_s = latency[f];
      late.start(spec);
    }
    std::vector<double> waited(in.flows.size());
    while (late.next_event_time() != kNever)
      late.advance_to(late.next_event_time());
    for (size_t f = 0; f < in.flows.size(); ++f)
      waited[f] = late.finish_time(FlowId(f));
    Instance shifted = in;
    shifted.start = latency;
    FluidNetwork direct(in.capacity);
    const std::vector<double> want = incremental(shifted, direct);
    for (size_t f = 0; f < in.flows.size(); ++f)
      EXPECT_NEAR(waited[f], want[f], 1e-9 * std::max(1.0, want[f]))
          << "trial " << trial << " flow " << f;
  }
}

TEST(Fluid, RatesAreMaxMinFair) {
  // Max-min optimality: feasible, and every flow crosses a saturated channel on which no flow
  // gets more than it does.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    Instance in = random_instance(rng, 2 + trial % 8, 2 + trial % 20);
    FluidNetwork net(in.capacity);
    for (const FlowSpec& f : in.flows)
      net.start(f);
    net.next_event_time();
    std::vector<double> load(in.capacity.size(), 0);
    for (size_t f = 0; f < in.flows.size(); ++f) {
      for (const ChannelUse& u : in.flows[f].uses) {
        load[u.channel] += net.rate(FlowId(f)) * in.flows[f].weight * u.coefficient;
      }
    }
    for (size_t c = 0; c < load.size(); ++c)
      EXPECT_LE(load[c], in.capacity[c] * (1 + 1e-9));
    for (size_t f = 0; f < in.flows.size(); ++f) {
      bool has_bottleneck = false;
      for (const ChannelUse& u : in.flows[f].uses) {
        if (load[u.channel] < in.capacity[u.channel] * (1 - 1e-9))
          continue;
        bool largest = true;
        for (size_t g = 0; g < in.flows.size(); ++g) {
          for (const ChannelUse& v : in.flows[g].uses) {
            if (v.channel == u.channel && net.rate(FlowId(g)) > net.rate(FlowId(f)) * (1 + 1e-9)) {
              largest = false;
            }
          }
        }
        has_bottleneck |= largest;
      }
      EXPECT_TRUE(has_bottleneck) << "trial " << trial << " flow " << f;
    }
  }
}

TEST(Fluid, MoreCapacityIsNeverSlower) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    Instance in = random_instance(rng, 4, 10);
    FluidNetwork slow(in.capacity);
    double slow_end = 0;
    for (double t : incremental(in, slow))
      slow_end = std::max(slow_end, t);
    for (double& c : in.capacity)
      c *= 1.5;
    FluidNetwork fast(in.capacity);
    double fast_end = 0;
    for (double t : incremental(in, fast))
      fast_end = std::max(fast_end, t);
    EXPECT_LE(fast_end, slow_end * (1 + 1e-12));
  }
}

// --- events that need no solve --------------------------------------------------------------

// The weighted max-min fair shares of the `active` flows by a plain progressive filling.
std::vector<double> max_min_shares(const std::vector<double>& capacity,
                                   const std::vector<FlowSpec>& flows,
                                   const std::vector<size_t>& active) {
  std::vector<double> share(flows.size(), -1), residual = capacity;
  auto demand_on = [&](size_t c) {
    double d = 0;
    for (size_t f : active) {
      for (const ChannelUse& u : flows[f].uses)
        d += share[f] < 0 && u.channel == ChannelId(c) ? u.coefficient * flows[f].weight : 0;
    }
    return d;
  };
  for (size_t left = active.size(); left > 0;) {
    double level = kNever;
    for (size_t c = 0; c < capacity.size(); ++c) {
      if (const double d = demand_on(c); d > 0)
        level = std::min(level, residual[c] / d);
    }
    std::vector<size_t> frozen;
    for (size_t c = 0; c < capacity.size(); ++c) {
      const double d = demand_on(c);
      if (d == 0 || residual[c] > level * d * (1 + 1e-12))
        continue;
      for (size_t f : active) {
        for (const ChannelUse& u : flows[f].uses) {
          if (share[f] < 0 && u.channel == ChannelId(c) &&
              std::find(frozen.begin(), frozen.end(), f) == frozen.end())
            frozen.push_back(f);
        }
      }
    }
    for (size_t f : frozen) {
      share[f] = level;
      for (const ChannelUse& u : flows[f].uses)
        residual[u.channel] -= u.coefficient * flows[f].weight * level;
    }
    left -= frozen.size();
  }
  return share;
}

// Channels of capacity 0.5 to 4, and every third one of 50: flows on the wide ones mostly
// start and finish without a solve.
Instance roomy_instance(std::mt19937& rng, int channels, int flows, bool unit) {
  Instance in = random_instance(rng, channels, flows, unit);
  for (size_t c = 0; c < in.capacity.size(); c += 3)
    in.capacity[c] = 50;
  return in;
}

// Runs `in` on `net` event by event, its flows started in start order (ties in input order),
// and calls `check(running)` once the network has solved for the event, with the input index
// of every flow started so far (flow ids follow the start order). Returns `running`.
template <class Check>
std::vector<size_t> run_by_events(const Instance& in, FluidNetwork& net, Check check) {
  std::vector<size_t> order(in.flows.size());
  for (size_t f = 0; f < order.size(); ++f)
    order[f] = f;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return in.start[a] < in.start[b]; });
  std::vector<size_t> running;
  size_t next = 0;
  while (true) {
    while (next < order.size() && in.start[order[next]] <= net.now()) {
      net.start(in.flows[order[next]]);
      running.push_back(order[next++]);
    }
    double t = net.next_event_time();
    check(running);
    if (next < order.size())
      t = std::min(t, in.start[order[next]]);
    if (t == kNever)
      break;
    net.advance_to(t);
  }
  return running;
}

// Runs `in`, checking after every event that each running flow has the rate a full re-solve
// of the flows then running gives, and at the end that every channel carried its flows' bytes.
void expect_full_solve_rates(const Instance& in, FluidNetwork& net, int trial) {
  run_by_events(in, net, [&](const std::vector<size_t>& running) {
    std::vector<size_t> active;
    for (size_t id = 0; id < running.size(); ++id) {
      if (!net.finished(FlowId(id)))
        active.push_back(running[id]);
    }
    const std::vector<double> want = max_min_shares(in.capacity, in.flows, active);
    for (size_t id = 0; id < running.size(); ++id) {
      if (!net.finished(FlowId(id))) {
        EXPECT_NEAR(net.rate(FlowId(id)), want[running[id]], 1e-9 * want[running[id]])
            << "trial " << trial << " flow " << running[id] << " at " << net.now();
      }
    }
  });
  net.settle();
  std::vector<double> carried(in.capacity.size(), 0);
  for (const FlowSpec& f : in.flows) {
    for (const ChannelUse& u : f.uses)
      carried[u.channel] += f.bytes * f.weight * u.coefficient;
  }
  for (size_t c = 0; c < carried.size(); ++c)
    EXPECT_NEAR(net.channel(ChannelId(c)).bytes, carried[c], 1e-9 * carried[c] + 1e-12);
}

TEST(Fluid, RatesEqualAFullSolveAfterEveryEvent) {
  // Starts placed without a solve and finishes that were nobody's bottleneck leave the network
  // with the rates a full re-solve of the flows then running gives.
  std::mt19937 rng(17);
  uint64_t placed = 0, quiet = 0, solves = 0;
  for (int trial = 0; trial < 40; ++trial) {
    const Instance in = roomy_instance(rng, 4 + trial % 9, 5 + trial % 23, trial % 2 == 0);
    FluidNetwork net(in.capacity);
    expect_full_solve_rates(in, net, trial);
    placed += net.placed_flows();
    quiet += net.quiet_finishes();
    solves += net.solves();
  }
  // The shortcuts were taken, and the solves they save are not counted.
  EXPECT_GT(placed, 100u);
  EXPECT_GT(quiet, 50u);
  EXPECT_GT(solves, 100u);
}

// An all-to-all on a side x side mesh with dimension-order routes (one channel per direction
// of each link, of random capacity), random sizes, some flows starting later, every fifth of
// weight 2 unless `unit`.
Instance mesh_all_to_all(std::mt19937& rng, int side, bool unit) {
  Instance in;
  std::uniform_real_distribution<double> cap(0.5, 4), size(0.1, 10), when(0, 3);
  // Channel of the link from (r, c) one step in direction d (0 east, 1 west, 2 south, 3 north).
  auto channel = [&](int r, int c, int d) { return ChannelId(4 * (r * side + c) + d); };
  in.capacity.resize(size_t(4 * side * side));
  for (double& c : in.capacity)
    c = cap(rng);
  for (int from = 0; from < side * side; ++from) {
    for (int to = 0; to < side * side; ++to) {
      if (from == to)
        continue;
      FlowSpec spec;
      int r = from / side, c = from % side;
      for (; c != to % side; c += c < to % side ? 1 : -1)
        spec.uses.push_back({channel(r, c, c < to % side ? 0 : 1), 1});
      for (; r != to / side; r += r < to / side ? 1 : -1)
        spec.uses.push_back({channel(r, c, r < to / side ? 2 : 3), 1});
      spec.bytes = size(rng);
      spec.weight = !unit && in.flows.size() % 5 == 0 ? 2 : 1;
      in.flows.push_back(spec);
      in.start.push_back(in.flows.size() % 7 == 0 ? when(rng) : 0);
    }
  }
  return in;
}

TEST(Fluid, FinishesSolvedThroughBottlenecksEqualAFullSolve) {
  // Finishes in a busy mesh re-solve the flows reached through bottlenecks, and fall back to
  // every flow they share a channel with when the check finds a bottleneck lost: either way
  // the rates after every event are a full re-solve's.
  std::mt19937 rng(29);
  uint64_t kept = 0, retried = 0;
  for (int trial = 0; trial < 4; ++trial) {
    const Instance in = mesh_all_to_all(rng, 3 + trial / 2, trial % 2 == 0);
    FluidNetwork net(in.capacity);
    expect_full_solve_rates(in, net, trial);
    kept += net.bottleneck_solves();
    retried += net.bottleneck_retries();
  }
  EXPECT_GT(kept, 50u);
  EXPECT_GT(retried, 0u);
}

TEST(Fluid, AStartTakesTheRoomLeftOnlyWhenNoOneOnItsTightestChannelHasMore) {
  // A on channels 0 and 1 starts alone, held to channel 1's capacity; then B starts on
  // channel 0 and finds the rest of it.
  struct Case {
    double capacity0, capacity1, a, b;
    uint64_t placed, solves, retries;
  };
  for (const Case& k : {
           // B takes the 9 left: A has less than that.
           Case{10, 1, 1, 9, 2, 0, 0},
           // B alone would take the 1 left, but A has 4 there: max-min fair is 2.5 each. The
           // solve of B alone (channel 0 had room, so A was left out) fails its check, and the
           // component is solved.
           Case{5, 4, 2.5, 2.5, 1, 2, 1},
       }) {
    FluidNetwork net({k.capacity0, k.capacity1});
    net.start(on({0, 1}, 100));
    net.next_event_time();
    net.start(on({0}, 100));
    net.next_event_time();
    EXPECT_DOUBLE_EQ(net.rate(0), k.a);
    EXPECT_DOUBLE_EQ(net.rate(1), k.b);
    EXPECT_EQ(net.placed_flows(), k.placed);
    EXPECT_EQ(net.solves(), k.solves);
    EXPECT_EQ(net.bottleneck_retries(), k.retries);
  }
}

TEST(Fluid, AStartOnASaturatedChannelIsSolved) {
  FluidNetwork net({2.0, 8.0});
  net.start(on({0}, 100));
  net.next_event_time();
  net.start(on({0, 1}, 100));
  net.next_event_time();
  EXPECT_DOUBLE_EQ(net.rate(0), 1.0);
  EXPECT_DOUBLE_EQ(net.rate(1), 1.0);
  EXPECT_EQ(net.solves(), 1u);
}

TEST(Fluid, AFinishOnlyOnUnsaturatedSharedChannelsNeedsNoSolve) {
  // A (channels 0 and 1, held to 1 by channel 1) and B (channels 0 and 2, held to 2 by
  // channel 2) share channel 0 (capacity 10), which never saturates: A's finish at t = 1
  // leaves B at 2.
  FluidNetwork net({10.0, 1.0, 2.0});
  net.start(on({0, 1}, 1));
  const FlowId b = net.start(on({0, 2}, 10));
  EXPECT_DOUBLE_EQ(net.next_event_time(), 1.0);
  net.advance_to(1.0);
  EXPECT_EQ(net.quiet_finishes(), 1u);
  EXPECT_DOUBLE_EQ(net.next_event_time(), 5.0);
  EXPECT_DOUBLE_EQ(net.rate(b), 2.0);
}

TEST(Fluid, AFinishOnASaturatedSharedChannelIsSolved) {
  // A and B share channel 0 (capacity 2) at 1 each; when A finishes, B takes all of it.
  FluidNetwork net({2.0});
  net.start(on({0}, 1));
  const FlowId b = net.start(on({0}, 3));
  net.advance_to(net.next_event_time());
  EXPECT_EQ(net.quiet_finishes(), 0u);
  net.next_event_time();
  EXPECT_DOUBLE_EQ(net.rate(b), 2.0);
  EXPECT_DOUBLE_EQ(drain(net)[size_t(b)], 2.0);
}

// --- strict priority ------------------------------------------------------------------------

FlowSpec low(std::vector<ChannelId> channels, double bytes, double latency = 0) {
  FlowSpec f = on(std::move(channels), bytes, latency);
  f.priority = Priority::low;
  return f;
}

TEST(FluidPriority, ASaturatedNormalPhaseKeepsItsExactFinishTimes) {
  // Two normal flows saturate channel 0; low flows there (and beyond) must not slow them.
  auto run = [](bool with_low) {
    FluidNetwork net({2.0, 5.0});
    net.start(on({0}, 3));
    net.start(on({0, 1}, 4, 0.25));
    if (with_low) {
      net.start(low({0}, 10));
      net.start(low({0, 1}, 2, 0.5));
      net.start(low({1}, 1));
    }
    return drain(net);
  };
  const std::vector<double> alone = run(false), shared = run(true);
  EXPECT_EQ(shared[0], alone[0]);
  EXPECT_EQ(shared[1], alone[1]);
  // The low flows on channel 0 wait for the normal phase to end, then share what it leaves.
  EXPECT_GT(shared[2], alone[1]);
  EXPECT_GT(shared[3], alone[1]);
  EXPECT_NEAR(shared[4], 1 / 5.0, 1e-12);  // channel 1 is free of normal flows until 0.25
}

TEST(FluidPriority, LowFlowsShareWhatTheNormalFlowsLeave) {
  // The normal flow is held to 1 by channel 1, which leaves 2 of channel 0: the low flows
  // share it max-min fairly, one of them also held by what is left of channel 2.
  FluidNetwork net({3.0, 1.0, 0.5});
  const FlowId normal = net.start(on({0, 1}, 100));
  const FlowId a = net.start(low({0}, 100));
  const FlowId b = net.start(low({0, 2}, 100));
  const FlowId c = net.start(low({1}, 100));  // channel 1 is saturated: nothing left
  net.next_event_time();
  EXPECT_DOUBLE_EQ(net.rate(normal), 1.0);
  EXPECT_DOUBLE_EQ(net.rate(b), 0.5);
  EXPECT_DOUBLE_EQ(net.rate(a), 1.5);
  EXPECT_EQ(net.rate(c), 0.0);
  EXPECT_EQ(net.priority(a), Priority::low);
  EXPECT_EQ(net.priority(normal), Priority::normal);
  EXPECT_DOUBLE_EQ(net.channel(0).load, 3.0);
  EXPECT_DOUBLE_EQ(net.channel(1).load, 1.0);
  const std::vector<double> t = drain(net);
  EXPECT_DOUBLE_EQ(t[size_t(normal)], 100.0);
  EXPECT_GT(t[size_t(c)], 100.0);  // it runs once the normal flow is gone
}

TEST(FluidPriority, RatesMatchTwoFillingsAfterEveryEventAndBytesAreConserved) {
  std::mt19937 rng(29);
  for (int trial = 0; trial < 30; ++trial) {
    Instance in = random_instance(rng, 3 + trial % 7, 6 + trial % 19, trial % 2 == 0);
    std::vector<bool> is_low(in.flows.size());
    for (size_t f = 0; f < in.flows.size(); ++f) {
      is_low[f] = f % 3 == 1;
      if (is_low[f])
        in.flows[f].priority = Priority::low;
    }
    // The normal flows alone, for their finishing times.
    Instance normal_only;
    normal_only.capacity = in.capacity;
    std::vector<size_t> normal_index(in.flows.size());
    for (size_t f = 0; f < in.flows.size(); ++f) {
      if (!is_low[f]) {
        normal_index[f] = normal_only.flows.size();
        normal_only.flows.push_back(in.flows[f]);
        normal_only.start.push_back(in.start[f]);
      }
    }
    FluidNetwork alone(normal_only.capacity);
    const std::vector<double> alone_finish = run_flows(alone, [&] {
      std::vector<TimedFlow> timed;
      for (size_t f = 0; f < normal_only.flows.size(); ++f)
        timed.push_back({normal_only.flows[f], normal_only.start[f]});
      return timed;
    }());

    FluidNetwork net(in.capacity);
    const std::vector<size_t> running =
        run_by_events(in, net, [&](const std::vector<size_t>& started) {
          std::vector<size_t> normal_active, low_active;
          for (size_t id = 0; id < started.size(); ++id) {
            if (!net.finished(FlowId(id)))  // no latencies: every started flow is on channels
              (is_low[started[id]] ? low_active : normal_active).push_back(started[id]);
          }
          const std::vector<double> normal_want =
              max_min_shares(in.capacity, in.flows, normal_active);
          std::vector<double> left = in.capacity;
          for (size_t f : normal_active) {
            for (const ChannelUse& u : in.flows[f].uses)
              left[u.channel] -= normal_want[f] * in.flows[f].weight * u.coefficient;
          }
          for (size_t c = 0; c < left.size(); ++c)
            left[c] = left[c] > 1e-9 * in.capacity[c] ? left[c] : 0;
          const std::vector<double> low_want = max_min_shares(left, in.flows, low_active);
          for (size_t id = 0; id < started.size(); ++id) {
            const size_t f = started[id];
            if (net.finished(FlowId(id)))
              continue;
            const double want = is_low[f] ? low_want[f] : normal_want[f];
            EXPECT_NEAR(net.rate(FlowId(id)), want, 1e-9 * (want + 1))
                << "trial " << trial << " flow " << f << " at " << net.now();
          }
        });
    net.settle();
    for (size_t id = 0; id < running.size(); ++id) {
      const size_t f = running[id];
      if (!is_low[f]) {
        const double want = alone_finish[normal_index[f]];
        EXPECT_NEAR(net.finish_time(FlowId(id)), want, 1e-9 * want) << "trial " << trial;
      }
    }
    std::vector<double> carried(in.capacity.size(), 0);
    for (const FlowSpec& f : in.flows) {
      for (const ChannelUse& u : f.uses)
        carried[u.channel] += f.bytes * f.weight * u.coefficient;
    }
    for (size_t c = 0; c < carried.size(); ++c) {
      EXPECT_NEAR(net.channel(ChannelId(c)).bytes, carried[c], 1e-9 * carried[c] + 1e-12);
      EXPECT_LE(net.channel(ChannelId(c)).peak_load, in.capacity[c] * (1 + 1e-9));
    }
  }
}

TEST(Fluid, BadFlowsAreRejected) {
  FluidNetwork net({1.0});
  EXPECT_THROW(net.start(on({3}, 1)), std::invalid_argument);
  EXPECT_THROW(net.start(on({0}, -1)), std::invalid_argument);
  EXPECT_THROW(FluidNetwork({0.0}), std::invalid_argument);
}

}  // namespace
}  // namespace mozart::net
