// The step's tasks: memory transfers, computes, works streamed through SRAM, collectives.
#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>
#include <stdexcept>

#include <fmt/format.h>

#include "mozart/workload/step_builder.hpp"

namespace mozart::workload::detail {
namespace {

// The ends of a planned network flow, from its channels: senders are the nodes it leaves and
// never enters, receivers the nodes it enters and never leaves.
struct Ends {
  std::vector<int> senders, receivers;
};

Ends ends_of(const net::Network& network, std::span<const net::ChannelUse> uses) {
  std::set<int> from, to;
  for (const net::ChannelUse& u : uses) {
    const net::Channel& c = network.channels()[static_cast<std::size_t>(u.channel)];
    if (c.kind != net::ChannelKind::link)  // a chiplet's own port: neither enters nor leaves it
      continue;
    from.insert(c.from);
    to.insert(c.to);
  }
  Ends ends;
  std::set_difference(from.begin(), from.end(), to.begin(), to.end(),
                      std::back_inserter(ends.senders));
  std::set_difference(to.begin(), to.end(), from.begin(), from.end(),
                      std::back_inserter(ends.receivers));
  return ends;
}

}  // namespace

TaskId StepBuilder::note(TaskId id, TaskInfo info) {
  if (plan_.info.size() <= static_cast<std::size_t>(id))
    plan_.info.resize(static_cast<std::size_t>(id) + 1);
  info.optimizer_phase = optimizer_phase_;
  plan_.info[static_cast<std::size_t>(id)] = info;
  return id;
}

TaskId StepBuilder::barrier(std::string_view name, Deps deps) {
  return note(plan_.graph.add_delay(name, 0, deps), {});
}

Deps StepBuilder::joined(std::string_view name, Deps deps) {
  if (deps.size() <= 1)
    return deps;
  return {barrier(name, std::move(deps))};
}

TaskId StepBuilder::transfer(std::string_view name, int chiplet, const Bytes& bytes,
                             sim::Direction direction, std::span<const TaskId> deps) {
  if (total_bytes(bytes) <= 0)
    return barrier(name, Deps(deps.begin(), deps.end()));
  TaskInfo info;
  info.activity = Activity::memory;
  info.chiplet = chiplet;
  info.bytes = bytes;
  auto& striped =
      memory_flow_[static_cast<std::size_t>(chiplet)][direction == sim::Direction::to_sram ? 0 : 1];
  if (striped.uses.empty())
    striped = sim::striped_transfer(
        net_, plan_.platform, stacks_[static_cast<std::size_t>(chiplet)], chiplet, 0, direction);
  striped.bytes = total_bytes(bytes);  // the graph copies the spec (and shares its route)
  return note(plan_.graph.add_flow(name, striped, deps), info);
}

TaskId StepBuilder::compute(std::string_view name, int chiplet, const OpSum& work,
                            std::span<const TaskId> deps) {
  TaskInfo info;
  info.activity = Activity::compute;
  info.chiplet = chiplet;
  info.flops = work.flops;
  info.sram_bytes = work.sram_bytes;
  plan_.flops += work.flops;
  if (exclusive_a2a() && last_a2a_ >= 0) {
    with_a2a_.assign(deps.begin(), deps.end());
    with_a2a_.push_back(last_a2a_);
    deps = with_a2a_;
  }
  const TaskId id = note(plan_.graph.add_compute(name, chiplet, work.seconds, deps), info);
  if (exclusive_a2a())
    computes_before_a2a_.push_back(id);
  return id;
}

void StepBuilder::close_a2a_phase(const Deps& flows, Deps gate) {
  append(gate, flows);
  last_a2a_ = barrier("all-to-all phase done", std::move(gate));
  computes_before_a2a_.clear();
}

Deps StepBuilder::a2a_gate() const {
  Deps gate = computes_before_a2a_;
  if (last_a2a_ >= 0)
    gate.push_back(last_a2a_);
  return gate;
}

Ran StepBuilder::run(const Work& w, const Deps& gate, const Deps& compute_deps) {
  const int c = w.chiplet;
  SramWindow& window = windows_[static_cast<std::size_t>(c)];
  const int pieces = std::max(1, int(std::ceil(w.hold / (window.capacity() / 2))));
  const double f = 1.0 / pieces;
  Ran ran;
  std::string name;  // the piece's name, then its load's and write's (one buffer for all)
  for (int p = 0; p < pieces; ++p) {
    name.assign(w.name);
    if (pieces > 1)
      fmt::format_to(std::back_inserter(name), " [{}/{}]", p + 1, pieces);
    const std::size_t stem = name.size();
    Deps& load_deps = load_deps_;
    load_deps.assign(gate.begin(), gate.end());
    window.admit(w.hold * f, load_deps);
    if (last_load_[c] >= 0)
      load_deps.push_back(last_load_[c]);
    if (!policy_.overlap && tail_[c] >= 0)
      load_deps.push_back(tail_[c]);
    const std::span<const TaskId> read_after = same_bytes(w.read_after, p, pieces);
    load_deps.insert(load_deps.end(), read_after.begin(), read_after.end());
    name += " load";
    const TaskId load = transfer(name, c, scaled(w.load, f), sim::Direction::to_sram, load_deps);
    name.resize(stem);
    if (!read_after.empty())
      plan_.gradient_reads.push_back({load, Deps(read_after.begin(), read_after.end())});
    last_load_[c] = load;
    Deps& deps = compute_deps_;
    deps.assign(compute_deps.begin(), compute_deps.end());
    deps.push_back(load);
    if (!ran.computes.empty())
      deps.push_back(ran.computes.back());
    const TaskId done = compute(name, c, scaled(w.compute, f), deps);
    TaskId release = done;
    if (total_bytes(w.write) > 0) {
      name += " write";
      release = transfer(name, c, scaled(w.write, f), sim::Direction::to_memory, {&done, 1});
      ran.writes.push_back(release);
    }
    window.hold(w.hold * f, release);
    plan_.holds.push_back({c, w.hold * f, load, release});
    tail_[c] = release;
    ran.computes.push_back(done);
  }
  return ran;
}

std::span<const TaskId> StepBuilder::same_bytes(const Deps& pieces, int p, int of) {
  const std::size_t q = pieces.size();
  const std::size_t from = q * std::size_t(p) / std::size_t(of);
  const std::size_t to = (q * std::size_t(p + 1) + std::size_t(of) - 1) / std::size_t(of);
  return std::span<const TaskId>(pieces).subspan(from, to - from);
}

template <typename AddFlow, typename Uses>
StepBuilder::Exchange StepBuilder::exchange_flows(std::size_t count, AddFlow&& add_flow,
                                                  Uses&& uses, const std::map<int, Deps>& ready_of,
                                                  const Deps& all, bool all_to_all) {
  Exchange ex;
  const bool exclusive = all_to_all && exclusive_a2a();
  const Deps gate = exclusive ? a2a_gate() : Deps{};
  // A synchronous phase's flows all wait for the same tasks: one barrier stands for them, so
  // the graph holds producers + flows edges rather than their product.
  Deps start;
  if (!policy_.overlap_a2a && count > 0) {
    Deps before = all;
    append(before, gate);
    start = {barrier("all-to-all phase start", std::move(before))};
  }
  ex.added.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    // Only flows that start on their own need their ends (senders and receivers).
    const Ends ends = policy_.overlap_a2a ? ends_of(net_, uses(i)) : Ends{};
    Deps deps = start;
    if (policy_.overlap_a2a) {
      for (const int s : ends.senders)
        if (const auto it = ready_of.find(s); it != ready_of.end())
          append(deps, it->second);
      append(deps, gate);
    }
    TaskInfo info;
    info.activity = Activity::network;
    const TaskId id = note(add_flow(i, std::move(deps), ex.added), info);
    ex.added.push_back(id);
    for (const int r : ends.receivers)
      ex.into[r].push_back(id);
  }
  ex.flows = ex.added;
  if (exclusive)
    close_a2a_phase(ex.flows, gate);
  // Whoever waits for a whole phase waits for all of it: one barrier stands for its flows, so
  // consumers x flows edges become consumers + flows (under overlap-a2a, each receiver's own
  // flows stay in `into`).
  if (ex.flows.size() > 1)
    ex.flows = {exclusive ? last_a2a_ : barrier("all-to-all phase done", ex.flows)};
  return ex;
}

StepBuilder::Exchange StepBuilder::exchange(const net::CollectivePlan& plan,
                                            const std::map<int, Deps>& ready_of, const Deps& all,
                                            bool all_to_all) {
  const auto& flows = plan.flows;
  return exchange_flows(
      flows.size(),
      [&](std::size_t i, Deps deps, const Deps& added) {
        for (const int after : flows[i].after)
          deps.push_back(added[static_cast<std::size_t>(after)]);
        return plan_.graph.add_flow(flows[i].label, flows[i].spec, deps);
      },
      [&](std::size_t i) { return std::span<const net::ChannelUse>(flows[i].spec.uses); }, ready_of,
      all, all_to_all);
}

const net::CollectivePlan& StepBuilder::independent(const net::CollectivePlan& plan) {
  for (const net::PlannedFlow& f : plan.flows)
    if (!f.after.empty())
      throw std::logic_error("dispatch or combine flow '" + f.label + "' waits for another");
  return plan;
}

StepBuilder::Exchange StepBuilder::exchange_again(const Deps& flows,
                                                  const std::map<int, Deps>& ready_of,
                                                  const Deps& all, bool all_to_all,
                                                  const std::vector<std::vector<int>>* after) {
  return exchange_flows(
      flows.size(),
      [&](std::size_t i, Deps deps, const Deps& added) {
        if (after != nullptr)
          for (const int a : (*after)[i])
            deps.push_back(added[static_cast<std::size_t>(a)]);
        return plan_.graph.add_flow_like(flows[i], deps);
      },
      [&](std::size_t i) { return plan_.graph.flow(flows[i]).uses; }, ready_of, all, all_to_all);
}

}  // namespace mozart::workload::detail
