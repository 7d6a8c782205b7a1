// Co-activation clustering: Occult's greedy collaboration clustering and Mozart's
// farthest-point-sampling clustering followed by the integer-programming allocation.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "mozart/placement/placer_detail.hpp"

namespace mozart::placement::detail {
namespace {

double coact(const LayerInput& in, int a, int b) {
  return in.coactivation[static_cast<std::size_t>(a) * static_cast<std::size_t>(in.experts) +
                         static_cast<std::size_t>(b)];
}

double load_of(const LayerInput& in, int e) {
  return in.load[static_cast<std::size_t>(e)];
}

// The unplaced expert with the most affinity to `members`; ties go to the heavier, then lower id.
int best_joiner(const LayerInput& in, const std::vector<bool>& placed,
                const std::vector<int>& members, double load_room) {
  int best = -1;
  double best_affinity = -1;
  for (int e = 0; e < in.experts; ++e) {
    if (placed[static_cast<std::size_t>(e)] || load_of(in, e) > load_room)
      continue;
    const double a = affinity(in, e, members);
    if (a > best_affinity || (a == best_affinity && load_of(in, e) > load_of(in, best))) {
      best = e;
      best_affinity = a;
    }
  }
  return best;
}

LayerPlacement from_clusters(int layer_id, int experts,
                             const std::vector<std::vector<int>>& clusters,
                             const std::vector<int>& chiplet_of_cluster) {
  LayerPlacement out{layer_id, std::vector<std::vector<int>>(static_cast<std::size_t>(experts))};
  for (std::size_t c = 0; c < clusters.size(); ++c)
    for (const int e : clusters[c])
      out.chiplets_of[static_cast<std::size_t>(e)] = {chiplet_of_cluster[c]};
  return out;
}

class Occult final : public Placer {
 public:
  std::string name() const override { return "occult"; }
  LayerPlacement place(const LayerInput& in, const DeviceLayout& layout, const PlacerOptions&,
                       std::optional<SolverReport>&) const override {
    const auto sizes = even_sizes(in.experts, layout.chiplet_count());
    std::vector<std::vector<int>> clusters(sizes.size());
    std::vector<bool> placed(static_cast<std::size_t>(in.experts), false);
    std::vector<int> all_placed;
    for (std::size_t c = 0; c < clusters.size() && sizes[c] > 0; ++c) {
      auto& cluster = clusters[c];
      for (const int seed : seeds(in, placed, all_placed, c == 0)) {
        if (static_cast<int>(cluster.size()) < sizes[c]) {
          cluster.push_back(seed);
          placed[static_cast<std::size_t>(seed)] = true;
        }
      }
      while (static_cast<int>(cluster.size()) < sizes[c]) {
        const int e = best_joiner(in, placed, cluster, 1e300);
        cluster.push_back(e);
        placed[static_cast<std::size_t>(e)] = true;
      }
      all_placed.insert(all_placed.end(), cluster.begin(), cluster.end());
    }
    std::vector<int> chiplet(clusters.size());
    std::iota(chiplet.begin(), chiplet.end(), 0);
    return from_clusters(in.layer_id, in.experts, clusters, chiplet);
  }

 private:
  // The first cluster starts from the most co-activated pair; later ones from the expert least
  // co-activated with everything placed so far.
  static std::vector<int> seeds(const LayerInput& in, const std::vector<bool>& placed,
                                const std::vector<int>& all_placed, bool first) {
    if (first && in.experts >= 2) {
      int a = 0, b = 1;
      for (int i = 0; i < in.experts; ++i)
        for (int j = i + 1; j < in.experts; ++j)
          if (coact(in, i, j) > coact(in, a, b))
            a = i, b = j;
      return {a, b};
    }
    int seed = -1;
    double least = 0;
    for (int e = 0; e < in.experts; ++e) {
      if (placed[static_cast<std::size_t>(e)])
        continue;
      const double a = affinity(in, e, all_placed);
      if (seed < 0 || a < least || (a == least && load_of(in, e) > load_of(in, seed))) {
        seed = e;
        least = a;
      }
    }
    return {seed};
  }
};

class Mozart final : public Placer {
 public:
  std::string name() const override { return "mozart"; }
  LayerPlacement place(const LayerInput& in, const DeviceLayout& layout,
                       const PlacerOptions& options,
                       std::optional<SolverReport>& report) const override {
    auto clusters = best_clusters(in, layout.chiplet_count(), options.chiplet_balance);
    std::erase_if(clusters, [](const auto& c) { return c.empty(); });
    std::vector<double> cluster_load;
    for (const auto& cluster : clusters) {
      double load = 0;
      for (const int e : cluster)
        load += load_of(in, e);
      cluster_load.push_back(load);
    }
    // With fewer experts than chiplets, each group takes its share of the clusters, so that
    // every group's memory streams as many weights as the others.
    std::vector<int> capacity;
    const auto used = static_cast<double>(clusters.size());
    for (int g = 0; g < layout.group_count(); ++g) {
      const auto chiplets = static_cast<double>(layout.chiplets_in_group(g).size());
      capacity.push_back(static_cast<int>(
          std::min(chiplets, std::ceil(used * chiplets / layout.chiplet_count() - 1e-9))));
    }
    const Allocation allocation = allocate_clusters(cluster_load, capacity, options.solver);
    report = allocation.report;
    // Within a group, clusters take its chiplets in order.
    std::vector<int> chiplet(clusters.size());
    std::vector<std::size_t> next(capacity.size(), 0);
    for (std::size_t c = 0; c < clusters.size(); ++c) {
      const int g = allocation.group_of_cluster[c];
      chiplet[c] = layout.chiplets_in_group(g)[next[static_cast<std::size_t>(g)]++];
    }
    return from_clusters(in.layer_id, in.experts, clusters, chiplet);
  }

 private:
  // Seeds: the heaviest expert, then repeatedly the expert whose strongest co-activation with a
  // seed is weakest (farthest point). Growth: each cluster in turn takes the unplaced expert
  // with the most co-activation with it among those that keep its load within the bound, or
  // the lightest unplaced expert when none does.
  // Farthest-point clusterings started from each of the heaviest experts in turn; the one that
  // keeps the most co-activation inside its clusters wins (ties: the earlier start).
  static std::vector<std::vector<int>> best_clusters(const LayerInput& in, int count,
                                                     double balance) {
    std::vector<int> by_load(static_cast<std::size_t>(in.experts));
    std::iota(by_load.begin(), by_load.end(), 0);
    std::stable_sort(by_load.begin(), by_load.end(),
                     [&](int a, int b) { return load_of(in, a) > load_of(in, b); });
    std::vector<std::vector<int>> best;
    double best_inside = -1;
    for (int start = 0; start < std::min(kStarts, in.experts); ++start) {
      auto clusters = farthest_point_clusters(in, count, balance, by_load[std::size_t(start)]);
      double inside = 0;
      for (const auto& cluster : clusters)
        for (std::size_t i = 0; i < cluster.size(); ++i)
          for (std::size_t j = i + 1; j < cluster.size(); ++j)
            inside += coact(in, cluster[i], cluster[j]);
      if (inside > best_inside) {
        best_inside = inside;
        best = std::move(clusters);
      }
    }
    return best;
  }

  static constexpr int kStarts = 8;

  static std::vector<std::vector<int>> farthest_point_clusters(const LayerInput& in, int count,
                                                               double balance, int first_seed) {
    const auto sizes = even_sizes(in.experts, count);
    const int used =
        static_cast<int>(std::count_if(sizes.begin(), sizes.end(), [](int s) { return s > 0; }));
    std::vector<std::vector<int>> clusters(sizes.size());
    std::vector<bool> placed(static_cast<std::size_t>(in.experts), false);
    std::vector<double> load(sizes.size(), 0.0);
    const double bound =
        balance * std::accumulate(in.load.begin(), in.load.end(), 0.0) / std::max(1, used);
    std::vector<double> closeness(static_cast<std::size_t>(in.experts), 0.0);  // to the seeds
    for (int c = 0; c < used; ++c) {
      const int seed = c == 0 ? first_seed : farthest(in, placed, closeness);
      clusters[static_cast<std::size_t>(c)].push_back(seed);
      placed[static_cast<std::size_t>(seed)] = true;
      load[static_cast<std::size_t>(c)] += load_of(in, seed);
      for (int e = 0; e < in.experts; ++e)
        closeness[static_cast<std::size_t>(e)] =
            std::max(closeness[static_cast<std::size_t>(e)], coact(in, e, seed));
    }
    // Each cluster, in seed order, is filled before the next: grown side by side, clusters
    // spread a co-activated set thinly over many of them.
    for (int c = 0; c < used; ++c) {
      const auto ci = static_cast<std::size_t>(c);
      while (static_cast<int>(clusters[ci].size()) < sizes[ci]) {
        int e = best_joiner(in, placed, clusters[ci], bound - load[ci]);
        if (e < 0)
          e = lightest(in, placed);
        clusters[ci].push_back(e);
        placed[static_cast<std::size_t>(e)] = true;
        load[ci] += load_of(in, e);
      }
    }
    polish(in, clusters, load, bound);
    return clusters;
  }

  // Swaps of experts between clusters that raise the co-activation kept inside clusters (the
  // pairwise picture of C_T) and keep both clusters within the load bound (or lower the larger
  // of the two when one is over it), until none helps.
  static void polish(const LayerInput& in, std::vector<std::vector<int>>& clusters,
                     std::vector<double>& load, double bound) {
    const auto n = clusters.size();
    const auto experts = static_cast<std::size_t>(in.experts);
    if (n >= experts)
      return;  // one expert per cluster: no swap changes what stays together
    std::vector<std::size_t> cluster_of(experts, n);
    for (std::size_t c = 0; c < n; ++c)
      for (const int e : clusters[c])
        cluster_of[static_cast<std::size_t>(e)] = c;
    // inside[e * n + c]: e's co-activation with the members of cluster c other than itself.
    std::vector<double> inside(experts * n, 0);
    for (std::size_t c = 0; c < n; ++c)
      for (std::size_t e = 0; e < experts; ++e)
        for (const int m : clusters[c])
          if (static_cast<std::size_t>(m) != e)
            inside[e * n + c] += coact(in, static_cast<int>(e), m);
    // Sweeps: each expert in turn swaps with the partner that gains most, if any does.
    for (int sweep = 0; sweep < kSweeps; ++sweep) {
      bool changed = false;
      for (int a = 0; a < in.experts; ++a) {
        const std::size_t x = cluster_of[static_cast<std::size_t>(a)];
        double best_gain = 1e-9;
        int best_b = -1;
        for (int b = 0; b < in.experts; ++b) {
          const std::size_t y = cluster_of[static_cast<std::size_t>(b)];
          if (x == y)
            continue;
          const double shift = load_of(in, b) - load_of(in, a);
          if (std::max(load[x] + shift, load[y] - shift) >
              std::max(bound, std::max(load[x], load[y])))
            continue;
          const double ab = coact(in, a, b);
          const double gain = inside[static_cast<std::size_t>(a) * n + y] - ab +
                              inside[static_cast<std::size_t>(b) * n + x] - ab -
                              inside[static_cast<std::size_t>(a) * n + x] -
                              inside[static_cast<std::size_t>(b) * n + y];
          if (gain > best_gain) {
            best_gain = gain;
            best_b = b;
          }
        }
        if (best_b < 0)
          continue;
        const std::size_t y = cluster_of[static_cast<std::size_t>(best_b)];
        std::replace(clusters[x].begin(), clusters[x].end(), a, best_b);
        std::replace(clusters[y].begin(), clusters[y].end(), best_b, a);
        const double shift = load_of(in, best_b) - load_of(in, a);
        load[x] += shift;
        load[y] -= shift;
        cluster_of[static_cast<std::size_t>(a)] = y;
        cluster_of[static_cast<std::size_t>(best_b)] = x;
        // a left x for y and b the other way; an expert never counts itself.
        const auto ai = static_cast<std::size_t>(a), bi = static_cast<std::size_t>(best_b);
        for (std::size_t e = 0; e < experts; ++e) {
          const double delta = coact(in, int(e), best_b) - coact(in, int(e), a);
          inside[e * n + x] += delta;
          inside[e * n + y] -= delta;
        }
        inside[ai * n + x] += coact(in, a, a);
        inside[ai * n + y] -= coact(in, a, a);
        inside[bi * n + y] += coact(in, best_b, best_b);
        inside[bi * n + x] -= coact(in, best_b, best_b);
        changed = true;
      }
      if (!changed)
        return;
    }
  }

  static constexpr int kSweeps = 16;

  static int lightest(const LayerInput& in, const std::vector<bool>& placed) {
    int best = -1;
    for (int e = 0; e < in.experts; ++e)
      if (!placed[static_cast<std::size_t>(e)] && (best < 0 || load_of(in, e) < load_of(in, best)))
        best = e;
    return best;
  }

  // The unplaced expert whose strongest co-activation with a seed is weakest; ties go to the
  // heavier, then the lower id.
  static int farthest(const LayerInput& in, const std::vector<bool>& placed,
                      const std::vector<double>& closeness) {
    int best = -1;
    for (int e = 0; e < in.experts; ++e) {
      const auto i = static_cast<std::size_t>(e);
      if (placed[i])
        continue;
      if (best < 0 || closeness[i] < closeness[static_cast<std::size_t>(best)] ||
          (closeness[i] == closeness[static_cast<std::size_t>(best)] &&
           load_of(in, e) > load_of(in, best)))
        best = e;
    }
    return best;
  }
};

}  // namespace

std::vector<int> even_sizes(int items, int clusters) {
  std::vector<int> sizes(static_cast<std::size_t>(clusters));
  for (int c = 0; c < clusters; ++c)
    sizes[static_cast<std::size_t>(c)] = (c + 1) * items / clusters - c * items / clusters;
  std::sort(sizes.begin(), sizes.end(), std::greater<>());  // empty clusters last
  return sizes;
}

double affinity(const LayerInput& in, int e, const std::vector<int>& members) {
  double a = 0;
  for (const int m : members)
    a += coact(in, e, m);
  return a;
}

std::unique_ptr<Placer> make_occult() {
  return std::make_unique<Occult>();
}

std::unique_ptr<Placer> make_mozart() {
  return std::make_unique<Mozart>();
}

}  // namespace mozart::placement::detail
