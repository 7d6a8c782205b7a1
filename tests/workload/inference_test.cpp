// Serving iterations: a closed-form 2 x 2 mesh, conservation of tokens and bytes, link loads
// equal to bytes times hops, never faster than the memory-read bound, linear graph growth, and
// the refusals (memory, short traces).
#include "mozart/workload/inference.hpp"

#include <string>

#include <gtest/gtest.h>

#include "mozart/core/config.hpp"
#include "mozart/core/error.hpp"
#include "mozart/hw/zoo.hpp"
#include "mozart/model/cost.hpp"
#include "mozart/model/params.hpp"
#include "mozart/model/zoo.hpp"
#include "mozart/sim/timeline.hpp"
#include "mozart/study/balanced_serving.hpp"
#include "mozart/study/serving.hpp"
#include "mozart/study/setup.hpp"

namespace mozart::workload {
namespace {

// A 2 x 2 mesh of dies with private memory and links of 100 GB/s and no latency.
hw::HwSpec square() {
  return hw::read_hw(core::ConfigNode::parse(R"(
name: square
clock: 1 GHz
chiplet_kinds:
  die:
    peak_flops: {bf16: 100 TFLOP/s}
    array: {rows: 128, cols: 128, count: 64}
    sram: {capacity: 64 MB, bandwidth: 10 TB/s}
chiplets:
  - {name: die, kind: die, count: 4}
memories:
  - {name: hbm, kind: hbm, per_chiplet: true, capacity: 80 GB, bandwidth: 1 TB/s, attach: [die]}
topology:
  kind: mesh
  rows: 2
  cols: 2
  nodes: die
  link: {bandwidth: 100 GB/s, latency: 0 s}
)",
                                             "square"));
}

// One MoE layer, four experts, top-1.
model::MoeModel tiny() {
  model::MoeModel m;
  m.name = "tiny";
  m.layers = 1;
  m.hidden = 1024;
  m.vocab = 1000;
  m.attention = model::AttentionKind::gqa;
  m.heads = 8;
  m.kv_heads = 2;
  m.head_dim = 128;
  m.routed_experts = 4;
  m.top_k = 1;
  m.expert_ffn = 2048;
  return m;
}

placement::Placement one_expert_each(const hw::HwSpec& hw, const model::MoeModel& m) {
  placement::Placement p;
  p.model = m.name;
  p.experts = m.routed_experts;
  p.layout = placement::layout_from_hw(hw, m.routed_experts);
  p.layers.push_back({0, {{0}, {1}, {2}, {3}}});
  return p;
}

// Uniform routing: token t of the iteration chooses expert t mod 4.
trace::Trace uniform(std::size_t tokens) {
  trace::Trace t = trace::make_trace({{0}, 4, 1}, tokens, "tiny");
  for (std::size_t i = 0; i < tokens; ++i)
    t.experts[i] = trace::ExpertId(i % 4);
  return t;
}

TEST(Serving, TwoByTwoMeshUniformRoutingMatchesTheClosedForm) {
  const hw::HwSpec hw = square();
  const net::Network net(hw);
  const model::MoeModel m = tiny();
  const mapping::Mapping map = mapping::make_mapping(net, "baseline", 1, "test");
  const placement::Placement p = one_expert_each(hw, m);
  ServeConfig c;
  c.batch = 64;  // 16 tokens per device, 4 to each expert
  c.context = 128;
  const trace::Trace t = uniform(64);
  const ServeInputs in{m, net, map, p, t};
  const ServeResult r = simulate_serving(in, c);
  // Each device sends 4 tokens (2 KB each: 8 KB) to each of the 3 others. Under XY routing
  // every channel of the 2 x 2 mesh carries two of the 12 flows (8 one-hop, 4 two-hop), all at
  // half a link's rate: the dispatch takes 2 x 8 KB / 100 GB/s, and so does the combine.
  const double bytes = 4 * 1024 * 2.0;
  const double expected = 2 * bytes / 100e9;
  EXPECT_NEAR(r.iterations[0].stage_s[std::size_t(Stage::dispatch)], expected, 1e-12);
  EXPECT_NEAR(r.iterations[0].stage_s[std::size_t(Stage::combine)], expected, 1e-12);
  EXPECT_EQ(r.iterations[0].stage_s[std::size_t(Stage::all_reduce)], 0);  // TP = 1
  // Every channel carried its two flows' bytes: 16 flow-hops of 8 KB, twice.
  // (The fluid network finishes flows within 1e-9 relative of their last byte.)
  EXPECT_NEAR(r.link_bytes, 2 * 16 * bytes, 1e-8 * r.link_bytes);
  EXPECT_DOUBLE_EQ(r.flow_byte_hops, 2 * 16 * bytes);
  // Each expert computes its 16 tokens, reading its weights once at 1 TB/s (memory-bound).
  const double expert_bytes = double(model::routed_expert_params(m)) * 2;
  EXPECT_GE(r.iterations[0].stage_s[std::size_t(Stage::experts)], expert_bytes / 1e12);
  double sum = 0;
  for (double s : r.iterations[0].stage_s)
    sum += s;
  EXPECT_NEAR(sum, r.iterations[0].latency_s, 1e-12);
}

struct ServeRun {
  ServeResult result;
  IterationPlan plan;
};

// The inputs of a serving run, made as the study makes them: the experts placed from generated
// routing, the iterations' routing from the serving trace. Built in place (the network and the
// inputs refer to the members).
struct ServeSetup {
  ServeSetup(const std::string& model, const std::string& hw_name, const std::string& mapping_name,
             int tp, const ServeConfig& c, const std::string& placer = "contiguous")
      : m(model::load_model(model)),
        hw(hw::load_hw(hw_name)),
        net(hw),
        map(mapping::make_mapping(net, mapping_name, tp, "test")),
        t(study::serving_trace(m, c, map.group_count(), 1)),
        p(study::place_experts(m, hw, study::generated_trace(m, 1024, 256, 2), placer, 1)) {}
  ServeSetup(const ServeSetup&) = delete;
  ServeSetup& operator=(const ServeSetup&) = delete;
  ServeInputs inputs() const { return {m, net, map, p, t}; }

  model::MoeModel m;
  hw::HwSpec hw;
  net::Network net;
  mapping::Mapping map;
  trace::Trace t;
  placement::Placement p;
};

ServeRun serve(const std::string& model, const std::string& hw_name,
               const std::string& mapping_name, int tp, ServeConfig c,
               const std::string& placer = "contiguous", unsigned jobs = 1) {
  const ServeSetup setup(model, hw_name, mapping_name, tp, c, placer);
  const ServeInputs in = setup.inputs();
  ServeRunOptions options;
  options.jobs = jobs;
  return {simulate_serving(in, c, options), build_iteration(in, c, 0)};
}

TEST(Serving, TokensAndBytesAreConservedAndLinkLoadsAreBytesTimesHops) {
  ServeConfig c;
  c.batch = 64;
  c.context = 1024;
  c.iterations = 2;
  for (const char* mapping_name : {"baseline", "er"}) {
    const ServeRun run = serve("qwen3-30b-a3b", "wsc-mesh-8x8", mapping_name, 4, c);
    const auto& it = run.result.iterations[0];
    const model::MoeModel m = model::load_model("qwen3-30b-a3b");
    EXPECT_EQ(it.tokens, 64);
    // Every token's k choices are computed (routed slots) and each goes out once per device.
    EXPECT_EQ(it.routed_slots, 64.0 * m.top_k * m.moe_layer_count());
    EXPECT_LE(it.dispatched_copies, it.routed_slots);
    EXPECT_EQ(it.mean_device_load * 64, it.routed_slots);
    // Equal but for the fluid network's tolerance on a flow's last bytes (1e-9 relative).
    EXPECT_NEAR(run.result.flow_byte_hops, run.result.link_bytes, 1e-7 * run.result.link_bytes);
    EXPECT_GT(run.result.link_bytes, 0);
  }
}

TEST(Serving, DecodeIsNeverFasterThanItsMemoryReadBound) {
  ServeConfig c;
  c.batch = 128;
  c.context = 4096;
  for (const char* model : {"qwen3-30b-a3b", "deepseek-v2", "mixtral-8x7b"}) {
    const ServeRun run = serve(model, "wsc-mesh-8x8", "er", 4, c);
    const auto& it = run.result.iterations[0];
    EXPECT_GT(it.memory_bound_s, 0) << model;
    EXPECT_GE(it.latency_s, it.memory_bound_s) << model;
  }
}

TEST(Serving, MoreLinkBandwidthIsNeverSlower) {
  const model::MoeModel m = model::load_model("qwen3-30b-a3b");
  ServeConfig c;
  c.batch = 64;
  c.context = 512;
  double previous = 1e300;
  for (double factor : {0.25, 1.0, 4.0}) {
    const hw::HwSpec hw = study::with_link_scale(hw::load_hw("wsc-mesh-8x8"), factor);
    const net::Network net(hw);
    const mapping::Mapping map = mapping::make_mapping(net, "baseline", 4, "test");
    const trace::Trace t = study::serving_trace(m, c, map.group_count(), 1);
    const trace::Trace priors = study::generated_trace(m, 1024, 256, 2);
    const placement::Placement p = study::place_experts(m, hw, priors, "contiguous", 1);
    const double latency = simulate_serving({m, net, map, p, t}, c).mean_latency_s;
    EXPECT_LE(latency, previous * (1 + 1e-12)) << factor;
    previous = latency;
  }
}

TEST(Serving, TheGraphGrowsLinearlyWithTheDevices) {
  ServeConfig c;
  c.batch = 64;
  c.context = 256;
  auto per_device = [&](const std::string& hw_name, int devices) {
    const IterationPlan plan = serve("qwen3-30b-a3b", hw_name, "er", 4, c).plan;
    std::size_t edges = 0;
    for (const sim::Task& t : plan.graph.tasks())
      edges += t.deps.size();
    return std::pair{double(plan.graph.tasks().size()) / devices, double(edges) / devices};
  };
  const auto [tasks64, edges64] = per_device("wsc-mesh-8x8", 64);
  const auto [tasks256, edges256] = per_device("wsc-mesh-4x8x8", 256);
  // A quarter of the batch per TP group: fewer flows per device on the larger system, never more.
  EXPECT_LE(tasks256, tasks64 * 1.1);
  EXPECT_LE(edges256, edges64 * 1.1);
}

TEST(Serving, RunsAreDeterministic) {
  ServeConfig c;
  c.batch = 32;
  c.context = 256;
  c.iterations = 2;
  const auto a = to_json(serve("olmoe-1b-7b", "wsc-mesh-8x8", "er", 4, c).result).dump();
  const auto b = to_json(serve("olmoe-1b-7b", "wsc-mesh-8x8", "er", 4, c).result).dump();
  EXPECT_EQ(a, b);
}

// Iterations on worker threads are summed in iteration order: the same bytes as one thread,
// timeline included, whether the workers divide the iterations evenly or not.
TEST(Serving, WorkerThreadsGiveTheResultOfOneThread) {
  ServeConfig c;
  c.batch = 32;
  c.context = 256;
  c.iterations = 6;
  const ServeSetup setup("olmoe-1b-7b", "wsc-mesh-8x8", "er", 4, c);
  const ServeInputs in = setup.inputs();
  const auto run = [&](unsigned jobs) {
    sim::Timeline timeline;
    int done = 0;
    ServeRunOptions options;
    options.timeline = &timeline;
    options.jobs = jobs;
    options.iteration_done = [&] { ++done; };
    const ServeResult r = simulate_serving(in, c, options);
    EXPECT_EQ(done, c.iterations);
    return to_json(r).dump() + timeline.to_chrome_json();
  };
  const std::string one = run(1);
  EXPECT_EQ(run(2), one);
  EXPECT_EQ(run(3), one);
  EXPECT_EQ(run(8), one);
}

TEST(Serving, WorkersAreBoundByTheIterationsAndByMemory) {
  EXPECT_EQ(serving_workers(4, 10, 1000), 4u);
  EXPECT_EQ(serving_workers(4, 2, 1000), 2u);
  EXPECT_EQ(serving_workers(4, 0, 1000), 1u);
  EXPECT_GE(serving_workers(0, 1000, 1000), 1u);
  // Iterations too large for two of them to fit: one at a time.
  EXPECT_EQ(serving_workers(4, 10, std::size_t{1} << 62), 1u);
}

TEST(Serving, AModelThatDoesNotFitIsRefusedSayingHowMuchIsMissing) {
  const hw::HwSpec hw = square();
  const net::Network net(hw);
  const model::MoeModel m = model::load_model("deepseek-v3");
  const mapping::Mapping map = mapping::make_mapping(net, "baseline", 1, "test");
  ServeConfig c;
  c.batch = 4;
  const trace::Trace t = study::serving_trace(m, c, map.group_count(), 1);
  const trace::Trace priors = study::generated_trace(m, 256, 256, 2);
  const placement::Placement p = study::place_experts(m, hw, priors, "contiguous", 1);
  try {
    simulate_serving({m, net, map, p, t}, c);
    FAIL();
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
  }
}

TEST(Serving, ATraceShorterThanTheIterationsIsRefused) {
  const hw::HwSpec hw = square();
  const net::Network net(hw);
  const model::MoeModel m = tiny();
  const mapping::Mapping map = mapping::make_mapping(net, "baseline", 1, "test");
  const placement::Placement p = one_expert_each(hw, m);
  ServeConfig c;
  c.batch = 64;
  c.iterations = 3;
  const trace::Trace t = uniform(128);
  EXPECT_THROW(simulate_serving({m, net, map, p, t}, c), core::InputError);
}

TEST(Serving, HybridLayersKeepTheirOwnState) {
  // Qwen3-Next: three Gated DeltaNet layers to each full-attention layer. Only the attention
  // layers' cache grows with the context; a linear layer keeps a fixed state per sequence.
  const model::MoeModel m = model::load_model("qwen3-next-80b-a3b");
  double per_token = 0;
  double per_sequence = 0;
  for (int l = 0; l < m.layers; ++l) {
    const model::Mixer mixer = m.layer_kind(l).mixer;
    if (mixer == model::Mixer::attention)
      per_token += model::layer_state_bytes(m, l, 1);
    if (mixer == model::Mixer::linear_attention)
      per_sequence += model::layer_state_bytes(m, l, 0);
  }
  ASSERT_GT(per_token, 0);
  ASSERT_GT(per_sequence, 0);
  double kept = 0;
  for (int l = 0; l < m.layers; ++l)
    kept += sequence_state_bytes(m, l, 3, 100);
  EXPECT_NEAR(kept, 3 * 100 * per_token + 3 * per_sequence, 1e-9 * kept);
  // A model of full attention keeps kv_bytes_per_token for every token of every layer.
  const model::MoeModel dense = model::load_model("qwen3-30b-a3b");
  EXPECT_DOUBLE_EQ(sequence_state_bytes(dense, 0, 3, 100), 300 * kv_bytes_per_token(dense));
  // And it serves: decode never faster than its memory-read bound.
  ServeConfig c;
  c.batch = 16;
  c.context = 64;
  const ServeRun run = serve("qwen3-next-80b-a3b", "wsc-mesh-8x8", "er", 16, c);
  const auto& it = run.result.iterations[0];
  EXPECT_GE(it.latency_s, it.memory_bound_s * (1 - 1e-9));
}

// ---- replicas, shadow slots, side flows and balancers ----------------------------------------

// Expert 0 on every device (a home and three replicas), the others at home.
placement::Placement replicated(const hw::HwSpec& hw, const model::MoeModel& m) {
  placement::Placement p = one_expert_each(hw, m);
  p.layout.slots = 2;
  p.layers[0].chiplets_of[0] = {0, 1, 2, 3};
  return p;
}

TEST(Serving, ReplicasShareTheirExpertsTokensWhichAreConserved) {
  const hw::HwSpec hw = square();
  const net::Network net(hw);
  const model::MoeModel m = tiny();
  const mapping::Mapping map = mapping::make_mapping(net, "baseline", 1, "test");
  const placement::Placement p = replicated(hw, m);
  trace::Trace t = trace::make_trace({{0}, 4, 1}, 64, "tiny");  // every token to expert 0
  for (Dispatch dispatch : {Dispatch::load, Dispatch::nearest}) {
    ServeConfig c;
    c.batch = 64;
    c.context = 128;
    c.dispatch = dispatch;
    const IterationPlan plan = build_iteration({m, net, map, p, t}, c, 0);
    double computed = 0;
    for (double n : plan.expert_tokens)
      computed += n;
    EXPECT_DOUBLE_EQ(plan.routed_slots, 64);
    EXPECT_DOUBLE_EQ(computed, 64);  // each choice taken by exactly one replica
    if (dispatch == Dispatch::load) {
      for (double n : plan.expert_tokens)
        EXPECT_DOUBLE_EQ(n, 16);  // evenly
    } else {
      // Every device is its own source (TP 1): the nearest replica is the one on the device,
      // so nothing crosses the network.
      EXPECT_DOUBLE_EQ(plan.a2a_bytes, 0);
    }
  }
}

TEST(Serving, EveryEpGroupHoldsEveryExpertOnce) {
  const model::MoeModel m = model::load_model("olmoe-1b-7b");  // 64 experts
  const hw::HwSpec hw = hw::load_hw("wsc-mesh-8x8");           // 64 dies
  const trace::Trace priors = study::generated_trace(m, 512, 256, 2);
  const placement::Placement p = study::place_over_ep(m, hw, priors, "contiguous", 16, 1, "test");
  EXPECT_EQ(p.layout.slots, 4);
  for (std::size_t l = 0; l < p.layers.size(); ++l) {
    for (const auto& holders : p.layers[l].chiplets_of) {
      ASSERT_EQ(holders.size(), 4u);
      for (std::size_t i = 0; i < holders.size(); ++i)
        EXPECT_EQ(holders[i] / 16, int(i));  // one copy in each group of 16
    }
    for (const auto& experts : p.experts_on(l))
      EXPECT_EQ(experts.size(), 4u);
  }
  EXPECT_THROW(study::place_over_ep(m, hw, priors, "contiguous", 24, 1, "test"), core::InputError);
}

TEST(Serving, ShadowSlotsThatDoNotFitAreRefusedSayingHowMuchIsMissing) {
  const hw::HwSpec hw = square();
  const net::Network net(hw);
  const model::MoeModel m = tiny();
  const mapping::Mapping map = mapping::make_mapping(net, "baseline", 1, "test");
  const placement::Placement p = one_expert_each(hw, m);
  const trace::Trace t = uniform(64);
  ServeConfig c;
  c.batch = 64;
  c.context = 128;
  const double expert_bytes = double(model::routed_expert_params(m)) * 2;
  c.shadow_slots = 10;
  const auto memory = serving_memory({m, net, map, p, t}, c);
  EXPECT_DOUBLE_EQ(memory[0].shadow_slots, 10 * expert_bytes);
  c.shadow_slots = int(80e9 / expert_bytes) + 1;  // one more than the 80 GB stack holds
  try {
    check_serving_memory({m, net, map, p, t}, c);
    FAIL();
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("shadow slots"), std::string::npos) << e.what();
  }
}

TEST(Serving, AnIdleNetworkCopyTakesItsBytesOverTheLinkBandwidth) {
  const hw::HwSpec hw = square();
  const net::Network net(hw);
  const double capacity = net.capacities()[std::size_t(net.channel_between(0, 1))];
  const double bytes = 25e6;
  // One copy over one link; two over the same link share it; two on different links do not.
  EXPECT_NEAR(idle_transfer_s(net, {{0, 1}}, bytes), bytes / capacity, 1e-12);
  EXPECT_NEAR(idle_transfer_s(net, {{0, 1}, {0, 1}}, bytes), 2 * bytes / capacity, 1e-12);
  EXPECT_NEAR(idle_transfer_s(net, {{0, 1}, {1, 0}}, bytes), bytes / capacity, 1e-12);
  EXPECT_EQ(idle_transfer_s(net, {}, bytes), 0);
}

TEST(Serving, ASideFlowArrivesWholeAndItsBytesAreCountedOnItsLinks) {
  const hw::HwSpec hw = square();
  const net::Network net(hw);
  const model::MoeModel m = tiny();
  const mapping::Mapping map = mapping::make_mapping(net, "baseline", 1, "test");
  const placement::Placement p = one_expert_each(hw, m);
  const trace::Trace t = uniform(64);
  ServeConfig c;
  c.batch = 64;
  c.context = 128;
  const double bytes = 50e6;
  const net::Route route = net.route(0, 3);  // two hops
  const std::vector<SideFlow> side{{"copy", net.unicast(route, bytes), Stage::dispatch, -1}};
  const IterationRun plain = run_iteration({m, net, map, p, t}, c, 0);
  const IterationRun with = run_iteration({m, net, map, p, t}, c, 0, side);
  double plain_bytes = 0, with_bytes = 0;
  for (double b : plain.channel_bytes)
    plain_bytes += b;
  for (double b : with.channel_bytes)
    with_bytes += b;
  EXPECT_NEAR(with_bytes - plain_bytes, bytes * double(route.size()), 1e-6 * bytes);
  ASSERT_EQ(with.side_finish_s.size(), 1u);
  const double capacity = net.capacities()[std::size_t(route.front())];
  EXPECT_GE(with.side_finish_s[0], bytes / capacity);  // never faster than the link
  // The copy rides the dispatch, which saturates every link of the mesh (closed form above),
  // and runs on through the combine: at low priority it slows neither.
  for (std::size_t s = 0; s < kStages; ++s)
    EXPECT_NEAR(with.result.stage_s[s], plain.result.stage_s[s], 1e-15) << s;
  EXPECT_GT(with.side_finish_s[0], with.result.latency_s);  // it got what was left, later
}

TEST(Serving, BalancersServeEveryTokenAndEplbStallsForItsCopiesOnTheIdleNetwork) {
  ServeConfig c;
  c.batch = 64;
  c.context = 256;
  c.iterations = 6;
  c.shadow_slots = 1;
  c.moe_only = true;
  const ServeSetup setup("olmoe-1b-7b", "wsc-mesh-8x8", "er", 16, c);
  const ServeInputs in = setup.inputs();
  const model::MoeModel& m = setup.m;
  balance::BalancerOptions o;
  o.window = 2;
  o.period = 2;
  const study::Rides rides = study::derive_rides(in, c);
  const double expert_bytes = double(model::routed_expert_params(m)) * 2;
  for (const std::string name : {"none", "eplb", "ni"}) {
    std::vector<int> done;  // the progress callback: once per iteration, in order
    const study::BalancedRun run =
        study::serve_balanced(in, c, name, o, rides, "test", [&](int i) { done.push_back(i); });
    ASSERT_EQ(run.iterations.size(), 6u);
    EXPECT_EQ(done, (std::vector<int>{0, 1, 2, 3, 4, 5})) << name;
    EXPECT_DOUBLE_EQ(run.copied_bytes, run.copies * expert_bytes);  // whole experts only
    for (const auto& it : run.iterations)
      EXPECT_DOUBLE_EQ(it.result.routed_slots, double(c.batch) * m.top_k * m.moe_layer_count());
    if (name == "none") {
      EXPECT_EQ(run.copies, 0);
    }
    if (name == "eplb") {
      EXPECT_GT(run.copies, 0);
      EXPECT_GT(run.stall_s, 0);
    } else {
      EXPECT_EQ(run.stall_s, 0);
    }
  }
  o.window = 7;  // longer than the run
  EXPECT_THROW(study::serve_balanced(in, c, "ni", o, rides, "test"), core::InputError);
  o.window = 2;
  EXPECT_THROW(study::serve_balanced(in, c, "greedy", o, rides, "test"), core::InputError);
}

}  // namespace
}  // namespace mozart::workload
