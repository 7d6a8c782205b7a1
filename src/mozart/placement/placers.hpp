// Placers behind one interface, chosen by name:
//
//   contiguous   standard expert parallelism: experts in order, an equal run per chiplet;
//   round-robin  expert e on chiplet e mod C;
//   random       a seeded shuffle, then contiguous;
//   balanced     EPLB: optional redundant replicas, each to the expert with the largest load per
//                replica, then balanced packing: replicas by load, each onto the lightest chiplet
//                with a free slot;
//   occult       greedy collaboration clustering: the first cluster seeded with the most
//                co-activated pair, each next seed the expert least co-activated with those
//                placed, clusters filled greedily by co-activation;
//   mozart       farthest-point-sampling clustering on co-activation (seeds that collaborate
//                least with earlier seeds; each cluster in turn grown with the experts that
//                collaborate most), every chiplet's load held within --chiplet-balance × the
//                layer's mean, then a binary integer program, solved by COIN-OR CBC, that
//                allocates clusters to groups minimising the largest group load within each
//                group's capacity;
//   mozart-paper the paper's Algorithm 1 (equal-size clusters grown by average co-activation
//                from the most co-activated pair and seeds least co-activated with the chosen)
//                and Eq. 5 (a binary integer program, by CBC, giving each group its count of
//                clusters with the least total deviation of the group shares from even);
//   metis        a k-way partition of the co-activation graph (METIS) balancing load and count.
//
// For the placers whose chiplet labels carry no meaning (occult, mozart, mozart-paper, metis),
// place() then chooses, layer after layer, which of alike groups and then which chiplet of a
// group takes which chiplet's experts, so that the largest load summed over the layers placed
// so far is the least (C_T and the group loads are unchanged; see assign_within_groups).
//
// refine() can follow any of them: swaps of experts between chiplets that lower
// C_T + λ · (chiplet max/mean load − 1), measured on a sample of the trace's tokens, with the
// group max/mean load and (when given) the chiplet max/mean load brought within their bounds
// first where they are not, and never taken over them.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mozart/placement/placement.hpp"
#include "mozart/trace/trace.hpp"

namespace mozart::placement {

// What a placer knows of one layer: priors and, for refinement, the tokens.
struct LayerInput {
  int layer_id = 0;
  int experts = 0;
  int top_k = 0;
  std::vector<double> load;          // routed slots per expert (V × slots)
  std::vector<double> coactivation;  // experts × experts
  const trace::Trace* trace = nullptr;
  int trace_layer = 0;
};

// One per MoE layer of the trace, from its priors; `coactivation` false leaves each input's
// co-activation empty (for placers that do not use it).
std::vector<LayerInput> layer_inputs(const trace::Trace& trace, bool coactivation = true);
// What placer `name` reads of the trace's priors (an InputError for an unknown name).
std::vector<LayerInput> layer_inputs(const trace::Trace& trace, const std::string& placer);

// Limits of one integer program. The node limit keeps results the same on every machine; the
// time limit is a safety net (a result cut by it depends on the machine's speed).
struct SolverLimits {
  int nodes = 5;
  double seconds = 10.0;
};

struct PlacerOptions {
  std::uint64_t seed = 1;
  int replicas = 0;             // balanced: redundant copies of hot experts
  double group_balance = 1.10;  // mozart, refine: bound on group max/mean load
  // mozart, refine: when given (> 0), a bound that holds: in every layer no chiplet's load
  // exceeds chiplet_balance × the layer's mean chiplet load (over the chiplets that hold
  // experts), so over a step no chiplet's total does either; mozart throws an InputError when it
  // cannot be met. When 0, mozart aims at 2.0 where it can, without an error, and refine has no
  // chiplet bound. metis: METIS's load tolerance (2.0 when 0).
  double chiplet_balance = 0;
  SolverLimits solver;  // per integer program (one per layer): the best found and its gap
  bool refine = false;
  double lambda = 0.0;  // weight of chiplet imbalance in the refinement objective
  std::size_t refine_tokens = 4096;
  int refine_passes = 4;
};

class Placer {
 public:
  virtual ~Placer() = default;
  virtual std::string name() const = 0;
  // Whether place() reads LayerInput::coactivation; a placer that never does is given inputs
  // without it (an experts x experts matrix per layer, the priors' costliest part).
  virtual bool uses_coactivation() const { return true; }
  // Whether which chiplet of a group holds which of the placer's sets of experts is arbitrary,
  // so that place() may choose it against the step's load.
  virtual bool free_chiplet_labels() const { return false; }
  // Options that no placement of these layers can meet: an InputError before any is placed.
  virtual void check(const std::vector<LayerInput>&, const DeviceLayout&,
                     const PlacerOptions&) const {}
  // Slots are guaranteed: experts ≤ chiplets · slots.
  virtual LayerPlacement place(const LayerInput& input, const DeviceLayout& layout,
                               const PlacerOptions& options,
                               std::optional<SolverReport>& report) const = 0;
};

std::vector<std::string> placer_names();
// InputError naming the choices for an unknown name.
std::unique_ptr<Placer> make_placer(const std::string& name);

// Swaps that lower the joint objective (see above); returns the placement unchanged when it has
// replicas.
LayerPlacement refine(const LayerInput& input, const DeviceLayout& layout, LayerPlacement placement,
                      const PlacerOptions& options);

// Every MoE layer of the trace. InputError when the experts do not fit the slots, or when
// --chiplet-balance cannot be met (naming the layer and by how much).
Placement place(const trace::Trace& trace, const DeviceLayout& layout, const std::string& placer,
                const PlacerOptions& options);
// The same from the trace's layer_inputs(), for a caller that places one trace several times
// (onto other hardware, by other placers) and computes its priors once. std::invalid_argument
// when the placer uses co-activation and the inputs were made without it.
Placement place(const trace::Trace& trace, const std::vector<LayerInput>& inputs,
                const DeviceLayout& layout, const std::string& placer,
                const PlacerOptions& options);

// The integer program of `mozart`, exposed for tests: clusters (by load) to groups (by
// capacity in clusters), minimising the largest group load.
struct Allocation {
  std::vector<int> group_of_cluster;
  SolverReport report;
};
Allocation allocate_clusters(const std::vector<double>& cluster_load,
                             const std::vector<int>& group_capacity, const SolverLimits& limits);
// The integer program of `mozart-paper` (Eq. 5): group g takes exactly group_size[g] clusters,
// minimising Σ_g |group g's share of the load − group_size[g] / clusters|; the report's
// objective is that sum.
Allocation allocate_clusters_evenly(const std::vector<double>& cluster_load,
                                    const std::vector<int>& group_size, const SolverLimits& limits);

// The within-group step: to[c] is the chiplet that takes chiplet c's experts, a permutation
// within each set of chiplets of one group and equal hops, pairing the heaviest layer load with
// the chiplet least loaded so far (step_load), which minimises the largest step_load[to[c]] +
// layer_load[c] exactly. Ties: the lower chiplet index.
std::vector<int> assign_within_groups(const DeviceLayout& layout,
                                      const std::vector<double>& step_load,
                                      const std::vector<double>& layer_load);

}  // namespace mozart::placement
