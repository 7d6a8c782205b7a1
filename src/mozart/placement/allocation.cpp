// Mozart's allocation of clusters to groups as a binary integer program, solved by COIN-OR CBC:
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
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

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
  const int columns = n * groups + 1;  // x[c][g] at c * groups + g, then z
  const int rows = n + 2 * groups;     // assignment, capacity, load
  std::vector<CoinBigIndex> starts{0};
  std::vector<int> index;
  std::vector<double> value;
  for (int c = 0; c < n; ++c) {
    const double load = cluster_load[static_cast<std::size_t>(c)] * scale;
    for (int g = 0; g < groups; ++g) {
      index.insert(index.end(), {c, n + g, n + groups + g});
      value.insert(value.end(), {1.0, 1.0, load});
      starts.push_back(static_cast<CoinBigIndex>(index.size()));
    }
  }
  for (int g = 0; g < groups; ++g) {
    index.push_back(n + groups + g);
    value.push_back(-1.0);
  }
  starts.push_back(static_cast<CoinBigIndex>(index.size()));
  const auto z = static_cast<std::size_t>(n) * static_cast<std::size_t>(groups);
  std::vector<double> lower(z + 1, 0.0), upper(z + 1, 1.0), objective(z + 1, 0.0);
  upper[z] = 1e30;
  objective[z] = 1.0;
  std::vector<double> row_lower, row_upper;
  for (int c = 0; c < n; ++c)
    row_lower.push_back(1.0), row_upper.push_back(1.0);
  for (int g = 0; g < groups; ++g)
    row_lower.push_back(-1e30), row_upper.push_back(capacity[static_cast<std::size_t>(g)]);
  for (int g = 0; g < groups; ++g)
    row_lower.push_back(-1e30), row_upper.push_back(0.0);
  // Alike groups are interchangeable: the heaviest cluster may as well be in group 0, where the
  // greedy start puts it (it goes first, and ties go to the lowest group).
  const bool alike =
      std::all_of(capacity.begin(), capacity.end(), [&](int c) { return c == capacity.front(); });
  if (alike) {
    const auto heaviest =
        std::max_element(cluster_load.begin(), cluster_load.end()) - cluster_load.begin();
    relabel(out.group_of_cluster, out.group_of_cluster[static_cast<std::size_t>(heaviest)], 0);
    lower[static_cast<std::size_t>(heaviest) * static_cast<std::size_t>(groups)] = 1.0;
  }

  CbcProgram program;
  Cbc_Model* model = program.get();
  Cbc_loadProblem(model, columns, rows, starts.data(), index.data(), value.data(), lower.data(),
                  upper.data(), objective.data(), row_lower.data(), row_upper.data());
  for (int col = 0; col + 1 < columns; ++col)
    Cbc_setInteger(model, col);
  Cbc_setLogLevel(model, 0);
  Cbc_setMaximumSeconds(model, limits.seconds);
  Cbc_setMaximumNodes(model, limits.nodes);
  // The LP bound (the mean group load) is what the cuts would tighten; they cost more at the
  // root than they save on these small programs. The MIP start (greedy, improved by swaps)
  // stands in for CBC's primal heuristics, which found nothing better and took half the time.
  Cbc_setParameter(model, "cuts", "off");
  Cbc_setParameter(model, "preprocess", "off");
  Cbc_setParameter(model, "heuristicsOnOff", "off");
  if (integral)
    Cbc_setAllowableGap(model, (1.0 - 1e-6) * scale);
  else
    Cbc_setAllowableFractionGap(model, 1e-7);
  std::vector<int> start_index;
  std::vector<double> start_value;
  for (int c = 0; c < n; ++c)
    for (int g = 0; g < groups; ++g) {
      start_index.push_back(c * groups + g);
      start_value.push_back(out.group_of_cluster[static_cast<std::size_t>(c)] == g ? 1.0 : 0.0);
    }
  start_index.push_back(columns - 1);
  start_value.push_back(greedy_max * scale);
  Cbc_setMIPStartI(model, static_cast<int>(start_index.size()), start_index.data(),
                   start_value.data());
  Cbc_solve(model);

  if (Cbc_isProvenInfeasible(model))
    throw core::InputError({"placement", "integer program", 0}, "infeasible",
                           "clusters that fit the groups' capacity");
  const double* solution = Cbc_bestSolution(model);
  if (solution != nullptr) {
    for (int c = 0; c < n; ++c)
      for (int g = 0; g < groups; ++g)
        if (solution[c * groups + g] > 0.5)
          out.group_of_cluster[static_cast<std::size_t>(c)] = g;
  }
  const double objective_value =
      largest_group_load(cluster_load, out.group_of_cluster, capacity.size());
  double bound =
      std::min(objective_value, std::max(Cbc_getBestPossibleObjValue(model) / scale, simple_bound));
  const bool optimal = Cbc_isProvenOptimal(model) != 0;
  if (optimal && integral)
    bound = objective_value;  // proved within one unit of the bound, on an integer objective
  out.report.status = optimal                            ? "optimal"
                      : Cbc_isSecondsLimitReached(model) ? "time limit"
                      : Cbc_isNodeLimitReached(model)    ? "node limit"
                                                         : "stopped";
  out.report.objective = objective_value;
  out.report.bound = bound;
  out.report.gap = objective_value > 0 ? (objective_value - bound) / objective_value : 0.0;
  out.report.seconds = elapsed();
  return out;
}

}  // namespace mozart::placement
