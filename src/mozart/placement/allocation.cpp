// The allocations of clusters to groups as binary integer programs, solved by COIN-OR CBC.
//
// `mozart`: the largest group load,
//
//   minimise z  subject to  Σ_g x[c][g] = 1           for every cluster c
//                           Σ_c x[c][g] ≤ capacity[g]  for every group g
//                           Σ_c load[c] x[c][g] ≤ z    for every group g
//
// Loads are scaled to a mean of 1 so the solver works near unit magnitudes. The greedy
// longest-processing-time assignment is given as a MIP start, and, when the groups are alike,
// the heaviest cluster is fixed to group 0 (a symmetry that costs nothing). The start is
// improved by swaps first; when it meets the simple bound (the mean group load, rounded up for
// integer loads, or the heaviest cluster) it is optimal without a search.
//
// `mozart-paper` (Eq. 5): each group exactly its chiplets' count of clusters, minimising
// Σ_g |Σ_c V[c] x[c][g] − target[g]| with V the clusters' shares of the load and target[g] the
// group's share of the chiplets (1/N_g for alike groups), linearised with one t[g] per group.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>
#include <string>
#include <utility>

#include <coin/Cbc_C_Interface.h>
#include <fmt/format.h>

#include "mozart/core/error.hpp"
#include "mozart/placement/placers.hpp"

namespace mozart::placement {
namespace {

// Heaviest cluster first, each to the least loaded group with room.
std::vector<int> greedy(const std::vector<double>& load, const std::vector<int>& capacity) {
  std::vector<int> order(load.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return load[static_cast<std::size_t>(a)] > load[static_cast<std::size_t>(b)];
  });
  std::vector<double> group_load(capacity.size(), 0.0);
  std::vector<int> used(capacity.size(), 0), out(load.size(), -1);
  for (const int c : order) {
    int best = -1;
    for (std::size_t g = 0; g < capacity.size(); ++g)
      if (used[g] < capacity[g] &&
          (best < 0 || group_load[g] < group_load[static_cast<std::size_t>(best)]))
        best = static_cast<int>(g);
    out[static_cast<std::size_t>(c)] = best;
    group_load[static_cast<std::size_t>(best)] += load[static_cast<std::size_t>(c)];
    ++used[static_cast<std::size_t>(best)];
  }
  return out;
}

// Swaps between any two groups (and moves, where capacity allows) that lower the sum of squared
// group loads, which evens the groups and with them the largest: a start close enough to the
// bound that the solver often only has to confirm it.
void improve(const std::vector<double>& load, const std::vector<int>& capacity,
             std::vector<int>& group) {
  const auto groups = capacity.size();
  std::vector<double> sum(groups, 0.0);
  std::vector<std::vector<std::size_t>> members(groups);
  for (std::size_t c = 0; c < load.size(); ++c) {
    sum[static_cast<std::size_t>(group[c])] += load[c];
    members[static_cast<std::size_t>(group[c])].push_back(c);
  }
  const auto move = [&](std::size_t c, std::size_t from, std::size_t to) {
    auto& list = members[from];
    list.erase(std::find(list.begin(), list.end(), c));
    members[to].push_back(c);
    group[c] = static_cast<int>(to);
    sum[from] -= load[c];
    sum[to] += load[c];
  };
  // Moving d from group g to h changes g² + h² by 2d(d + h − g): negative when 0 < d < g − h.
  for (bool improved = true; improved;) {
    improved = false;
    for (std::size_t a = 0; a < load.size(); ++a) {
      const auto g = static_cast<std::size_t>(group[a]);
      for (std::size_t h = 0; h < groups && !improved; ++h) {
        const double gap = sum[g] - sum[h];
        if (h == g || gap <= 1e-9)
          continue;
        if (members[h].size() < static_cast<std::size_t>(capacity[h]) && load[a] > 0 &&
            load[a] < gap - 1e-9) {
          move(a, g, h);
          improved = true;
          break;
        }
        for (const std::size_t b : members[h]) {
          const double d = load[a] - load[b];
          if (d > 1e-9 && d < gap - 1e-9) {
            move(a, g, h);
            move(b, h, g);
            improved = true;
            break;
          }
        }
      }
    }
  }
}

// Swaps two group labels in an assignment (alike groups: the same solution).
void relabel(std::vector<int>& group, int a, int b) {
  for (auto& g : group)
    g = g == a ? b : (g == b ? a : g);
}

double largest_group_load(const std::vector<double>& load, const std::vector<int>& group,
                          std::size_t groups) {
  std::vector<double> sum(groups, 0.0);
  for (std::size_t c = 0; c < load.size(); ++c)
    sum[static_cast<std::size_t>(group[c])] += load[c];
  return *std::max_element(sum.begin(), sum.end());
}

class CbcProgram {
 public:
  CbcProgram() : model_(Cbc_newModel()) {}
  ~CbcProgram() { Cbc_deleteModel(model_); }
  CbcProgram(const CbcProgram&) = delete;
  CbcProgram& operator=(const CbcProgram&) = delete;
  Cbc_Model* get() { return model_; }

 private:
  Cbc_Model* model_;
};

// A program in CBC's column form: the first `integers` columns are binary or integer.
struct Program {
  std::vector<CoinBigIndex> starts{0};
  std::vector<int> index;
  std::vector<double> value;
  std::vector<double> lower, upper, objective;  // per column
  std::vector<double> row_lower, row_upper;
  int integers = 0;

  void add_column(const std::vector<std::pair<int, double>>& entries, double lo, double hi,
                  double cost) {
    for (const auto& [row, v] : entries)
      index.push_back(row), value.push_back(v);
    starts.push_back(static_cast<CoinBigIndex>(index.size()));
    lower.push_back(lo), upper.push_back(hi), objective.push_back(cost);
  }
  int columns() const { return static_cast<int>(lower.size()); }
};

struct Outcome {
  std::vector<double> solution;  // empty when none was found
  double best_bound = 0;         // the solver's lower bound on the objective
  std::string status;
};

// The settings both allocation programs share. The LP bound is what the cuts would tighten;
// they cost more at the root than they save on these small programs. The MIP start (greedy,
// improved by swaps) stands in for CBC's primal heuristics, which found nothing better and
// took half the time. `absolute_gap` < 0 asks for a relative gap of 1e-7 instead.
Outcome solve(const Program& p, const SolverLimits& limits, const std::vector<double>& start,
              double absolute_gap) {
  // Cbc_solve runs CBC's command-line driver, whose state is static: two solves at once (a
  // sweep's threads) garble each other, so they take turns.
  static std::mutex cbc;
  const std::lock_guard<std::mutex> lock(cbc);
  CbcProgram program;
  Cbc_Model* model = program.get();
  Cbc_loadProblem(model, p.columns(), static_cast<int>(p.row_lower.size()), p.starts.data(),
                  p.index.data(), p.value.data(), p.lower.data(), p.upper.data(),
                  p.objective.data(), p.row_lower.data(), p.row_upper.data());
  for (int col = 0; col < p.integers; ++col)
    Cbc_setInteger(model, col);
  Cbc_setLogLevel(model, 0);
  Cbc_setMaximumSeconds(model, limits.seconds);
  Cbc_setMaximumNodes(model, limits.nodes);
  Cbc_setParameter(model, "cuts", "off");
  Cbc_setParameter(model, "preprocess", "off");
  Cbc_setParameter(model, "heuristicsOnOff", "off");
  if (absolute_gap >= 0)
    Cbc_setAllowableGap(model, absolute_gap);
  else
    Cbc_setAllowableFractionGap(model, 1e-7);
  std::vector<int> start_index(start.size());
  std::iota(start_index.begin(), start_index.end(), 0);
  Cbc_setMIPStartI(model, static_cast<int>(start.size()), start_index.data(), start.data());
  Cbc_solve(model);
  if (Cbc_isProvenInfeasible(model))
    throw core::InputError({"placement", "integer program", 0}, "infeasible",
                           "clusters that fit the groups' capacity");
  Outcome out;
  if (const double* solution = Cbc_bestSolution(model))
    out.solution.assign(solution, solution + p.columns());
  out.best_bound = Cbc_getBestPossibleObjValue(model);
  out.status = Cbc_isProvenOptimal(model) != 0         ? "optimal"
               : Cbc_isSecondsLimitReached(model) != 0 ? "time limit"
               : Cbc_isNodeLimitReached(model) != 0    ? "node limit"
                                                       : "stopped";
  return out;
}

// The cluster → group assignment in a solution whose first columns are x[c][g].
void read_assignment(const Outcome& outcome, int groups, std::vector<int>& group_of_cluster) {
  if (outcome.solution.empty())
    return;
  for (std::size_t c = 0; c < group_of_cluster.size(); ++c)
    for (int g = 0; g < groups; ++g)
      if (outcome.solution[c * static_cast<std::size_t>(groups) + static_cast<std::size_t>(g)] >
          0.5)
        group_of_cluster[c] = g;
}

// The start for CBC: x[c][g] from an assignment, then the given tail columns.
std::vector<double> start_from(const std::vector<int>& group_of_cluster, int groups,
                               const std::vector<double>& tail) {
  std::vector<double> start;
  for (const int chosen : group_of_cluster)
    for (int g = 0; g < groups; ++g)
      start.push_back(chosen == g ? 1.0 : 0.0);
  start.insert(start.end(), tail.begin(), tail.end());
  return start;
}

// Alike groups are interchangeable: the heaviest cluster may as well be in group 0, where the
// greedy start puts it (it goes first, and ties go to the lowest group). Fixes x[heaviest][0].
void fix_heaviest_to_group0(const std::vector<double>& load, const std::vector<int>& capacity,
                            std::vector<int>& group_of_cluster, Program& p) {
  const bool alike =
      std::all_of(capacity.begin(), capacity.end(), [&](int c) { return c == capacity.front(); });
  if (!alike)
    return;
  const auto heaviest =
      static_cast<std::size_t>(std::max_element(load.begin(), load.end()) - load.begin());
  relabel(group_of_cluster, group_of_cluster[heaviest], 0);
  p.lower[heaviest * capacity.size()] = 1.0;
}

}  // namespace

Allocation allocate_clusters(const std::vector<double>& cluster_load,
                             const std::vector<int>& capacity, const SolverLimits& limits) {
  const auto start = std::chrono::steady_clock::now();
  const int n = static_cast<int>(cluster_load.size());
  const int groups = static_cast<int>(capacity.size());
  if (std::accumulate(capacity.begin(), capacity.end(), 0) < n)
    throw core::InputError({"placement", "group capacity", 0}, fmt::format("{} clusters", n),
                           "no more clusters than the groups hold");
  Allocation out;
  out.group_of_cluster = greedy(cluster_load, capacity);
  improve(cluster_load, capacity, out.group_of_cluster);
  const double greedy_max = largest_group_load(cluster_load, out.group_of_cluster, capacity.size());
  const double total = std::accumulate(cluster_load.begin(), cluster_load.end(), 0.0);
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // One cluster per group, or one group: every assignment has the same largest load.
  const bool trivial =
      groups == 1 || std::all_of(capacity.begin(), capacity.end(), [](int c) { return c <= 1; });
  if (trivial || total <= 0) {
    out.report = {"trivial", greedy_max, greedy_max, 0.0, elapsed()};
    return out;
  }
  // Loads that are counts make the objective an integer: any solution less than one unit above
  // the bound is optimal, and so is a greedy one that meets the simple bound.
  const bool integral = std::all_of(cluster_load.begin(), cluster_load.end(),
                                    [](double l) { return l == std::floor(l); });
  const double simple_bound =
      std::max(*std::max_element(cluster_load.begin(), cluster_load.end()),
               integral ? std::ceil(total / groups - 1e-9) : total / groups);
  if (greedy_max <= simple_bound) {
    out.report = {"optimal", greedy_max, greedy_max, 0.0, elapsed()};
    return out;
  }
  const double scale = static_cast<double>(n) / total;
  Program p;  // x[c][g] at c * groups + g, then z; rows: assignment, capacity, load
  for (int c = 0; c < n; ++c) {
    const double load = cluster_load[static_cast<std::size_t>(c)] * scale;
    for (int g = 0; g < groups; ++g)
      p.add_column({{c, 1.0}, {n + g, 1.0}, {n + groups + g, load}}, 0.0, 1.0, 0.0);
  }
  p.integers = n * groups;
  std::vector<std::pair<int, double>> z;
  for (int g = 0; g < groups; ++g)
    z.emplace_back(n + groups + g, -1.0);
  p.add_column(z, 0.0, 1e30, 1.0);
  for (int c = 0; c < n; ++c)
    p.row_lower.push_back(1.0), p.row_upper.push_back(1.0);
  for (int g = 0; g < groups; ++g)
    p.row_lower.push_back(-1e30), p.row_upper.push_back(capacity[static_cast<std::size_t>(g)]);
  for (int g = 0; g < groups; ++g)
    p.row_lower.push_back(-1e30), p.row_upper.push_back(0.0);
  fix_heaviest_to_group0(cluster_load, capacity, out.group_of_cluster, p);
  const auto outcome =
      solve(p, limits, start_from(out.group_of_cluster, groups, {greedy_max * scale}),
            integral ? (1.0 - 1e-6) * scale : -1.0);
  read_assignment(outcome, groups, out.group_of_cluster);
  const double objective_value =
      largest_group_load(cluster_load, out.group_of_cluster, capacity.size());
  double bound = std::min(objective_value, std::max(outcome.best_bound / scale, simple_bound));
  if (outcome.status == "optimal" && integral)
    bound = objective_value;  // proved within one unit of the bound, on an integer objective
  out.report.status = outcome.status;
  out.report.objective = objective_value;
  out.report.bound = bound;
  out.report.gap = objective_value > 0 ? (objective_value - bound) / objective_value : 0.0;
  out.report.seconds = elapsed();
  return out;
}

namespace {

double total_deviation(const std::vector<double>& share, const std::vector<int>& group,
                       const std::vector<double>& target) {
  std::vector<double> sum(target.size(), 0.0);
  for (std::size_t c = 0; c < share.size(); ++c)
    sum[static_cast<std::size_t>(group[c])] += share[c];
  double deviation = 0;
  for (std::size_t g = 0; g < target.size(); ++g)
    deviation += std::abs(sum[g] - target[g]);
  return deviation;
}

}  // namespace

// Eq. 5 linearised: t[g] ≥ |Σ_c V[c] x[c][g] − target[g]| by two rows each.
Allocation allocate_clusters_evenly(const std::vector<double>& cluster_load,
                                    const std::vector<int>& group_size,
                                    const SolverLimits& limits) {
  const auto start = std::chrono::steady_clock::now();
  const int n = static_cast<int>(cluster_load.size());
  const int groups = static_cast<int>(group_size.size());
  if (std::accumulate(group_size.begin(), group_size.end(), 0) != n)
    throw core::InputError({"placement", "group sizes", 0}, fmt::format("{} clusters", n),
                           "as many clusters as the groups' chiplets");
  Allocation out;
  out.group_of_cluster = greedy(cluster_load, group_size);
  improve(cluster_load, group_size, out.group_of_cluster);  // swaps only: every group is full
  const double total = std::accumulate(cluster_load.begin(), cluster_load.end(), 0.0);
  std::vector<double> share(cluster_load.size(), 0.0), target;
  for (std::size_t c = 0; c < share.size() && total > 0; ++c)
    share[c] = cluster_load[c] / total;
  for (const int size : group_size)
    target.push_back(static_cast<double>(size) / n);
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const double greedy_deviation = total_deviation(share, out.group_of_cluster, target);
  // One group, or one cluster per group: every assignment gives the groups the same loads.
  const bool trivial = groups == 1 || std::all_of(group_size.begin(), group_size.end(),
                                                  [](int s) { return s <= 1; });
  if (trivial || total <= 0 || greedy_deviation <= 1e-12) {
    out.report = {trivial || total <= 0 ? "trivial" : "optimal", greedy_deviation, greedy_deviation,
                  0.0, elapsed()};
    return out;
  }
  Program p;  // x[c][g] at c * groups + g, then t[g]; rows: assignment, size, above, below
  for (int c = 0; c < n; ++c)
    for (int g = 0; g < groups; ++g) {
      const double v = share[static_cast<std::size_t>(c)];
      p.add_column({{c, 1.0}, {n + g, 1.0}, {n + groups + g, v}, {n + 2 * groups + g, v}}, 0.0, 1.0,
                   0.0);
    }
  p.integers = n * groups;
  for (int g = 0; g < groups; ++g)
    p.add_column({{n + groups + g, -1.0}, {n + 2 * groups + g, 1.0}}, 0.0, 1e30, 1.0);
  for (int c = 0; c < n; ++c)
    p.row_lower.push_back(1.0), p.row_upper.push_back(1.0);
  for (int g = 0; g < groups; ++g) {
    const auto size = static_cast<double>(group_size[static_cast<std::size_t>(g)]);
    p.row_lower.push_back(size), p.row_upper.push_back(size);
  }
  for (int g = 0; g < groups; ++g)  // Σ V x − t ≤ target
    p.row_lower.push_back(-1e30), p.row_upper.push_back(target[static_cast<std::size_t>(g)]);
  for (int g = 0; g < groups; ++g)  // Σ V x + t ≥ target
    p.row_lower.push_back(target[static_cast<std::size_t>(g)]), p.row_upper.push_back(1e30);
  fix_heaviest_to_group0(cluster_load, group_size, out.group_of_cluster, p);
  std::vector<double> deviations(static_cast<std::size_t>(groups), 0.0);
  for (std::size_t c = 0; c < share.size(); ++c)
    deviations[static_cast<std::size_t>(out.group_of_cluster[c])] += share[c];
  for (std::size_t g = 0; g < deviations.size(); ++g)
    deviations[g] = std::abs(deviations[g] - target[g]);
  const auto outcome = solve(p, limits, start_from(out.group_of_cluster, groups, deviations), 1e-9);
  read_assignment(outcome, groups, out.group_of_cluster);
  const double objective_value = total_deviation(share, out.group_of_cluster, target);
  const double bound = std::clamp(outcome.best_bound, 0.0, objective_value);
  out.report.status = outcome.status;
  out.report.objective = objective_value;
  out.report.bound = outcome.status == "optimal" ? objective_value : bound;
  out.report.gap =
      objective_value > 0 ? (objective_value - out.report.bound) / objective_value : 0.0;
  out.report.seconds = elapsed();
  return out;
}

}  // namespace mozart::placement
