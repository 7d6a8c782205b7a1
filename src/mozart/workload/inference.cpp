#include "mozart/workload/inference.hpp"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/core/units.hpp"
#include "mozart/model/cost.hpp"
#include "mozart/model/params.hpp"
#include "mozart/workload/op_timing.hpp"

namespace mozart::workload {
namespace {

constexpr double kSoftmaxFlops = 5;  // per score, as the cost model counts it

using sim::TaskId;
using Deps = std::vector<TaskId>;

// One op's share on one of `tp` devices that split it evenly (a GEMM by its output columns).
model::OpCost shard(model::OpCost op, int tp) {
  const double f = 1.0 / tp;
  op.flops *= f;
  op.weight_bytes *= f;
  op.input_bytes *= f;
  op.output_bytes *= f;
  op.elements *= f;
  if (op.gemm)
    op.gemm->n = std::max<int64_t>(1, (op.gemm->n + tp - 1) / tp);
  return op;
}

// Decode's mixer core of layer `layer` for `sequences` queries, each with `context` tokens
// before it: softmax attention reads the cached keys and values of the context (of the window,
// for a sliding layer) and scores them; MLA decodes with the up-projections absorbed, against the
// latent. A linear-attention or Mamba layer reads its fixed recurrent state and updates it
// (about four operations per state element: decay, outer-product update, readout).
std::vector<model::OpCost> decode_core(const model::MoeModel& m, int layer, int sequences,
                                       int context) {
  const model::Mixer mixer = m.layer_kind(layer).mixer;
  if (mixer == model::Mixer::none)
    return {};
  const double b = core::bytes_per_element(m.dtype);
  const double state = sequence_state_bytes(m, layer, sequences, context);
  model::OpCost read;
  read.kind = model::OpKind::attention_core;
  read.element_bytes = b;
  read.input_bytes = state;
  if (mixer == model::Mixer::linear_attention || mixer == model::Mixer::mamba) {
    read.name = "state.update";
    read.flops = 4 * state / b;
    read.output_bytes = double(sequences) * m.hidden * b;
    return {read};
  }
  const bool mla = m.attention == model::AttentionKind::mla;
  const model::AttentionShape shape = model::attention_shape(m, mixer);
  const double seen = mixer == model::Mixer::sliding_attention
                          ? std::min<double>(context, m.sliding.window)
                          : double(context);
  const double pairs = double(shape.heads) * sequences * seen;
  const double key_width = mla ? m.mla.kv_lora_rank + m.mla.qk_rope_head_dim : m.qk_head_dim();
  const double value_width = mla ? m.mla.kv_lora_rank : m.v_head_dim();
  read.name = "attn.scores";
  read.flops = pairs * (2 * key_width + kSoftmaxFlops);
  model::OpCost values = read;
  values.name = "attn.context";
  values.flops = pairs * 2 * value_width;
  values.input_bytes = 0;  // the cache was read for the scores
  values.output_bytes = double(sequences) * shape.heads * m.v_head_dim() * b;
  return {read, values};
}

// Everything of one layer but the routed experts, for a group's tokens.
std::vector<model::OpCost> block_ops(const model::MoeModel& m, int layer, const GroupTokens& g,
                                     int context) {
  std::vector<model::OpCost> out;
  auto keep = [&](const std::vector<model::OpCost>& ops, bool decode) {
    for (const model::OpCost& op : ops) {
      if (op.expert >= 0 || (decode && op.kind == model::OpKind::attention_core))
        continue;
      out.push_back(op);
    }
  };
  if (g.decode > 0) {
    keep(model::layer_forward_ops(m, layer, model::Batch{g.decode, 1, true}), true);
    for (model::OpCost& op : decode_core(m, layer, g.decode, context))
      out.push_back(std::move(op));
  }
  if (g.prefill > 0)
    keep(model::layer_forward_ops(m, layer, model::Batch{g.prompts, g.prefill / g.prompts, true}),
         false);
  return out;
}

std::vector<model::OpCost> head_ops(const model::MoeModel& m, const GroupTokens& g) {
  std::vector<model::OpCost> out;
  for (const model::OpCost& op : model::io_forward_ops(m, model::Batch{g.tokens(), 1, true}))
    if (op.name.find("loss") == std::string::npos)
      out.push_back(op);
  return out;
}

// One device's work in a phase: compute, and the bytes it reads from and writes to memory.
struct DeviceWork {
  double seconds = 0;
  double flops = 0;
  double read = 0;
  double written = 0;
};

DeviceWork sharded_work(const std::vector<model::OpCost>& ops, int tp, const hw::ChipletKind& kind,
                        core::DataType type) {
  DeviceWork w;
  for (const model::OpCost& op : ops) {
    const model::OpCost s = shard(op, tp);
    w.seconds += op_seconds(s, kind, type);
    w.flops += s.flops;
    w.read += s.weight_bytes;
    if (s.kind == model::OpKind::attention_core)
      w.read += s.input_bytes;  // the KV cache
  }
  return w;
}

class IterationBuilder {
 public:
  IterationBuilder(const ServeInputs& in, const ServeConfig& cfg, int iteration,
                   const std::vector<SideFlow>& side)
      : in_(in),
        cfg_(cfg),
        m_(in.model),
        map_(in.mapping),
        net_(in.network),
        hw_(in.network.hw()),
        iteration_(iteration),
        b_(core::bytes_per_element(in.model.dtype)),
        groups_(group_tokens(cfg, in.mapping.group_count())),
        side_(side) {
    plan_.platform = sim::make_platform(net_, false);  // names only for a timeline
    for (auto& bytes : plan_.stage_channel_bytes)
      bytes.assign(plan_.platform.capacities.size(), 0.0);
    plan_.side.assign(side.size(), -1);
    plan_.graph = sim::TaskGraph(plan_.platform.engines);
    plan_.memory_bytes.assign(std::size_t(map_.devices), 0);
    plan_.expert_tokens.assign(std::size_t(map_.devices), 0);
    device_of_slot_ = devices_of_slots(in);
    std::size_t first = 0;
    for (const GroupTokens& g : groups_) {
      first_token_.push_back(first);
      first += std::size_t(g.tokens());
    }
    base_token_ = std::size_t(iteration) * first;
    plan_.tokens = double(first);
  }

  IterationPlan build() {
    last_ = plan_.graph.add_delay(fmt::format("it{}.start", iteration_), 0);
    const std::vector<int> moe = m_.moe_layers();
    for (int layer = 0; layer < m_.layers; ++layer) {
      auto it = std::find(moe.begin(), moe.end(), layer);
      if (cfg_.moe_only) {
        if (it != moe.end())
          moe_layer(layer, std::size_t(it - moe.begin()));
        continue;
      }
      attention(layer, block_work(layer));
      all_reduce(layer, "attn");
      if (it != moe.end())
        moe_layer(layer, std::size_t(it - moe.begin()));
      all_reduce(layer, "moe");
    }
    if (!cfg_.moe_only)
      attention(m_.layers, head_work());
    // Side flows whose phase never came start with the iteration.
    for (std::size_t i = 0; i < side_.size(); ++i)
      if (plan_.side[i] < 0)
        add_side(i, plan_.barriers.empty() ? last_ : plan_.barriers.front());
    return std::move(plan_);
  }

 private:
  // ---- phases ---------------------------------------------------------------------------

  // Starts a phase of `stage`: the side flows that ride the first phase of their stage start
  // with it, after the previous barrier.
  void begin_phase(Stage stage) {
    stage_ = stage;
    for (std::size_t i = 0; i < side_.size(); ++i)
      if (plan_.side[i] < 0 && side_[i].ride == stage &&
          (side_[i].after < 0 || plan_.side[std::size_t(side_[i].after)] >= 0))
        add_side(i, last_);
  }

  void add_side(std::size_t i, TaskId start) {
    const SideFlow& f = side_[i];
    Deps deps{start};
    if (f.after >= 0 && plan_.side[std::size_t(f.after)] >= 0)
      deps.push_back(plan_.side[std::size_t(f.after)]);
    net::FlowSpec spec = f.spec;
    spec.priority = net::Priority::low;  // it takes only what the phases' flows leave
    plan_.side[i] = plan_.graph.add_flow(f.name, spec, std::move(deps));
  }

  // The bytes a flow puts on each of its channels, counted for the phase's stage.
  void count(const net::FlowSpec& f) {
    auto& bytes = plan_.stage_channel_bytes[std::size_t(stage_)];
    for (const net::ChannelUse& u : f.uses)
      bytes[std::size_t(u.channel)] += u.coefficient * f.bytes * f.weight;
  }

  // Ends a phase: one barrier after `tasks` (or after the previous barrier when it has none).
  void end_phase(const std::string& name, Stage stage, Deps tasks) {
    if (tasks.empty())
      tasks.push_back(last_);
    last_ = plan_.graph.add_delay(name, 0, std::move(tasks));
    plan_.barriers.push_back(last_);
    plan_.stage_of.push_back(stage);
  }

  // A phase's task names: its compute, and its memory reads and writes.
  struct PhaseNames {
    explicit PhaseNames(std::string phase)
        : compute(std::move(phase)), read(compute + ".read"), write(compute + ".write") {}
    std::string compute, read, write;
  };

  // Per device: compute and memory traffic of one phase, both after the last barrier.
  void device_tasks(const PhaseNames& name, int d, const DeviceWork& w, Deps& tasks) {
    if (w.seconds > 0)
      tasks.push_back(plan_.graph.add_compute(name.compute, d, w.seconds, {last_}));
    for (auto [bytes, dir] : {std::pair{w.read, sim::Direction::to_sram},
                              std::pair{w.written, sim::Direction::to_memory}}) {
      if (bytes <= 0)
        continue;
      const net::FlowSpec* spec = transfer(d, dir, bytes);
      if (spec == nullptr)
        continue;  // no memory stack serves the device
      count(*spec);
      tasks.push_back(plan_.graph.add_flow(dir == sim::Direction::to_sram ? name.read : name.write,
                                           *spec, {last_}));
      plan_.memory_bytes[d] += bytes;
    }
  }

  // Device d's transfer between its memory stacks and its SRAM, its stacks and routes found once
  // per iteration; `bytes` set. Null when no stack serves d.
  const net::FlowSpec* transfer(int d, sim::Direction dir, double bytes) {
    if (transfers_.empty())
      transfers_.resize(2 * std::size_t(map_.devices));
    auto& [known, spec] = transfers_[2 * std::size_t(d) + (dir == sim::Direction::to_sram ? 0 : 1)];
    if (!known) {
      const std::vector<int>& stacks = stacks_of(d);
      if (!stacks.empty())
        spec = sim::striped_transfer(net_, plan_.platform, stacks, d, 0, dir);
      known = true;
    }
    if (spec.uses.empty())
      return nullptr;
    spec.bytes = bytes;
    return &spec;
  }

  // The memory stacks that serve device d, in stack order, found for every device at once.
  const std::vector<int>& stacks_of(int d) {
    if (stacks_.empty())
      stacks_ = sim::stacks_by_chiplet(hw_);
    return stacks_[std::size_t(d)];
  }

  // Per group: one device's work (the group's ops split over its members).
  std::vector<DeviceWork> block_work(int layer) {
    std::vector<DeviceWork> out;
    for (const GroupTokens& g : groups_) {
      const model::LayerKind kind = m_.layer_kind(layer);
      const auto key = std::tuple(int(kind.mixer), int(kind.ffn), g.decode, g.prefill);
      auto it = block_cache_.find(key);
      if (it == block_cache_.end()) {
        DeviceWork w = work_of(block_ops(m_, layer, g, context()));
        // Prefill writes the prompts' keys and values (or final recurrent states) into the cache.
        if (g.prompts > 0)
          w.written =
              sequence_state_bytes(m_, layer, g.prompts, double(g.prefill) / g.prompts) / map_.tp;
        it = block_cache_.emplace(key, w).first;
      }
      out.push_back(it->second);
    }
    return out;
  }

  std::vector<DeviceWork> head_work() {
    std::vector<DeviceWork> out;
    for (const GroupTokens& g : groups_)
      out.push_back(work_of(head_ops(m_, g)));
    return out;
  }

  DeviceWork work_of(const std::vector<model::OpCost>& ops) const {
    return sharded_work(ops, map_.tp, hw_.kinds[hw_.chiplets[0].kind], m_.dtype);
  }

  // A decoding sequence's cache: the context, and one token more for each earlier iteration.
  int context() const { return cfg_.context + iteration_; }

  void attention(int layer, const std::vector<DeviceWork>& per_group) {
    const PhaseNames name(layer < m_.layers ? fmt::format("L{}.attention", layer) : "lm_head");
    begin_phase(Stage::attention);
    Deps tasks;
    for (int d = 0; d < map_.devices; ++d)
      device_tasks(name, d, per_group[std::size_t(map_.group_of[d])], tasks);
    end_phase(name.compute, Stage::attention, std::move(tasks));
  }

  // A collective's plan, made once per iteration for each kind, members and size: every
  // layer's all-reduces repeat the same few.
  enum class Collective { ring_all_reduce, reduce_scatter, all_gather };
  const net::CollectivePlan& plan_of(Collective kind, const std::vector<int>& members,
                                     double bytes) {
    auto key = std::tuple(kind, members, bytes);
    auto it = plans_.find(key);
    if (it != plans_.end())
      return it->second;
    net::CollectivePlan plan;
    switch (kind) {
      case Collective::ring_all_reduce:
        plan = net::all_reduce(net_, members, bytes, net::AllReduceAlgorithm::ring);
        break;
      case Collective::reduce_scatter:
        plan = net::reduce_scatter(net_, members, bytes);
        break;
      case Collective::all_gather:
        plan = net::all_gather(net_, members, bytes);
        break;
    }
    return plans_.emplace(std::move(key), std::move(plan)).first->second;
  }

  // The unicast flow between two devices, its route found once per iteration; `bytes` set. The
  // reference holds until the next call.
  net::FlowSpec& unicast(int from, int to, double bytes) {
    const auto devices = std::size_t(map_.devices);
    if (unicast_at_.empty())
      unicast_at_.assign(devices * devices, -1);
    int32_t& at = unicast_at_[std::size_t(from) * devices + std::size_t(to)];
    if (at < 0) {
      at = int32_t(unicasts_.size());
      unicasts_.push_back(net_.unicast(net_.route(from, to), 0));
    }
    net::FlowSpec& spec = unicasts_[std::size_t(at)];
    spec.bytes = bytes;
    return spec;
  }

  void add_flows(const net::CollectivePlan& plan, Deps& tasks, const Deps& after) {
    for (const net::PlannedFlow& f : plan.flows) {
      plan_.flow_byte_hops += flow_hops(f.spec);
      count(f.spec);
    }
    const std::vector<TaskId> ids = plan_.graph.add_collective(std::move(plan), after);
    tasks.insert(tasks.end(), ids.begin(), ids.end());
  }

  double flow_hops(const net::FlowSpec& f) const {
    double sum = 0;
    for (const net::ChannelUse& u : f.uses)
      sum += u.coefficient;
    return sum * f.bytes * f.weight;
  }

  // The all-reduce of each group's hidden states: one ring, or (her) a reduce-scatter inside
  // each wafer, an all-reduce of each shard across wafers and an all-gather inside each wafer,
  // each step of a group after its previous one.
  void all_reduce(int layer, const char* what) {
    const std::string name = fmt::format("L{}.{}_all_reduce", layer, what);
    begin_phase(Stage::all_reduce);
    Deps tasks;
    for (int g = 0; g < map_.group_count(); ++g) {
      const double bytes = groups_[std::size_t(g)].tokens() * double(m_.hidden) * b_;
      if (!map_.hierarchical) {
        add_flows(plan_of(Collective::ring_all_reduce, map_.groups[std::size_t(g)], bytes), tasks,
                  {last_});
        continue;
      }
      hierarchical_all_reduce(g, bytes, tasks);
    }
    end_phase(name, Stage::all_reduce, std::move(tasks));
  }

  void hierarchical_all_reduce(int g, double bytes, Deps& tasks) {
    Deps step;
    std::vector<std::vector<int>> on_wafer;
    for (int w = 0; w < map_.wafers; ++w)
      on_wafer.push_back(map_.members_on(g, w));
    for (const auto& members : on_wafer)
      add_flows(plan_of(Collective::reduce_scatter, members, bytes), step, {last_});
    const TaskId scattered =
        plan_.graph.add_delay("reduce_scatter", 0, step.empty() ? Deps{last_} : step);
    step.clear();
    const std::size_t shards = on_wafer.front().size();
    for (std::size_t i = 0; i < shards; ++i) {
      std::vector<int> across;
      for (const auto& members : on_wafer)
        across.push_back(members[i]);
      add_flows(plan_of(Collective::ring_all_reduce, across, bytes / double(shards)), step,
                {scattered});
    }
    const TaskId reduced =
        plan_.graph.add_delay("across_wafers", 0, step.empty() ? Deps{scattered} : step);
    for (const auto& members : on_wafer)
      add_flows(plan_of(Collective::all_gather, members, bytes), tasks, {reduced});
    tasks.push_back(reduced);
  }

  // ---- the MoE part of a layer -------------------------------------------------------------

  // The device of the replica that takes a choice of `expert` by a token of group g, given the
  // tokens each device took so far in this layer (ServeConfig::dispatch).
  int device_of(std::size_t li, int expert, std::size_t g, const std::vector<double>& taken) {
    const auto& copies = in_.placement.layers[li].chiplets_of[std::size_t(expert)];
    int best = device_of_slot_[std::size_t(copies.front())];
    for (std::size_t i = 1; i < copies.size(); ++i) {
      const int d = device_of_slot_[std::size_t(copies[i])];
      const auto key = [&](int x) {
        const double load = taken[std::size_t(x)];
        const int hops = hops_from_source(x, g);
        return cfg_.dispatch == Dispatch::load ? std::tuple(load, double(hops), x)
                                               : std::tuple(double(hops), load, x);
      };
      if (key(d) < key(best))
        best = d;
    }
    return best;
  }

  int hops_from_source(int d, std::size_t g) {
    if (hops_.empty())
      hops_.assign(std::size_t(map_.devices) * groups_.size(), -1);
    int& h = hops_[std::size_t(d) * groups_.size() + g];
    if (h < 0)
      h = int(net_.hops(map_.source[std::size_t(d)][g], d));
    return h;
  }

  void moe_layer(int layer, std::size_t li) {
    const int devices = map_.devices;
    // Token copies per (device, group) and tokens per (device, expert).
    std::vector<std::vector<double>> copies(std::size_t(devices),
                                            std::vector<double>(groups_.size(), 0));
    std::vector<std::map<int, double>> expert_tokens(static_cast<std::size_t>(devices));
    std::vector<double> taken(std::size_t(devices), 0.0);
    std::vector<int> seen_device;
    for (std::size_t g = 0; g < groups_.size(); ++g) {
      for (int t = 0; t < groups_[g].tokens(); ++t) {
        const std::size_t token = base_token_ + first_token_[g] + std::size_t(t);
        seen_device.clear();
        for (trace::ExpertId e : in_.trace.choices(int(li), token)) {
          const int d = device_of(li, e, g, taken);
          taken[std::size_t(d)] += 1;
          expert_tokens[std::size_t(d)][e] += 1;
          plan_.expert_tokens[std::size_t(d)] += 1;
          plan_.routed_slots += 1;
          if (std::find(seen_device.begin(), seen_device.end(), d) == seen_device.end()) {
            seen_device.push_back(d);
            copies[std::size_t(d)][g] += 1;
          }
        }
      }
    }
    const double token_bytes = double(m_.hidden) * b_;
    exchange(fmt::format("L{}.dispatch", layer), Stage::dispatch, copies, token_bytes, true);
    experts(layer, li, expert_tokens);
    exchange(fmt::format("L{}.combine", layer), Stage::combine, copies, token_bytes, false);
  }

  // Dispatch (from each group's source for a device to the device) or combine (back).
  void exchange(const std::string& name, Stage stage,
                const std::vector<std::vector<double>>& copies, double token_bytes, bool dispatch) {
    begin_phase(stage);
    Deps tasks;
    for (int d = 0; d < map_.devices; ++d) {
      for (std::size_t g = 0; g < groups_.size(); ++g) {
        const double n = copies[std::size_t(d)][g];
        if (n <= 0)
          continue;
        if (dispatch)
          plan_.dispatched_copies += n;
        const int s = map_.source[std::size_t(d)][g];
        if (s == d)
          continue;  // the token is already there
        const int from = dispatch ? s : d, to = dispatch ? d : s;
        const net::FlowSpec& spec = unicast(from, to, n * token_bytes);
        plan_.flow_byte_hops += flow_hops(spec);
        count(spec);
        plan_.a2a_bytes += n * token_bytes;
        tasks.push_back(plan_.graph.add_flow(name, spec, {last_}));
      }
    }
    end_phase(name, stage, std::move(tasks));
  }

  void experts(int layer, std::size_t li, const std::vector<std::map<int, double>>& tokens) {
    const PhaseNames name(fmt::format("L{}.experts", layer));
    const double expert_bytes = double(model::routed_expert_params(m_)) * b_;
    begin_phase(Stage::experts);
    Deps tasks;
    for (int d = 0; d < map_.devices; ++d) {
      DeviceWork w;
      for (const auto& [e, n] : tokens[std::size_t(d)]) {
        const OpSum s = time_ops(model::expert_forward_ops(m_, n, e),
                                 hw_.kinds[hw_.chiplets[d].kind], m_.dtype);
        w.seconds += s.seconds;
        w.flops += s.flops;
        w.read += expert_bytes;
      }
      device_tasks(name, d, w, tasks);
    }
    (void)li;
    end_phase(name.compute, Stage::experts, std::move(tasks));
  }

  const ServeInputs& in_;
  const ServeConfig& cfg_;
  const model::MoeModel& m_;
  const mapping::Mapping& map_;
  const net::Network& net_;
  const hw::HwSpec& hw_;
  const int iteration_;
  const double b_;
  const std::vector<GroupTokens> groups_;
  std::vector<std::size_t> first_token_;  // per group, within the iteration
  std::size_t base_token_ = 0;
  std::vector<int> device_of_slot_;       // placement chiplet index -> device
  std::vector<std::vector<int>> stacks_;  // per chiplet: its memory stacks, once found
  std::vector<int> hops_;  // [device][group]: hops from the group's source, -1 unknown
  std::map<std::tuple<int, int, int, int>, DeviceWork> block_cache_;  // by mixer, FFN and tokens
  std::map<std::tuple<Collective, std::vector<int>, double>, net::CollectivePlan> plans_;
  // Where the flow between two devices sits in unicasts_, by (from, to); -1 until routed. An
  // index rather than the flows themselves: a run of small iterations would otherwise build
  // and free a flow for every pair of devices each iteration.
  std::vector<int32_t> unicast_at_;
  std::vector<net::FlowSpec> unicasts_;
  std::vector<std::pair<bool, net::FlowSpec>> transfers_;  // by (device, direction), once found
  const std::vector<SideFlow>& side_;
  IterationPlan plan_;
  TaskId last_ = -1;
  Stage stage_ = Stage::attention;
};

}  // namespace

std::string_view to_string(ServePhase phase) {
  switch (phase) {
    case ServePhase::decode:
      return "decode";
    case ServePhase::prefill:
      return "prefill";
    case ServePhase::mixed:
      return "mixed";
  }
  return "?";
}

std::string_view to_string(Dispatch dispatch) {
  return dispatch == Dispatch::nearest ? "nearest" : "load";
}

std::string_view to_string(Stage stage) {
  switch (stage) {
    case Stage::attention:
      return "attention";
    case Stage::all_reduce:
      return "all_reduce";
    case Stage::dispatch:
      return "dispatch";
    case Stage::experts:
      return "experts";
    case Stage::combine:
      return "combine";
  }
  return "?";
}

std::vector<int> devices_of_slots(const ServeInputs& inputs) {
  const hw::HwSpec& hw = inputs.network.hw();
  const std::vector<std::string>& slots = inputs.placement.layout.chiplets;
  std::vector<int> out;
  out.reserve(slots.size());
  // Layouts list the chiplets in the hardware's order: a name is searched for only when its
  // slot's chiplet is another (a search of every node's name per slot made a run of small
  // iterations pay more for it than for their simulation).
  for (std::size_t slot = 0; slot < slots.size(); ++slot)
    out.push_back(slot < hw.chiplets.size() && hw.chiplets[slot].name == slots[slot]
                      ? int(slot)
                      : *hw.find_node(slots[slot]));
  return out;
}

std::vector<GroupTokens> group_tokens(const ServeConfig& config, int groups) {
  std::vector<GroupTokens> out(static_cast<std::size_t>(groups));
  for (int g = 0; g < groups; ++g) {
    const int sequences = config.batch / groups + (g < config.batch % groups ? 1 : 0);
    GroupTokens& t = out[std::size_t(g)];
    if (config.phase != ServePhase::prefill)
      t.decode = sequences;
    if (config.phase == ServePhase::prefill) {
      t.prompts = sequences;
      t.prefill = sequences * config.prompt;
    } else if (config.phase == ServePhase::mixed) {
      t.prompts = 1;
      t.prefill = config.prompt;
    }
  }
  return out;
}

std::size_t tokens_per_iteration(const ServeConfig& config, int groups) {
  std::size_t sum = 0;
  for (const GroupTokens& g : group_tokens(config, groups))
    sum += std::size_t(g.tokens());
  return sum;
}

double sequence_state_bytes(const model::MoeModel& m, int layer, double sequences,
                            double tokens_each) {
  switch (m.layer_kind(layer).mixer) {
    case model::Mixer::attention:
      return sequences * tokens_each * model::layer_state_bytes(m, layer, 1);
    case model::Mixer::sliding_attention:
      return sequences * std::min<double>(tokens_each, m.sliding.window) *
             model::layer_state_bytes(m, layer, 1);
    case model::Mixer::linear_attention:
    case model::Mixer::mamba:
      return sequences * model::layer_state_bytes(m, layer, 0);
    case model::Mixer::none:
      break;
  }
  return 0;
}

double kv_bytes_per_token(const model::MoeModel& m) {
  const double b = core::bytes_per_element(m.dtype);
  if (m.attention == model::AttentionKind::mla)
    return double(m.mla.kv_lora_rank + m.mla.qk_rope_head_dim) * b;
  return 2.0 * m.kv_dim() * b;
}

IterationPlan build_iteration(const ServeInputs& inputs, const ServeConfig& config, int iteration,
                              const std::vector<SideFlow>& side) {
  return IterationBuilder(inputs, config, iteration, side).build();
}

}  // namespace mozart::workload
