#include "mozart/workload/step_result.hpp"

#include <algorithm>

#include "mozart/core/units.hpp"
#include "mozart/hw/cost.hpp"
#include "mozart/sim/engine.hpp"

namespace mozart::workload {
namespace {

using Intervals = std::vector<std::pair<double, double>>;  // sorted, disjoint

bool by_start(const std::pair<double, double>& a, const std::pair<double, double>& b) {
  return a.first < b.first;
}

// The union of `v` as sorted, disjoint intervals. Intervals already in order of their starts (a
// run's, read in start order) need no sort: the union does not depend on the order of ties.
Intervals merged(Intervals v) {
  if (!std::is_sorted(v.begin(), v.end(), by_start))
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
  Intervals all(x.size() + y.size());
  std::merge(x.begin(), x.end(), y.begin(), y.end(), all.begin(), by_start);
  return merged(std::move(all));
}

Breakdown breakdown_of(const StepPlan& plan, const sim::RunResult& run) {
  Intervals compute, memory, network;
  for (const sim::TaskId id : run.started) {  // in start order
    const auto t = static_cast<std::size_t>(id);
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
  b.memory_without_compute_s = b.memory_s - overlap(memory, compute);
  b.communication_without_compute_s = b.communication_s - overlap(network, compute);
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

// What one phase of the step asks of each resource.
struct PhaseLoad {
  std::vector<double> engine_s;       // per compute engine
  std::vector<double> channel_bytes;  // per channel, each byte weighted by its coefficient
};

struct PhaseBound {
  double compute_s = 0, memory_s = 0, network_s = 0;
  double bound() const { return std::max({compute_s, memory_s, network_s}); }
  std::string binding() const {
    return bound() == compute_s ? "compute" : bound() == memory_s ? "memory" : "network";
  }
};

PhaseBound bound_of(const PhaseLoad& load, const sim::Platform& platform,
                    const std::vector<double>& capacities) {
  PhaseBound b;
  for (const double s : load.engine_s)
    b.compute_s = std::max(b.compute_s, s);
  for (std::size_t ch = 0; ch < load.channel_bytes.size(); ++ch) {
    if (capacities[ch] <= 0)
      continue;
    const double s = load.channel_bytes[ch] / capacities[ch];
    double& kind = ch < std::size_t(platform.first_memory) ? b.network_s : b.memory_s;
    kind = std::max(kind, s);
  }
  return b;
}

// Far beyond any channel's need: what remains of a transfer's time is a millionth of it.
constexpr double kFree = 1e6;

LowerBound lower_bound(const StepPlan& plan, const sim::TaskGraph& graph,
                       const std::vector<double>& capacities, bool compute_free);

// `dependents`: the step's graph's. `compute_free`: the step with compute taking no time.
Ideal ideal(const StepPlan& plan, const std::vector<double>& capacities, double step_s,
            const sim::Dependents& dependents, bool compute_free = false) {
  Ideal i;
  sim::RunOptions options;
  options.dependents = &dependents;
  options.compute_free = compute_free;
  i.step_s = sim::run(plan.graph, capacities, options).makespan_s;
  i.lost_s = step_s - i.step_s;
  i.bound = lower_bound(plan, plan.graph, capacities, compute_free);
  return i;
}

Losses losses_of(const StepPlan& plan, const std::vector<double>& capacities, double step_s,
                 const sim::Dependents& dependents) {
  const auto& caps = capacities;
  const auto network_end = static_cast<std::size_t>(plan.platform.first_memory);
  std::vector<double> free_links = caps, free_memory = caps;
  for (std::size_t ch = 0; ch < caps.size(); ++ch)
    (ch < network_end ? free_links : free_memory)[ch] *= kFree;
  Losses l;
  l.measured = true;
  l.communication = ideal(plan, free_links, step_s, dependents);
  l.memory = ideal(plan, free_memory, step_s, dependents);
  l.compute = ideal(plan, caps, step_s, dependents, true);
  return l;
}

LowerBound lower_bound(const StepPlan& plan, const sim::TaskGraph& graph,
                       const std::vector<double>& capacities, bool compute_free) {
  std::array<PhaseLoad, 2> phases;  // before the optimizer's barrier, and after it
  for (PhaseLoad& p : phases) {
    p.engine_s.assign(graph.resources().size(), 0);
    p.channel_bytes.assign(capacities.size(), 0);
  }
  for (std::size_t t = 0; t < graph.size(); ++t) {
    const auto id = static_cast<sim::TaskId>(t);
    PhaseLoad& p = phases[plan.info[t].optimizer_phase ? 1 : 0];
    if (graph.kind(id) == sim::TaskKind::compute) {
      if (!compute_free)
        p.engine_s[static_cast<std::size_t>(graph.resource(id))] += graph.duration_s(id);
    } else if (graph.kind(id) == sim::TaskKind::flow) {
      const sim::FlowView flow = graph.flow(id);
      for (const net::ChannelUse& u : flow.uses)
        p.channel_bytes[static_cast<std::size_t>(u.channel)] += flow.bytes * u.coefficient;
    }
  }
  PhaseLoad whole = phases[0];
  for (std::size_t e = 0; e < whole.engine_s.size(); ++e)
    whole.engine_s[e] += phases[1].engine_s[e];
  for (std::size_t ch = 0; ch < whole.channel_bytes.size(); ++ch)
    whole.channel_bytes[ch] += phases[1].channel_bytes[ch];
  const PhaseBound all = bound_of(whole, plan.platform, capacities);
  const PhaseBound before = bound_of(phases[0], plan.platform, capacities);
  LowerBound lb;
  lb.compute_s = all.compute_s;
  lb.memory_s = all.memory_s;
  lb.network_s = all.network_s;
  lb.before_optimizer_s = before.bound();
  lb.optimizer_s = bound_of(phases[1], plan.platform, capacities).bound();
  lb.bound_s = lb.before_optimizer_s + lb.optimizer_s;
  lb.binding = before.binding();
  return lb;
}

}  // namespace

LowerBound lower_bound_of(const StepPlan& plan, const sim::TaskGraph& graph,
                          const std::vector<double>& capacities) {
  return lower_bound(plan, graph, capacities, false);
}

StepResult simulate_training_step(const StepInputs& inputs, const Policy& policy,
                                  const StepConfig& config, const StepOptions& step_options) {
  const StepPlan plan = build_training_step(inputs, policy, config);
  return measure_training_step(inputs, policy, config, plan, plan.platform.capacities,
                               step_options);
}

StepResult measure_training_step(const StepInputs& inputs, const Policy& policy,
                                 const StepConfig& config, const StepPlan& plan,
                                 const std::vector<double>& capacities,
                                 const StepOptions& step_options) {
  sim::RunOptions options;
  options.timeline = step_options.timeline;
  options.channel_names = plan.platform.channel_names;
  // Shared by the re-simulations (and by a caller's other measurements of the plan).
  const sim::Dependents own = step_options.dependents ? sim::Dependents{} : plan.graph.dependents();
  const sim::Dependents& dependents = step_options.dependents ? *step_options.dependents : own;
  options.dependents = &dependents;
  const sim::RunResult run = sim::run(plan.graph, capacities, options);
  const hw::HwSpec& hw = inputs.network.hw();

  StepResult r;
  r.model = inputs.model.name;
  r.hardware = hw.name;
  r.policy = policy;
  r.config = config;
  r.step_s = run.makespan_s;
  r.energy.static_j = hw::static_power_w(hw) * r.step_s;
  r.breakdown = breakdown_of(plan, run);
  if (step_options.resimulate)
    r.lost = losses_of(plan, capacities, r.step_s, dependents);
  r.lower_bound = lower_bound_of(plan, plan.graph, capacities);
  r.priors = plan.priors;
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
  const auto& caps = capacities;
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
    memory_bandwidth += caps[ch];
    r.stacks.push_back(u);
  }
  // Port links of stacks that hang off the network carry memory traffic on links of their own.
  for (std::size_t s = 0; s < hw.memories.size(); ++s) {
    const auto& [out, back] = plan.platform.port_channels[s];
    for (const net::ChannelId id : {out, back})
      if (id >= 0)
        r.energy.network_j += 8 * channels[static_cast<std::size_t>(id)].bytes *
                              hw.memories[s].port->energy_per_bit_j;
  }
  const auto& net_channels = inputs.network.channels();
  for (std::size_t ch = 0; ch < net_channels.size(); ++ch) {
    LinkUse u;
    u.name = plan.platform.channel_names[ch];
    u.bytes = channels[ch].bytes;
    u.utilisation = r.step_s > 0 ? u.bytes / (caps[ch] * r.step_s) : 0;
    r.network_bytes += u.bytes;
    r.energy.network_j += 8 * u.bytes * net_channels[ch].energy_per_bit_j;
    r.links.push_back(u);
  }

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
                  {"optimizer", r.config.optimizer ? "adam" : "none"},
                  {"optimizer_schedule", to_string(r.config.optimizer_schedule)},
                  {"gradient_precision", core::to_string(r.config.gradient_type)}};
  out["priors"] = r.priors;
  out["step_s"] = r.step_s;
  out["tokens_per_s"] = r.step_s > 0 ? r.tokens / r.step_s : 0;
  out["breakdown"] = {{"compute_s", b.compute_s},
                      {"memory_s", b.memory_s},
                      {"communication_s", b.communication_s},
                      {"memory_without_compute_s", b.memory_without_compute_s},
                      {"communication_without_compute_s", b.communication_without_compute_s},
                      {"overlap_ratio", b.overlap_ratio}};
  if (r.lost.measured) {
    const auto ideal = [](const Ideal& i) {
      return ordered_json{{"lost_s", i.lost_s},
                          {"step_s", i.step_s},
                          {"bound_s", i.bound.bound_s},
                          {"binding", i.bound.binding}};
    };
    out["lost_to"] = {{"communication", ideal(r.lost.communication)},
                      {"memory", ideal(r.lost.memory)},
                      {"compute", ideal(r.lost.compute)}};
  }
  out["lower_bound"] = {{"compute_s", lb.compute_s},
                        {"memory_s", lb.memory_s},
                        {"network_s", lb.network_s},
                        {"before_optimizer_s", lb.before_optimizer_s},
                        {"optimizer_s", lb.optimizer_s},
                        {"bound_s", lb.bound_s},
                        {"binding", lb.binding},
                        {"step_over_bound", lb.bound_s > 0 ? r.step_s / lb.bound_s : 0}};
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
  out["energy_j"] = {{"compute", r.energy.compute_j}, {"sram", r.energy.sram_j},
                     {"memory", r.energy.memory_j},   {"network", r.energy.network_j},
                     {"static", r.energy.static_j},   {"total", r.energy.total_j()}};
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
