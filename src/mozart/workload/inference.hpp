// Serving iterations of an MoE model with expert parallelism, as task graphs for the engine.
//
// One iteration runs every layer of the model for the iteration's tokens: a decode step of each
// sequence of the batch (one new token attending to its KV cache), a prefill of every sequence's
// prompt, or both (mixed: each TP group decodes its sequences and prefills one new prompt).
// Attention is data parallel over TP groups (the mapping's) and tensor parallel inside one:
// each device computes 1/tp of every op of attention, norms, router, shared experts or dense FFN
// for its group's tokens, reading its shard of their weights and of the group's KV cache from
// its own memory. Per layer, six phases, each ended by one barrier task (so the graph grows
// linearly with the devices):
//
//   attention   compute and the memory reads (weights, KV cache) of every device;
//   all-reduce  of attention's output inside each TP group (ring; her: hierarchical);
//   dispatch    each token once to every device holding one of its top-k experts, from the
//               device's FTD member of the token's group (Mapping::source), over the network;
//   experts     each device computes its experts for exactly the tokens routed to them (per-
//               expert GEMMs), reading the weights of every expert that got a token;
//   combine     each device's summed expert outputs per token back to where the token came from;
//   all-reduce  of the partial outputs inside each TP group.
//
// Dense layers skip dispatch, experts and combine. The LM head runs once per iteration after the
// last layer, in the attention phase's terms. Memory reads are flows on the device's memory
// stack channel next to its compute task; a phase's device is done when both are.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mozart/mapping/mapping.hpp"
#include "mozart/model/spec.hpp"
#include "mozart/net/network.hpp"
#include "mozart/placement/placement.hpp"
#include "mozart/sim/platform.hpp"
#include "mozart/sim/task_graph.hpp"
#include "mozart/sim/timeline.hpp"
#include "mozart/trace/trace.hpp"

namespace mozart::workload {

enum class ServePhase : std::uint8_t { decode, prefill, mixed };
std::string_view to_string(ServePhase phase);

// Which replica of an expert takes a token when there are several: `load` the one given the
// fewest of the layer's tokens so far in the iteration (ties: the nearest to the token's source,
// then the lower device), `nearest` the one fewest hops from where the token leaves (ties: the
// fewer tokens, then the lower device). Each routed choice goes to exactly one replica.
enum class Dispatch : std::uint8_t { load, nearest };
std::string_view to_string(Dispatch dispatch);

struct ServeConfig {
  ServePhase phase = ServePhase::decode;
  int batch = 256;     // sequences being decoded (prefill: prompts), shared out over TP groups
  int context = 4096;  // tokens in each decoding sequence's KV cache
  int prompt = 512;    // tokens of each prompt prefilled (prefill and mixed)
  int iterations = 1;
  Dispatch dispatch = Dispatch::load;
  // Expert slots per device and MoE layer kept free for replicas a balancer copies in: their
  // memory is reserved whether filled or not.
  int shadow_slots = 0;
  // Only the MoE phases (dispatch, experts, combine) of each MoE layer: what expert placement
  // and balancing change. Attention and the all-reduces do not depend on the placement.
  bool moe_only = false;
};

struct ServeInputs {
  const model::MoeModel& model;
  const net::Network& network;
  const mapping::Mapping& mapping;
  const placement::Placement& placement;
  // Routing in serving order: iteration i's tokens are the trace's tokens
  // [i * tokens_per_iteration, (i + 1) * tokens_per_iteration), group by group.
  const trace::Trace& trace;
  std::string trace_source = "trace";
};

// The tokens each TP group brings to one iteration.
struct GroupTokens {
  int decode = 0;   // sequences decoding one token each
  int prefill = 0;  // prompt tokens prefilled (one prompt)
  int prompts = 0;  // prompts prefilled
  int tokens() const { return decode + prefill; }
};
std::vector<GroupTokens> group_tokens(const ServeConfig& config, int groups);
std::size_t tokens_per_iteration(const ServeConfig& config, int groups);

// What one device holds: its share of the dense weights, its experts' weights over every MoE
// layer, and its share of its group's KV cache (filled to the context plus what the iterations
// add).
struct DeviceMemory {
  double dense_weights = 0;
  double expert_weights = 0;  // the experts placed on it beyond its shadow slots
  double shadow_slots = 0;    // its shadow slots, filled or not
  double kv_cache = 0;
  double capacity = 0;
  double needed() const { return dense_weights + expert_weights + shadow_slots + kv_cache; }
};
std::vector<DeviceMemory> serving_memory(const ServeInputs& inputs, const ServeConfig& config);
// KV-cache bytes per token per layer: 2 x kv heads x head dim (MHA, GQA), the latent and the
// rotary key (MLA).
double kv_bytes_per_token(const model::MoeModel& m);
// What `sequences` sequences of `tokens_each` tokens keep of layer `layer` while decoding: the
// keys and values of every token (of the last window's, for a sliding layer), or a linear-
// attention or Mamba layer's fixed recurrent state (model::layer_state_bytes); 0 without a mixer.
double sequence_state_bytes(const model::MoeModel& m, int layer, double sequences,
                            double tokens_each);
// InputError when a device's memory cannot hold what it must, naming it and how much is missing.
void check_serving_memory(const ServeInputs& inputs, const ServeConfig& config);

enum class Stage : std::uint8_t { attention, all_reduce, dispatch, experts, combine };
inline constexpr std::size_t kStages = 5;
std::string_view to_string(Stage stage);

// A transfer that travels beside an iteration (a balancer's expert copy): it starts with the
// iteration's first phase of `ride` (and after side flow `after` of the same list, when >= 0),
// at low priority (net::Priority::low: it takes only the bandwidth the phases' own flows leave,
// so it never slows them), and no phase waits for it.
struct SideFlow {
  std::string name;
  net::FlowSpec spec;
  Stage ride = Stage::dispatch;
  int after = -1;
};

struct IterationPlan {
  sim::Platform platform;  // without channel names: sim::channel_names() gives them
  sim::TaskGraph graph;
  std::vector<sim::TaskId> barriers;  // the end of each phase, in order
  std::vector<Stage> stage_of;        // per barrier: the phase it ends
  double tokens = 0;
  double dispatched_copies = 0;       // token copies sent (one per token and device of its experts)
  double routed_slots = 0;            // token-expert choices
  double a2a_bytes = 0;               // dispatch and combine payload on the network
  double flow_byte_hops = 0;          // network flows' wire bytes times their hops
  std::vector<double> memory_bytes;   // per device: bytes read and written in its memory
  std::vector<double> expert_tokens;  // per device: routed token copies its experts computed
  std::vector<sim::TaskId> side;      // the side flows' tasks, in their order
  // Per stage, the bytes each network channel carries in its phases (the hot and cold links).
  std::array<std::vector<double>, kStages> stage_channel_bytes;
};

// The device (hardware node) of each of the placement's slots, in slot order.
std::vector<int> devices_of_slots(const ServeInputs& inputs);

// InputError for a trace of another model or shorter than the iterations.
void check_serving_inputs(const ServeInputs& inputs, const ServeConfig& config);
IterationPlan build_iteration(const ServeInputs& inputs, const ServeConfig& config, int iteration,
                              const std::vector<SideFlow>& side = {});

struct IterationResult {
  double latency_s = 0;
  std::array<double, kStages> stage_s{};  // sums to the latency
  double memory_bound_s = 0;              // the busiest device's memory bytes over its bandwidth
  double tokens = 0;
  double dispatched_copies = 0;
  double routed_slots = 0;
  double peak_device_load = 0;  // most routed token copies on one device
  double mean_device_load = 0;
  std::size_t tasks = 0;
  std::size_t edges = 0;
  // The network solver's work (sim::RunResult), for benchmarks; not part of the JSON, which
  // holds what was simulated rather than how.
  std::uint64_t network_solves = 0;
  std::uint64_t flows_resolved = 0;
  std::uint64_t flows_moved = 0;
};

// One iteration simulated: its measures, the bytes each channel carried, when each side flow
// finished (from the iteration's start; it may be after the iteration's end), and per stage the
// channels' bytes and the time its phases took.
struct IterationRun {
  IterationResult result;
  std::vector<double> channel_bytes;
  std::vector<double> side_finish_s;
  std::array<std::vector<double>, kStages> stage_channel_bytes;
  std::vector<std::pair<std::string, std::pair<double, double>>> phases;  // name, start, end
  double flow_byte_hops = 0;
};
// `timeline` (optional) gets the iteration's tasks.
// `threads`: how many of the iteration's phases the engine runs at once (sim::RunOptions).
IterationRun run_iteration(const ServeInputs& inputs, const ServeConfig& config, int iteration,
                           const std::vector<SideFlow>& side = {},
                           sim::Timeline* timeline = nullptr, std::size_t threads = 1);

// The time copies of `bytes` each, all started together between (from, to) devices, take on an
// otherwise idle network: what an invasive balancer stops serving for.
double idle_transfer_s(const net::Network& network, const std::vector<std::pair<int, int>>& pairs,
                       double bytes);

struct LinkBytes {
  std::string name;
  double bytes = 0;
  double utilisation = 0;  // bytes over capacity x the run's time
};

struct ServeResult {
  std::string model;
  std::string hardware;
  std::string mapping;
  std::string trace;
  int tp = 0;
  int devices = 0;
  ServeConfig config;
  std::vector<IterationResult> iterations;
  double mean_latency_s = 0;
  std::array<double, kStages> mean_stage_s{};
  double tokens_per_s = 0;
  double tokens_per_s_per_device = 0;
  double peak_memory_share = 0;  // the fullest device's needs over its capacity
  std::vector<LinkBytes> links;  // per channel (one link direction), over every iteration
  double link_bytes = 0;         // their sum
  double flow_byte_hops = 0;     // the flows' wire bytes times their hops: equals link_bytes
};

struct ServeRunOptions {
  sim::Timeline* timeline = nullptr;  // the first iteration's tasks and every iteration's phases
  // Worker threads (0: one per hardware thread): see simulate_serving.
  unsigned jobs = 1;
  std::function<void()> iteration_done;  // called after each iteration, on the calling thread
};

// Runs the iterations. Each starts from an idle network, so after the first they run
// `options.jobs` at a time on worker threads (fewer when their task graphs would not fit in
// core::memory_limit()), each worker with its own copy of the network, and are summed in
// iteration order: the result is the same for any number of jobs. An iteration run alone (the
// first, and a last one left over) has its phases run on `options.jobs` threads instead.
ServeResult simulate_serving(const ServeInputs& inputs, const ServeConfig& config,
                             const ServeRunOptions& options = {});
// The workers simulate_serving uses for `iterations` left, given `jobs` as it takes them and
// the tasks of one iteration.
unsigned serving_workers(unsigned jobs, int iterations, std::size_t tasks_per_iteration);

nlohmann::ordered_json to_json(const ServeResult& result);

}  // namespace mozart::workload
