#include "mozart/workload/step_result.hpp"

#include <algorithm>

#include "mozart/sim/engine.hpp"

namespace mozart::workload {
namespace {

using Intervals = std::vector<std::pair<double, double>>;  // sorted, disjoint

Intervals merged(Intervals v) {
  std::sort(v.begin(), v.end());
  Intervals out;
  for (const auto& [a, b] : v) {
    if (b <= a)
      continue;
    if (!out.empty() && a <= out.back().second)
      out.back().second = std::max(out.back().second, b);
    else
      out.emplace_back(a, b);
  }
  return out;
}

double length(const Intervals& v) {
  double sum = 0;
  for (const auto& [a, b] : v)
    sum += b - a;
  return sum;
}

double overlap(const Intervals& x, const Intervals& y) {
  double sum = 0;
  std::size_t i = 0, j = 0;
  while (i < x.size() && j < y.size()) {
    const double lo = std::max(x[i].first, y[j].first);
    const double hi = std::min(x[i].second, y[j].second);
    if (hi > lo)
      sum += hi - lo;
    (x[i].second < y[j].second) ? ++i : ++j;
  }
  return sum;
}

Intervals joined(const Intervals& x, const Intervals& y) {
  Intervals all = x;
  all.insert(all.end(), y.begin(), y.end());
  return merged(std::move(all));
}

Breakdown breakdown_of(const StepPlan& plan, const sim::RunResult& run) {
  Intervals compute, memory, network;
  for (std::size_t t = 0; t < plan.info.size(); ++t) {
    const auto& timing = run.tasks[t];
    const std::pair<double, double> span{timing.start_s, timing.finish_s};
    switch (plan.info[t].activity) {
      case Activity::compute:
        compute.push_back(span);
        break;
      case Activity::memory:
        memory.push_back(span);
        break;
      case Activity::network:
        network.push_back(span);
        break;
      case Activity::barrier:
        break;
    }
  }
  compute = merged(std::move(compute));
  memory = merged(std::move(memory));
  network = merged(std::move(network));
  Breakdown b;
  b.compute_s = length(compute);
  b.memory_s = length(memory);
  b.communication_s = length(network);
  b.exposed_memory_s = b.memory_s - overlap(memory, compute);
  b.exposed_communication_s = b.communication_s - overlap(network, compute);
  const Intervals moving = joined(memory, network);
  const double moving_s = length(moving);
  b.overlap_ratio = moving_s > 0 ? overlap(moving, compute) / moving_s : 1;
  return b;
}

// Reserved activations plus the most streamed weights held at once.
std::vector<double> sram_peaks(const StepPlan& plan, const sim::RunResult& run) {
  std::vector<std::vector<std::pair<double, double>>> events(plan.sram_reserved.size());
  for (const SramHold& h : plan.holds) {
    events[static_cast<std::size_t>(h.chiplet)].emplace_back(
        run.tasks[static_cast<std::size_t>(h.from)].start_s, h.bytes);
    events[static_cast<std::size_t>(h.chiplet)].emplace_back(
        run.tasks[static_cast<std::size_t>(h.until)].finish_s, -h.bytes);
  }
  std::vector<double> peaks(plan.sram_reserved.size(), 0);
  for (std::size_t c = 0; c < events.size(); ++c) {
    auto& e = events[c];
    std::sort(e.begin(), e.end());  // at equal times releases (negative) come first
    double held = 0, peak = 0;
    for (const auto& [t, delta] : e) {
      held += delta;
      peak = std::max(peak, held);
    }
    peaks[c] = plan.sram_reserved[c] + peak;
  }
  return peaks;
}

}  // namespace

StepResult simulate_training_step(const StepInputs& inputs, const Policy& policy,
                                  const StepConfig& config, sim::Timeline* timeline) {
  const StepPlan plan = build_training_step(inputs, policy, config);
  sim::RunOptions options;
  options.timeline = timeline;
  options.channel_names = plan.platform.channel_names;
  const sim::RunResult run = sim::run(plan.graph, plan.platform.capacities, options);
  const hw::HwSpec& hw = inputs.network.hw();

  StepResult r;
  r.model = inputs.model.name;
  r.hardware = hw.name;
  r.policy = policy;
  r.config = config;
  r.step_s = run.makespan_s;
  r.breakdown = breakdown_of(plan, run);
  r.tokens = plan.tokens;
  r.routed_slots = plan.routed_slots;
  r.copies_per_token =
      plan.dispatched_tokens > 0 ? plan.dispatched_copies / plan.dispatched_tokens : 0;
  r.flops = plan.flops;
  r.tasks = plan.graph.tasks().size();
  r.events = run.events;

  // Chiplets: busy time, FLOPs, compute energy, SRAM.
  const auto peaks = sram_peaks(plan, run);
  double peak_flops = 0;
  for (std::size_t c = 0; c < hw.chiplets.size(); ++c) {
    const hw::ChipletKind& kind = hw.kinds[static_cast<std::size_t>(hw.chiplets[c].kind)];
    ChipletUse u;
    u.name = hw.chiplets[c].name;
    u.busy_s = run.resource_busy_s[c];
    u.utilisation = r.step_s > 0 ? u.busy_s / r.step_s : 0;
    u.sram_capacity = kind.sram.bytes;
    u.sram_reserved = plan.sram_reserved[c];
    u.sram_peak = peaks[c];
    r.chiplets.push_back(u);
    peak_flops += kind.peak(inputs.model.dtype);
    r.lower_bound.compute_s = std::max(r.lower_bound.compute_s, u.busy_s);
  }
  for (std::size_t t = 0; t < plan.info.size(); ++t) {
    const TaskInfo& info = plan.info[t];
    if (info.chiplet < 0)
      continue;
    const hw::ChipletKind& kind = hw.kinds[static_cast<std::size_t>(
        hw.chiplets[static_cast<std::size_t>(info.chiplet)].kind)];
    const double sram_bits = 8 * (info.sram_bytes + total_bytes(info.bytes));
    r.energy.compute_j += info.flops * kind.energy_per_flop_j;
    r.energy.sram_j += sram_bits * kind.sram.energy_per_bit_j;
    r.chiplets[static_cast<std::size_t>(info.chiplet)].flops += info.flops;
    for (std::size_t k = 0; k < kTrafficKinds; ++k)
      r.memory_bytes[k] += info.bytes[k];
  }

  // Memory stacks and SRAM ports, then the network's channels.
  const auto& channels = run.channels;
  const auto& caps = plan.platform.capacities;
  double memory_bandwidth = 0;
  for (std::size_t s = 0; s < hw.memories.size(); ++s) {
    const hw::MemoryStack& m = hw.memories[s];
    const auto ch = static_cast<std::size_t>(plan.platform.memory_channel(static_cast<int>(s)));
    StackUse u;
    u.name = m.name;
    u.kind = std::string(hw::to_string(m.kind));
    u.capacity = m.bytes;
    u.weights = plan.memory_weights[s];
    u.needed = plan.memory_needed[s];
    u.bytes = channels[ch].bytes;
    u.utilisation = r.step_s > 0 ? u.bytes / (caps[ch] * r.step_s) : 0;
    r.memory_fits = r.memory_fits && u.needed <= u.capacity;
    r.energy.memory_j += 8 * u.bytes * m.energy_per_bit_j;
    r.lower_bound.memory_s = std::max(r.lower_bound.memory_s, u.bytes / caps[ch]);
    memory_bandwidth += caps[ch];
    r.stacks.push_back(u);
  }
  for (std::size_t c = 0; c < hw.chiplets.size(); ++c) {
    const auto ch = static_cast<std::size_t>(plan.platform.sram_channel(static_cast<int>(c)));
    r.lower_bound.memory_s = std::max(r.lower_bound.memory_s, channels[ch].bytes / caps[ch]);
  }
  // Port links of stacks that hang off the network: memory traffic, on a link of its own.
  for (std::size_t s = 0; s < hw.memories.size(); ++s) {
    const auto& [out, back] = plan.platform.port_channels[s];
    for (const net::ChannelId id : {out, back}) {
      if (id < 0)
        continue;
      const auto ch = static_cast<std::size_t>(id);
      r.energy.network_j += 8 * channels[ch].bytes * hw.memories[s].port->energy_per_bit_j;
      r.lower_bound.memory_s = std::max(r.lower_bound.memory_s, channels[ch].bytes / caps[ch]);
    }
  }
  const auto& net_channels = inputs.network.channels();
  for (std::size_t ch = 0; ch < net_channels.size(); ++ch) {
    LinkUse u;
    u.name = plan.platform.channel_names[ch];
    u.bytes = channels[ch].bytes;
    u.utilisation = r.step_s > 0 ? u.bytes / (caps[ch] * r.step_s) : 0;
    r.network_bytes += u.bytes;
    r.energy.network_j += 8 * u.bytes * net_channels[ch].energy_per_bit_j;
    r.lower_bound.network_s = std::max(r.lower_bound.network_s, u.bytes / caps[ch]);
    r.links.push_back(u);
  }

  LowerBound& lb = r.lower_bound;
  lb.bound_s = std::max({lb.compute_s, lb.memory_s, lb.network_s});
  lb.binding = lb.bound_s == lb.compute_s  ? "compute"
               : lb.bound_s == lb.memory_s ? "memory"
                                           : "network";
  if (r.step_s > 0) {
    r.s_mfu = r.flops / (r.step_s * peak_flops);
    const double needed = r.memory_bytes[std::size_t(Traffic::weights)] +
                          r.memory_bytes[std::size_t(Traffic::gradients)] +
                          r.memory_bytes[std::size_t(Traffic::optimizer_states)];
    r.s_mbu = memory_bandwidth > 0 ? needed / (r.step_s * memory_bandwidth) : 0;
  }
  return r;
}

nlohmann::ordered_json to_json(const StepResult& r) {
  using nlohmann::ordered_json;
  const auto& b = r.breakdown;
  const auto& lb = r.lower_bound;
  ordered_json out;
  out["model"] = r.model;
  out["hardware"] = r.hardware;
  out["policy"] = {{"name", r.policy.name}, {"options", describe(r.policy)}};
  out["batch"] = {{"micro_batches", r.config.micro_batches},
                  {"sequences_per_micro_batch", r.config.micro_batch.sequences},
                  {"sequence_length", r.config.micro_batch.seq_len},
                  {"tokens", r.tokens},
                  {"first_token", r.config.first_token},
                  {"optimizer", r.config.optimizer ? "adam" : "none"}};
  out["step_s"] = r.step_s;
  out["tokens_per_s"] = r.step_s > 0 ? r.tokens / r.step_s : 0;
  out["breakdown"] = {{"compute_s", b.compute_s},
                      {"memory_s", b.memory_s},
                      {"communication_s", b.communication_s},
                      {"exposed_memory_s", b.exposed_memory_s},
                      {"exposed_communication_s", b.exposed_communication_s},
                      {"overlap_ratio", b.overlap_ratio}};
  out["lower_bound"] = {
      {"compute_s", lb.compute_s}, {"memory_s", lb.memory_s},
      {"network_s", lb.network_s}, {"bound_s", lb.bound_s},
      {"binding", lb.binding},     {"step_over_bound", lb.bound_s > 0 ? r.step_s / lb.bound_s : 0}};
  out["copies_per_token"] = r.copies_per_token;
  out["routed_slots"] = r.routed_slots;
  out["flops"] = r.flops;
  out["s_mfu"] = r.s_mfu;
  out["s_mbu"] = r.s_mbu;
  out["memory_bytes"] = {{"weights", r.memory_bytes[0]},
                         {"gradients", r.memory_bytes[1]},
                         {"optimizer_states", r.memory_bytes[2]},
                         {"activations", r.memory_bytes[3]}};
  out["network_bytes"] = r.network_bytes;
  out["energy_j"] = {{"compute", r.energy.compute_j},
                     {"sram", r.energy.sram_j},
                     {"memory", r.energy.memory_j},
                     {"network", r.energy.network_j},
                     {"total", r.energy.total_j()}};
  out["memory_fits"] = r.memory_fits;
  ordered_json chiplets = ordered_json::array();
  for (const auto& c : r.chiplets)
    chiplets.push_back({{"name", c.name},
                        {"busy_s", c.busy_s},
                        {"utilisation", c.utilisation},
                        {"flops", c.flops},
                        {"sram_capacity", c.sram_capacity},
                        {"sram_reserved", c.sram_reserved},
                        {"sram_peak", c.sram_peak}});
  out["chiplets"] = chiplets;
  ordered_json stacks = ordered_json::array();
  for (const auto& s : r.stacks)
    stacks.push_back({{"name", s.name},
                      {"kind", s.kind},
                      {"capacity", s.capacity},
                      {"weights", s.weights},
                      {"needed", s.needed},
                      {"fits", s.needed <= s.capacity},
                      {"bytes", s.bytes},
                      {"utilisation", s.utilisation}});
  out["memory_stacks"] = stacks;
  ordered_json links = ordered_json::array();
  for (const auto& l : r.links)
    links.push_back({{"name", l.name}, {"bytes", l.bytes}, {"utilisation", l.utilisation}});
  out["links"] = links;
  out["tasks"] = r.tasks;
  out["events"] = r.events;
  return out;
}

}  // namespace mozart::workload
