// Serving: the inputs' checks, memory, and the iterations run and measured.
#include <algorithm>
#include <exception>
#include <numeric>
#include <thread>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/memory_limit.hpp"
#include "mozart/core/units.hpp"
#include "mozart/model/params.hpp"
#include "mozart/net/fluid.hpp"
#include "mozart/sim/engine.hpp"
#include "mozart/workload/inference.hpp"

namespace mozart::workload {
namespace {

// What a group's sequences keep of every layer at the end of the run: each decoding sequence
// its context plus one token per iteration, each prefilled prompt its tokens (one prompt per
// iteration when mixed).
double cached_state_bytes(const model::MoeModel& m, const GroupTokens& g, const ServeConfig& c) {
  const double decoded_tokens = double(c.context) + c.iterations;
  const double prompts = double(g.prompts) * (c.phase == ServePhase::mixed ? c.iterations : 1);
  const double prompt_tokens = g.prompts > 0 ? double(g.prefill) / g.prompts : 0;
  double sum = 0;
  for (int l = 0; l < m.layers; ++l)
    sum += sequence_state_bytes(m, l, g.decode, decoded_tokens) +
           sequence_state_bytes(m, l, prompts, prompt_tokens);
  return sum;
}

// Per device, the sum over the stacks that serve it of each stack's `value`, a shared stack's
// split evenly among its chiplets.
template <typename Value>
std::vector<double> per_device_share(const hw::HwSpec& hw, int devices, Value value) {
  const std::vector<std::vector<int>> stacks = sim::stacks_by_chiplet(hw);
  std::vector<double> out(static_cast<std::size_t>(devices), 0.0);
  for (std::size_t d = 0; d < out.size() && d < stacks.size(); ++d)
    for (const int s : stacks[d]) {
      const hw::MemoryStack& m = hw.memories[std::size_t(s)];
      out[d] += value(m) / double(std::max<std::size_t>(1, m.chiplets.size()));
    }
  return out;
}

// A device's memory: its stacks' capacities; and its bandwidth to them.
std::vector<double> capacities(const hw::HwSpec& hw, int devices) {
  return per_device_share(hw, devices, [](const hw::MemoryStack& m) { return m.bytes; });
}

std::vector<double> bandwidths(const hw::HwSpec& hw, int devices) {
  return per_device_share(hw, devices, [](const hw::MemoryStack& m) { return m.bytes_per_s; });
}

}  // namespace

std::vector<DeviceMemory> serving_memory(const ServeInputs& in, const ServeConfig& config) {
  const model::MoeModel& m = in.model;
  const mapping::Mapping& map = in.mapping;
  const hw::HwSpec& hw = in.network.hw();
  const double b = core::bytes_per_element(m.dtype);
  const model::ParamCounts params = model::count_params(m);
  const double expert_bytes = double(model::routed_expert_params(m)) * b;
  const auto groups = group_tokens(config, map.group_count());
  std::vector<DeviceMemory> out(static_cast<std::size_t>(map.devices));
  const std::vector<double> capacity = capacities(hw, map.devices);
  for (int d = 0; d < map.devices; ++d) {
    DeviceMemory& mem = out[std::size_t(d)];
    mem.dense_weights = double(params.total - params.routed_experts) * b / map.tp;
    mem.kv_cache = cached_state_bytes(m, groups[std::size_t(map.group_of[d])], config) / map.tp;
    mem.capacity = capacity[std::size_t(d)];
  }
  // Per layer, a device holds its experts' homes, and its shadow slots or the replicas it holds
  // when they are more.
  const std::vector<int> device_of_slot = devices_of_slots(in);
  for (const placement::LayerPlacement& layer : in.placement.layers) {
    std::vector<int> homes(in.placement.layout.chiplets.size(), 0);
    std::vector<int> replicas(homes.size(), 0);
    for (const auto& copies : layer.chiplets_of)
      for (std::size_t i = 0; i < copies.size(); ++i)
        ++(i == 0 ? homes : replicas)[std::size_t(copies[i])];
    for (std::size_t slot = 0; slot < homes.size(); ++slot) {
      DeviceMemory& mem = out[std::size_t(device_of_slot[slot])];
      mem.expert_weights += homes[slot] * expert_bytes;
      mem.shadow_slots += std::max(replicas[slot], config.shadow_slots) * expert_bytes;
    }
  }
  return out;
}

void check_serving_memory(const ServeInputs& in, const ServeConfig& config) {
  const auto memory = serving_memory(in, config);
  const auto worst =
      std::max_element(memory.begin(), memory.end(), [](const auto& a, const auto& b) {
        return a.needed() - a.capacity < b.needed() - b.capacity;
      });
  if (worst == memory.end() || worst->needed() <= worst->capacity)
    return;
  const hw::HwSpec& hw = in.network.hw();
  // Every size in the units of the device's capacity, as the spec gives it.
  const core::ByteUnits units = core::byte_units_of(worst->capacity);
  const auto gb = [&](double bytes) { return core::format_bytes(bytes, units); };
  throw core::InputError(
      hw.name,
      fmt::format("{} with --tp {}, --batch {}, --context {}, --shadow-slots {} does not fit: "
                  "device {} needs {} (dense weights {}, experts {}, shadow slots and replicas "
                  "{}, KV cache {}) of its {} memory, {} missing",
                  in.model.name, in.mapping.tp, config.batch, config.context, config.shadow_slots,
                  hw.chiplets[std::size_t(worst - memory.begin())].name, gb(worst->needed()),
                  gb(worst->dense_weights), gb(worst->expert_weights), gb(worst->shadow_slots),
                  gb(worst->kv_cache), gb(worst->capacity), gb(worst->needed() - worst->capacity)));
}

void check_serving_inputs(const ServeInputs& in, const ServeConfig& config) {
  const model::MoeModel& m = in.model;
  const trace::Trace& t = in.trace;
  if (t.shape.layer_ids != m.moe_layers() || t.num_experts() != m.routed_experts ||
      t.top_k() != m.top_k)
    throw core::InputError(
        {in.trace_source, "shape", 0},
        fmt::format("{} MoE layers, {} experts, top-{}", t.layers(), t.num_experts(), t.top_k()),
        fmt::format("routing of every MoE layer of {} ({} layers, {} experts, "
                    "top-{})",
                    m.name, m.moe_layer_count(), m.routed_experts, m.top_k));
  const std::size_t per = tokens_per_iteration(config, in.mapping.group_count());
  if (t.tokens < per * std::size_t(config.iterations))
    throw core::InputError(
        {in.trace_source, "tokens", 0}, std::to_string(t.tokens),
        fmt::format("at least {} tokens: {} per iteration x {} iterations",
                    per * std::size_t(config.iterations), per, config.iterations));
  if (in.placement.experts != m.routed_experts ||
      in.placement.layers.size() != std::size_t(m.moe_layer_count()))
    throw core::InputError(
        {in.placement.source.empty() ? "placement" : in.placement.source, "layers", 0},
        std::to_string(in.placement.layers.size()),
        fmt::format("a placement of every MoE layer of {}", m.name));
}

IterationRun run_iteration(const ServeInputs& in, const ServeConfig& config, int i,
                           const std::vector<SideFlow>& side, sim::Timeline* timeline,
                           std::size_t threads) {
  const hw::HwSpec& hw = in.network.hw();
  const IterationPlan plan = build_iteration(in, config, i, side);
  sim::RunOptions options;
  options.threads = threads;
  if (timeline) {
    options.timeline = timeline;
    options.channel_names = sim::channel_names(in.network);
  }
  const sim::RunResult run = sim::run(plan.graph, plan.platform.capacities, options);
  IterationRun out;
  IterationResult& it = out.result;
  double previous = 0;
  for (std::size_t p = 0; p < plan.barriers.size(); ++p) {
    const double end = run.tasks[std::size_t(plan.barriers[p])].finish_s;
    it.stage_s[std::size_t(plan.stage_of[p])] += end - previous;
    out.phases.push_back(
        {std::string(plan.graph.tasks()[std::size_t(plan.barriers[p])].name), {previous, end}});
    previous = end;
  }
  it.latency_s = previous;  // the last phase's end: side flows may run on after it
  const std::vector<double> bandwidth = bandwidths(hw, in.mapping.devices);
  for (int d = 0; d < in.mapping.devices; ++d)
    it.memory_bound_s =
        std::max(it.memory_bound_s, plan.memory_bytes[std::size_t(d)] / bandwidth[std::size_t(d)]);
  it.tokens = plan.tokens;
  it.dispatched_copies = plan.dispatched_copies;
  it.routed_slots = plan.routed_slots;
  it.peak_device_load = *std::max_element(plan.expert_tokens.begin(), plan.expert_tokens.end());
  it.mean_device_load = std::accumulate(plan.expert_tokens.begin(), plan.expert_tokens.end(), 0.0) /
                        double(plan.expert_tokens.size());
  it.tasks = plan.graph.tasks().size();
  for (const sim::Task& t : plan.graph.tasks())
    it.edges += t.deps.size();
  it.network_solves = run.network_solves;
  it.flows_resolved = run.network_flows_resolved;
  it.flows_moved = run.network_flows_moved;
  const std::size_t channels = in.network.channels().size();
  for (std::size_t c = 0; c < channels; ++c)
    out.channel_bytes.push_back(run.channels[c].bytes);
  for (sim::TaskId t : plan.side)
    out.side_finish_s.push_back(run.tasks[std::size_t(t)].finish_s);
  out.stage_channel_bytes = plan.stage_channel_bytes;
  out.flow_byte_hops = plan.flow_byte_hops;
  return out;
}

double idle_transfer_s(const net::Network& network, const std::vector<std::pair<int, int>>& pairs,
                       double bytes) {
  std::vector<net::TimedFlow> flows;
  for (const auto& [from, to] : pairs)
    flows.push_back({network.unicast(network.route(from, to), bytes), 0.0});
  if (flows.empty())
    return 0;
  net::FluidNetwork fluid(network.capacities());
  const std::vector<double> finish = net::run_flows(fluid, flows);
  return *std::max_element(finish.begin(), finish.end());
}

// Bytes a worker holds per task of its iteration: the task graph, the engine's and the fluid
// network's state, and what its thread's allocator keeps. DeepSeek-V3 decode iterations on 256
// dies (472,457 tasks) peak at 207 MB resident on one thread and 454 MB on two: about 520 bytes
// per task for the second worker; the estimate leaves half as much again.
constexpr std::uint64_t kBytesPerTask = 768;

unsigned serving_workers(unsigned jobs, int iterations, std::size_t tasks_per_iteration) {
  unsigned workers = jobs > 0 ? jobs : std::max(1u, std::thread::hardware_concurrency());
  workers = std::min<unsigned>(workers, unsigned(std::max(1, iterations)));
  const std::uint64_t each =
      core::saturating_mul_bytes(std::max<std::uint64_t>(1, tasks_per_iteration), kBytesPerTask);
  const std::uint64_t fit = std::max<std::uint64_t>(1, core::memory_limit().bytes / each);
  return unsigned(std::min<std::uint64_t>(workers, fit));
}

namespace {

// Iterations [first, first + count) at once, one per thread, thread k on `networks[k]`, a copy
// of the network of its own (its route caches fill as it goes and serve its later rounds); the
// first failure in iteration order is rethrown once all have ended.
std::vector<IterationRun> run_together(const ServeInputs& in, const ServeConfig& config, int first,
                                       int count, std::vector<net::Network>& networks) {
  std::vector<IterationRun> runs(static_cast<std::size_t>(count));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(count));
  {
    std::vector<std::jthread> threads;
    for (int k = 0; k < count; ++k)
      threads.emplace_back([&, k] {
        try {
          const ServeInputs own{in.model, networks[std::size_t(k)], in.mapping, in.placement,
                                in.trace, in.trace_source};
          runs[std::size_t(k)] = run_iteration(own, config, first + k);
        } catch (...) {
          errors[std::size_t(k)] = std::current_exception();
        }
      });
  }
  for (const std::exception_ptr& e : errors)
    if (e)
      std::rethrow_exception(e);
  return runs;
}

}  // namespace

ServeResult simulate_serving(const ServeInputs& in, const ServeConfig& config,
                             const ServeRunOptions& options) {
  sim::Timeline* const timeline = options.timeline;
  check_serving_inputs(in, config);
  check_serving_memory(in, config);
  const hw::HwSpec& hw = in.network.hw();
  ServeResult r;
  r.model = in.model.name;
  r.hardware = hw.name;
  r.mapping = in.mapping.name;
  r.trace = in.trace_source;
  r.tp = in.mapping.tp;
  r.devices = in.mapping.devices;
  r.config = config;
  for (const DeviceMemory& mem : serving_memory(in, config))
    r.peak_memory_share = std::max(r.peak_memory_share, mem.needed() / mem.capacity);
  const std::size_t channels = in.network.channels().size();
  std::vector<double> link_bytes(channels, 0);
  const int phase_track = timeline ? timeline->add_track("phases", "serving") : -1;
  double clock = 0;
  // Summed in iteration order whichever thread ran them.
  const auto add = [&](const IterationRun& run) {
    const IterationResult& it = run.result;
    if (timeline)
      for (const auto& [name, span] : run.phases)
        timeline->add_slice(phase_track, name, clock + span.first, clock + span.second);
    for (std::size_t c = 0; c < channels; ++c)
      link_bytes[c] += run.channel_bytes[c];
    r.flow_byte_hops += run.flow_byte_hops;
    clock += it.latency_s;
    r.iterations.push_back(it);
    if (options.iteration_done)
      options.iteration_done();
  };
  // The first alone: it writes the timeline's tasks and tells how large an iteration is.
  const std::size_t alone = options.jobs;  // 0: one thread per hardware thread, as for workers
  add(run_iteration(in, config, 0, {}, timeline, alone));
  const unsigned workers =
      serving_workers(options.jobs, config.iterations - 1, r.iterations.front().tasks);
  std::vector<net::Network> networks(workers > 1 ? workers : 0, in.network);
  for (int first = 1; first < config.iterations; first += int(workers)) {
    const int count = std::min(int(workers), config.iterations - first);
    if (count == 1) {
      add(run_iteration(in, config, first, {}, nullptr, alone));
      continue;
    }
    for (const IterationRun& run : run_together(in, config, first, count, networks))
      add(run);
  }
  double tokens = 0;
  for (const IterationResult& it : r.iterations) {
    r.mean_latency_s += it.latency_s / double(config.iterations);
    for (std::size_t s = 0; s < kStages; ++s)
      r.mean_stage_s[s] += it.stage_s[s] / double(config.iterations);
    tokens += it.tokens;
  }
  r.tokens_per_s = clock > 0 ? tokens / clock : 0;
  r.tokens_per_s_per_device = r.tokens_per_s / r.devices;
  const auto& ch = in.network.channels();
  const auto capacities = in.network.capacities();
  for (std::size_t c = 0; c < channels; ++c) {
    r.links.push_back({fmt::format("{}->{}", hw.node_name(ch[c].from), hw.node_name(ch[c].to)),
                       link_bytes[c], clock > 0 ? link_bytes[c] / (capacities[c] * clock) : 0});
    r.link_bytes += link_bytes[c];
  }
  return r;
}

nlohmann::ordered_json to_json(const ServeResult& r) {
  using nlohmann::ordered_json;
  auto stages = [](const std::array<double, kStages>& s) {
    ordered_json j;
    for (std::size_t i = 0; i < kStages; ++i)
      j[std::string(to_string(Stage(i))) + "_s"] = s[i];
    return j;
  };
  ordered_json iterations = ordered_json::array();
  for (const IterationResult& it : r.iterations)
    iterations.push_back({{"latency_s", it.latency_s},
                          {"split", stages(it.stage_s)},
                          {"memory_bound_s", it.memory_bound_s},
                          {"tokens", it.tokens},
                          {"dispatched_copies", it.dispatched_copies},
                          {"routed_slots", it.routed_slots},
                          {"peak_device_load", it.peak_device_load},
                          {"mean_device_load", it.mean_device_load},
                          {"tasks", it.tasks},
                          {"edges", it.edges}});
  ordered_json links = ordered_json::array();
  for (const LinkBytes& l : r.links)
    links.push_back({{"link", l.name}, {"bytes", l.bytes}, {"utilisation", l.utilisation}});
  return ordered_json{{"model", r.model},
                      {"hardware", r.hardware},
                      {"mapping", r.mapping},
                      {"tp", r.tp},
                      {"devices", r.devices},
                      {"trace", r.trace},
                      {"phase", to_string(r.config.phase)},
                      {"batch", r.config.batch},
                      {"context", r.config.context},
                      {"prompt", r.config.prompt},
                      {"iterations", r.config.iterations},
                      {"dispatch", to_string(r.config.dispatch)},
                      {"shadow_slots", r.config.shadow_slots},
                      {"mean_latency_s", r.mean_latency_s},
                      {"mean_split", stages(r.mean_stage_s)},
                      {"tokens_per_s", r.tokens_per_s},
                      {"tokens_per_s_per_device", r.tokens_per_s_per_device},
                      {"peak_memory_share", r.peak_memory_share},
                      {"link_bytes", r.link_bytes},
                      {"flow_byte_hops", r.flow_byte_hops},
                      {"per_iteration", iterations},
                      {"links", links}};
}

}  // namespace mozart::workload
