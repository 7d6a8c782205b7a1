#include "mozart/study/balanced_serving.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "mozart/core/units.hpp"
#include "mozart/model/params.hpp"
#include "mozart/net/fluid.hpp"

namespace mozart::study {
namespace {

using workload::Stage;

std::vector<std::vector<int>> slot_hops(const net::Network& net, const std::vector<int>& device) {
  const std::size_t n = device.size();
  std::vector<std::vector<int>> out(n, std::vector<int>(n, 0));
  for (std::size_t a = 0; a < n; ++a)
    for (std::size_t b = 0; b < n; ++b)
      if (a != b)
        out[a][b] = int(net.hops(device[a], device[b]));
  return out;
}

bool same_ftd(const mapping::Mapping& map, int a, int b) {
  return map.ftd_of[std::size_t(a)] >= 0 &&
         map.ftd_of[std::size_t(a)] == map.ftd_of[std::size_t(b)];
}

// The steps of one copy between devices: across FTDs to the member of the target's FTD nearest
// the source, then inside it to the target (one step when source and target share an FTD, or
// when the mapping has no disjoint FTDs).
void add_steps(const workload::ServeInputs& in, int from, int to, double bytes, const Rides& rides,
               const std::string& name, std::vector<workload::SideFlow>& side) {
  const mapping::Mapping& map = in.mapping;
  const net::Network& net = in.network;
  const int ftd = map.ftd_of[std::size_t(to)];
  if (ftd < 0 || same_ftd(map, from, to)) {
    side.push_back(
        {name, net.unicast(net.route(from, to), bytes), ftd < 0 ? rides.global : rides.local, -1});
    return;
  }
  int entry = to;
  for (int d : map.ftds[std::size_t(ftd)])
    if (net.hops(from, d) < net.hops(from, entry))
      entry = d;
  side.push_back({name + ".global", net.unicast(net.route(from, entry), bytes), rides.global, -1});
  if (entry != to)
    side.push_back({name + ".local", net.unicast(net.route(entry, to), bytes), rides.local,
                    int(side.size()) - 1});
}

struct Pending {
  int layer, expert, slot;
  double ready_s;  // when its last byte arrives, on the run's clock
};

// The target placement without the replicas whose bytes have not all arrived by `now`.
placement::Placement serving_now(placement::Placement target, const std::vector<Pending>& pending,
                                 double now) {
  for (const Pending& p : pending) {
    if (p.ready_s <= now)
      continue;
    auto& holders = target.layers[std::size_t(p.layer)].chiplets_of[std::size_t(p.expert)];
    auto it = std::find(holders.begin(), holders.end(), p.slot);
    if (it != holders.end() && holders.size() > 1)
      holders.erase(it);
  }
  return target;
}

}  // namespace

std::vector<std::vector<double>> routed_loads(const workload::ServeInputs& in,
                                              const workload::ServeConfig& config, int i) {
  const trace::Trace& t = in.trace;
  const std::size_t per = workload::tokens_per_iteration(config, in.mapping.group_count());
  std::vector<std::vector<double>> out(std::size_t(t.layers()),
                                       std::vector<double>(std::size_t(t.num_experts()), 0.0));
  for (int l = 0; l < t.layers(); ++l)
    for (std::size_t k = std::size_t(i) * per; k < std::size_t(i + 1) * per; ++k)
      for (trace::ExpertId e : t.choices(l, k))
        out[std::size_t(l)][std::size_t(e)] += 1;
  return out;
}

Rides derive_rides(const workload::ServeInputs& in, const workload::ServeConfig& config) {
  workload::ServeConfig one = config;
  one.moe_only = false;
  const workload::IterationRun run = workload::run_iteration(in, one, 0);
  const auto& channels = in.network.channels();
  const auto capacity = in.network.capacities();
  const int nodes = int(in.mapping.ftd_of.size());
  Rides r;
  for (std::size_t s = 0; s < workload::kStages; ++s) {
    const double time = run.result.stage_s[s];
    double bytes[2] = {0, 0}, room[2] = {0, 0};
    for (std::size_t c = 0; c < channels.size(); ++c) {
      const int a = channels[c].from, b = channels[c].to;
      if (channels[c].kind != net::ChannelKind::link || a >= nodes || b >= nodes)
        continue;  // only links between devices
      const int k = same_ftd(in.mapping, a, b) ? 0 : 1;
      bytes[k] += run.stage_channel_bytes[s][c];
      room[k] += capacity[c] * time;
    }
    r.local_load[s] = room[0] > 0 ? bytes[0] / room[0] : 0;
    r.global_load[s] = room[1] > 0 ? bytes[1] / room[1] : 0;
  }
  // The coldest stage for each class; ties go to the longer phase (more time to ride).
  const auto coldest = [&](const std::array<double, workload::kStages>& load) {
    std::size_t best = 0;
    for (std::size_t s = 1; s < workload::kStages; ++s)
      if (load[s] < load[best] ||
          (load[s] == load[best] && run.result.stage_s[s] > run.result.stage_s[best]))
        best = s;
    return Stage(best);
  };
  r.local = coldest(r.local_load);
  r.global = coldest(r.global_load);
  return r;
}

BalancedRun serve_balanced(const workload::ServeInputs& in, const workload::ServeConfig& config,
                           const std::string& name, const balance::BalancerOptions& options,
                           const Rides& rides, const std::string& command,
                           const std::function<void(int)>& iteration_done) {
  const auto balancer = balance::make_balancer(name, options, command + " --balancer");
  balance::check_options(options, config.iterations, command);
  workload::check_serving_inputs(in, config);
  workload::check_serving_memory(in, config);
  const std::vector<int> device = workload::devices_of_slots(in);
  const auto hops = slot_hops(in.network, device);
  const int slots = in.placement.layout.slots + config.shadow_slots;
  const double expert_bytes =
      double(model::routed_expert_params(in.model)) * core::bytes_per_element(in.model.dtype);
  BalancedRun out;
  out.balancer = name;
  placement::Placement target = in.placement;
  std::vector<Pending> pending;
  std::vector<std::vector<std::vector<double>>> history;
  for (int i = 0; i < config.iterations; ++i) {
    BalancedIteration it;
    const balance::View view{i, target.layers, history, hops, slots};
    balance::Decision decision = balancer->decide(view);
    std::vector<workload::SideFlow> side;
    std::vector<std::size_t> last_step;  // per copy: its last side flow
    if (!decision.layers.empty()) {
      target.layers = std::move(decision.layers);
      it.copies = int(decision.copies.size());
      out.copies += it.copies;
      out.copied_bytes += it.copies * expert_bytes;
      if (balancer->invasive()) {
        std::vector<std::pair<int, int>> pairs;
        for (const balance::Copy& c : decision.copies)
          pairs.push_back({device[std::size_t(c.from)], device[std::size_t(c.to)]});
        it.stall_s = workload::idle_transfer_s(in.network, pairs, expert_bytes);
      } else {
        for (const balance::Copy& c : decision.copies) {
          add_steps(in, device[std::size_t(c.from)], device[std::size_t(c.to)], expert_bytes, rides,
                    fmt::format("copy.L{}.e{}", c.layer, c.expert), side);
          last_step.push_back(side.size() - 1);
          pending.push_back({c.layer, c.expert, c.to, net::kNever});
        }
      }
    }
    out.clock_s += it.stall_s;
    const placement::Placement now = serving_now(target, pending, out.clock_s);
    const workload::ServeInputs inputs{in.model, in.network, in.mapping,
                                       now,      in.trace,   in.trace_source};
    const workload::IterationRun run = workload::run_iteration(inputs, config, i, side);
    for (std::size_t k = 0; k < last_step.size(); ++k) {
      const double finish = run.side_finish_s[last_step[k]];
      pending[pending.size() - last_step.size() + k].ready_s = out.clock_s + finish;
      it.late += finish > run.result.latency_s ? 1 : 0;
    }
    it.result = run.result;
    out.clock_s += run.result.latency_s;
    out.stall_s += it.stall_s;
    out.late += it.late;
    std::erase_if(pending, [&](const Pending& p) { return p.ready_s <= out.clock_s; });
    history.push_back(routed_loads(in, config, i));
    out.iterations.push_back(std::move(it));
    if (iteration_done)
      iteration_done(i);
  }
  return out;
}

}  // namespace mozart::study
