// Co-activation clustering: the paper's Algorithm 1 (also Occult's greedy collaboration
// clustering) with the Eq. 5 allocation, and the project's farthest-point-sampling clustering
// within a chiplet load bound followed by the integer-programming allocation.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "mozart/core/error.hpp"
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

// The first cluster starts from the most co-activated pair; later ones from the expert least
// co-activated with everything placed so far.
std::vector<int> collaboration_seeds(const LayerInput& in, const std::vector<bool>& placed,
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

// Algorithm 1 of the paper (and Occult's collaboration clustering): the first cluster starts
// from the most co-activated pair, each later one from the unplaced expert least co-activated
// with everything placed so far; a cluster grows by the unplaced expert most co-activated with
// its members (the highest sum is the highest average: the members are the same for every
// candidate) until it holds its size. Ties go to the heavier, then the lower id.
std::vector<std::vector<int>> collaboration_clusters(const LayerInput& in,
                                                     const std::vector<int>& sizes) {
  std::vector<std::vector<int>> clusters(sizes.size());
  std::vector<bool> placed(static_cast<std::size_t>(in.experts), false);
  std::vector<int> all_placed;
  for (std::size_t c = 0; c < clusters.size() && sizes[c] > 0; ++c) {
    auto& cluster = clusters[c];
    for (const int seed : collaboration_seeds(in, placed, all_placed, c == 0)) {
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
  return clusters;
}

// Within a group, clusters take its chiplets in order (place() may permute them later).
std::vector<int> chiplets_in_order(const DeviceLayout& layout,
                                   const std::vector<int>& group_of_cluster) {
  std::vector<int> chiplet(group_of_cluster.size());
  std::vector<std::size_t> next(static_cast<std::size_t>(layout.group_count()), 0);
  for (std::size_t c = 0; c < group_of_cluster.size(); ++c) {
    const int g = group_of_cluster[c];
    chiplet[c] = layout.chiplets_in_group(g)[next[static_cast<std::size_t>(g)]++];
  }
  return chiplet;
}

std::vector<double> cluster_loads(const LayerInput& in,
                                  const std::vector<std::vector<int>>& clusters) {
  std::vector<double> out;
  for (const auto& cluster : clusters) {
    double load = 0;
    for (const int e : cluster)
      load += load_of(in, e);
    out.push_back(load);
  }
  return out;
}

class Occult final : public Placer {
 public:
  std::string name() const override { return "occult"; }
  bool free_chiplet_labels() const override { return true; }
  LayerPlacement place(const LayerInput& in, const DeviceLayout& layout, const PlacerOptions&,
                       std::optional<SolverReport>&) const override {
    const auto clusters =
        collaboration_clusters(in, even_sizes(in.experts, layout.chiplet_count()));
    std::vector<int> chiplet(clusters.size());
    std::iota(chiplet.begin(), chiplet.end(), 0);
    return from_clusters(in.layer_id, in.experts, clusters, chiplet);
  }
};

// The paper's placer as written: one cluster per expert chiplet, N_e / N_c experts each
// (sizes differing by one where that does not divide), allocated by Eq. 5.
class MozartPaper final : public Placer {
 public:
  std::string name() const override { return "mozart-paper"; }
  bool free_chiplet_labels() const override { return true; }
  LayerPlacement place(const LayerInput& in, const DeviceLayout& layout,
                       const PlacerOptions& options,
                       std::optional<SolverReport>& report) const override {
    const auto clusters =
        collaboration_clusters(in, even_sizes(in.experts, layout.chiplet_count()));
    std::vector<int> group_size;
    for (int g = 0; g < layout.group_count(); ++g)
      group_size.push_back(static_cast<int>(layout.chiplets_in_group(g).size()));
    const Allocation allocation =
        allocate_clusters_evenly(cluster_loads(in, clusters), group_size, options.solver);
    report = allocation.report;
    return from_clusters(in.layer_id, in.experts, clusters,
                         chiplets_in_order(layout, allocation.group_of_cluster));
  }
};

// Clusters with their loads and, for every expert, its co-activation with each cluster's
// members other than itself: what a swap of two experts changes, in O(1).
class Partition {
 public:
  Partition(const LayerInput& in, std::vector<std::vector<int>> clusters)
      : in_(in), clusters_(std::move(clusters)), n_(clusters_.size()) {
    const auto experts = static_cast<std::size_t>(in.experts);
    cluster_of_.assign(experts, n_);
    inside_.assign(experts * n_, 0.0);
    for (std::size_t c = 0; c < n_; ++c) {
      double load = 0;
      for (const int m : clusters_[c]) {
        cluster_of_[static_cast<std::size_t>(m)] = c;
        load += load_of(in, m);
        for (std::size_t e = 0; e < experts; ++e)
          if (static_cast<std::size_t>(m) != e)
            inside_[e * n_ + c] += coact(in, static_cast<int>(e), m);
      }
      load_.push_back(load);
    }
  }

  std::size_t cluster_of(int e) const { return cluster_of_[static_cast<std::size_t>(e)]; }
  double load(std::size_t c) const { return load_[c]; }
  const std::vector<double>& loads() const { return load_; }
  std::vector<std::vector<int>> take() { return std::move(clusters_); }

  // The co-activation kept inside clusters gained by swapping a and b (in different clusters).
  double gain(int a, int b) const {
    const std::size_t x = cluster_of(a), y = cluster_of(b);
    const auto ai = static_cast<std::size_t>(a), bi = static_cast<std::size_t>(b);
    const double ab = coact(in_, a, b);
    return inside_[ai * n_ + y] - ab + inside_[bi * n_ + x] - ab - inside_[ai * n_ + x] -
           inside_[bi * n_ + y];
  }

  void swap(int a, int b) {
    const std::size_t x = cluster_of(a), y = cluster_of(b);
    std::replace(clusters_[x].begin(), clusters_[x].end(), a, b);
    std::replace(clusters_[y].begin(), clusters_[y].end(), b, a);
    const double shift = load_of(in_, b) - load_of(in_, a);
    load_[x] += shift;
    load_[y] -= shift;
    cluster_of_[static_cast<std::size_t>(a)] = y;
    cluster_of_[static_cast<std::size_t>(b)] = x;
    // a left x for y and b the other way; an expert never counts itself.
    const auto ai = static_cast<std::size_t>(a), bi = static_cast<std::size_t>(b);
    for (std::size_t e = 0; e < static_cast<std::size_t>(in_.experts); ++e) {
      const double delta = coact(in_, int(e), b) - coact(in_, int(e), a);
      inside_[e * n_ + x] += delta;
      inside_[e * n_ + y] -= delta;
    }
    inside_[ai * n_ + x] += coact(in_, a, a);
    inside_[ai * n_ + y] -= coact(in_, a, a);
    inside_[bi * n_ + y] += coact(in_, b, b);
    inside_[bi * n_ + x] -= coact(in_, b, b);
  }

  // Swaps that raise the co-activation kept inside clusters (the pairwise picture of C_T) and
  // keep both clusters within the load bound (or lower the larger of the two when one is over
  // it), in sweeps until none helps: each expert in turn swaps with the partner that gains most.
  void polish(double bound) {
    if (n_ >= static_cast<std::size_t>(in_.experts))
      return;  // one expert per cluster: no swap changes what stays together
    for (int sweep = 0; sweep < kSweeps; ++sweep) {
      bool changed = false;
      for (int a = 0; a < in_.experts; ++a) {
        const std::size_t x = cluster_of(a);
        double best_gain = 1e-9;
        int best_b = -1;
        for (int b = 0; b < in_.experts; ++b) {
          const std::size_t y = cluster_of(b);
          if (x == y)
            continue;
          const double shift = load_of(in_, b) - load_of(in_, a);
          if (std::max(load_[x] + shift, load_[y] - shift) >
              std::max(bound, std::max(load_[x], load_[y])))
            continue;
          const double g = gain(a, b);
          if (g > best_gain) {
            best_gain = g;
            best_b = b;
          }
        }
        if (best_b >= 0) {
          swap(a, best_b);
          changed = true;
        }
      }
      if (!changed)
        return;
    }
  }

  // Swaps that lower the load over the bound, Σ_c max(0, load[c] − bound), each time out of
  // the fullest cluster: the largest cut in it, ties to the swap that keeps the most
  // co-activation inside. True when every cluster ends within the bound.
  bool repair(double bound) {
    const auto over = [&](double load) { return std::max(0.0, load - bound); };
    for (int step = 0; step < 4 * in_.experts; ++step) {
      const auto x =
          static_cast<std::size_t>(std::max_element(load_.begin(), load_.end()) - load_.begin());
      if (within(load_[x], bound))
        return true;
      const double eps = 1e-9 * std::max(1.0, bound);
      double best_cut = 0, best_gain = 0;
      int best_a = -1, best_b = -1;
      for (const int a : clusters_[x])
        for (int b = 0; b < in_.experts; ++b) {
          const std::size_t y = cluster_of(b);
          const double shift = load_of(in_, a) - load_of(in_, b);
          if (y == x || shift <= 0)
            continue;
          const double cut =
              over(load_[x]) + over(load_[y]) - over(load_[x] - shift) - over(load_[y] + shift);
          if (cut <= eps)
            continue;
          const double g = gain(a, b);
          if (best_a < 0 || cut > best_cut + eps || (cut >= best_cut - eps && g > best_gain)) {
            best_cut = cut;
            best_gain = g;
            best_a = a;
            best_b = b;
          }
        }
      if (best_a < 0)
        return false;
      swap(best_a, best_b);
    }
    return std::all_of(load_.begin(), load_.end(), [&](double l) { return within(l, bound); });
  }

  static bool within(double load, double bound) { return load <= bound * (1 + 1e-12) + 1e-9; }

 private:
  static constexpr int kSweeps = 16;
  const LayerInput& in_;
  std::vector<std::vector<int>> clusters_;
  std::size_t n_;
  std::vector<std::size_t> cluster_of_;
  std::vector<double> inside_;  // inside_[e * n + c]
  std::vector<double> load_;
};

class Mozart final : public Placer {
 public:
  std::string name() const override { return "mozart"; }
  bool free_chiplet_labels() const override { return true; }

  // A given bound that some layer cannot meet: the error names the layer that misses it most.
  void check(const std::vector<LayerInput>& layers, const DeviceLayout& layout,
             const PlacerOptions& options) const override {
    if (options.chiplet_balance <= 0)
      return;
    std::optional<std::pair<Fullest, int>> worst;
    for (const auto& in : layers) {
      const auto least = least_fullest(in, even_sizes(in.experts, layout.chiplet_count()),
                                       options.chiplet_balance);
      if (least.unmet && (!worst || least.ratio > worst->first.ratio))
        worst = {least, in.layer_id};
    }
    if (worst)
      throw worst->first.error(options.chiplet_balance, worst->second);
  }

  LayerPlacement place(const LayerInput& in, const DeviceLayout& layout,
                       const PlacerOptions& options,
                       std::optional<SolverReport>& report) const override {
    const auto sizes = even_sizes(in.experts, layout.chiplet_count());
    const int used =
        static_cast<int>(std::count_if(sizes.begin(), sizes.end(), [](int s) { return s > 0; }));
    const double mean = std::accumulate(in.load.begin(), in.load.end(), 0.0) / std::max(1, used);
    const bool given = options.chiplet_balance > 0;
    double balance = given ? options.chiplet_balance : kDefaultChipletBalance;
    const Fullest least = least_fullest(in, sizes, balance);
    if (given && least.unmet)
      throw least.error(balance, in.layer_id);
    if (!given)
      balance = std::max(balance, least.ratio);  // the aim, as low as it can go
    auto clusters = best_clusters(in, sizes, balance, mean, given);
    std::erase_if(clusters, [](const auto& c) { return c.empty(); });
    const auto cluster_load = cluster_loads(in, clusters);
    // With fewer experts than chiplets, each group takes its share of the clusters, so that
    // every group's memory streams as many weights as the others.
    std::vector<int> capacity;
    const auto count = static_cast<double>(clusters.size());
    for (int g = 0; g < layout.group_count(); ++g) {
      const auto chiplets = static_cast<double>(layout.chiplets_in_group(g).size());
      capacity.push_back(static_cast<int>(
          std::min(chiplets, std::ceil(count * chiplets / layout.chiplet_count() - 1e-9))));
    }
    const Allocation allocation = allocate_clusters(cluster_load, capacity, options.solver);
    report = allocation.report;
    return from_clusters(in.layer_id, in.experts, clusters,
                         chiplets_in_order(layout, allocation.group_of_cluster));
  }

 private:
  // The least load over the mean that the fullest chiplet can carry, and why.
  struct Fullest {
    double ratio = 1;
    bool unmet = false;  // by the bound asked for
    std::string why;

    core::InputError error(double balance, int layer_id) const {
      return core::InputError("--chiplet-balance", fmt::format("{:g} cannot be met at layer {}: {}",
                                                               balance, layer_id, why));
    }
  };

  // The chiplet that holds the heaviest expert holds at least the smallest cluster's count of
  // experts, so its load is at least that expert's and the lightest others'. A bound below that
  // (or below 1: the fullest chiplet carries at least the mean) cannot be met.
  static Fullest least_fullest(const LayerInput& in, const std::vector<int>& sizes,
                               double balance) {
    const int used =
        static_cast<int>(std::count_if(sizes.begin(), sizes.end(), [](int s) { return s > 0; }));
    const int smallest = sizes[static_cast<std::size_t>(std::max(0, used - 1))];
    const double mean = std::accumulate(in.load.begin(), in.load.end(), 0.0) / std::max(1, used);
    if (balance < 1)
      return {1, true, "the fullest chiplet carries at least the mean chiplet load"};
    if (mean <= 0)
      return {};  // no load: every chiplet carries the mean
    const auto heaviest =
        static_cast<int>(std::max_element(in.load.begin(), in.load.end()) - in.load.begin());
    std::vector<double> others;
    for (int e = 0; e < in.experts; ++e)
      if (e != heaviest)
        others.push_back(load_of(in, e));
    std::sort(others.begin(), others.end());
    const auto partners = static_cast<std::size_t>(std::max(0, smallest - 1));
    const double least =
        load_of(in, heaviest) +
        std::accumulate(others.begin(), others.begin() + static_cast<std::ptrdiff_t>(partners),
                        0.0);
    Fullest out{std::max(1.0, least / mean), !Partition::within(least, balance * mean), ""};
    if (partners == 0)
      out.why = fmt::format("expert {} alone carries {:.3g}x the mean chiplet load", heaviest,
                            least / mean);
    else
      out.why = fmt::format(
          "expert {} with the {} lightest others (every chiplet holds at least {}) carries "
          "{:.3g}x the mean chiplet load",
          heaviest, partners, smallest, least / mean);
    return out;
  }

  // Farthest-point clusterings started from each of the heaviest experts in turn; of those
  // within the bound, the one that keeps the most co-activation inside its clusters wins (ties:
  // the earlier start). When none is: with no bound given, the one that keeps the most inside;
  // with one, clusters packed by load alone (heaviest expert first onto the lightest cluster
  // with room), then repaired and polished, and when those are not within it either, an
  // InputError saying by how much the most even clustering found missed it.
  static std::vector<std::vector<int>> best_clusters(const LayerInput& in,
                                                     const std::vector<int>& sizes, double balance,
                                                     double mean, bool given) {
    const double bound = balance * mean;
    std::vector<int> by_load(static_cast<std::size_t>(in.experts));
    std::iota(by_load.begin(), by_load.end(), 0);
    std::stable_sort(by_load.begin(), by_load.end(),
                     [&](int a, int b) { return load_of(in, a) > load_of(in, b); });
    std::vector<std::vector<int>> best, best_over;
    double best_inside = -1, best_over_inside = -1;
    for (int start = 0; start < std::min(kStarts, in.experts); ++start) {
      auto [clusters, within] =
          farthest_point_clusters(in, sizes, bound, by_load[std::size_t(start)]);
      double inside = 0;
      for (const auto& cluster : clusters)
        for (std::size_t i = 0; i < cluster.size(); ++i)
          for (std::size_t j = i + 1; j < cluster.size(); ++j)
            inside += coact(in, cluster[i], cluster[j]);
      auto& kept = within ? best : best_over;
      double& kept_inside = within ? best_inside : best_over_inside;
      if (inside > kept_inside) {
        kept_inside = inside;
        kept = std::move(clusters);
      }
    }
    if (best_inside >= 0)
      return best;
    if (!given)
      return best_over;
    Partition packed(in, packed_by_load(in, sizes, by_load));
    const bool within = packed.repair(bound);
    packed.polish(bound);
    if (within)
      return packed.take();
    const double fullest = *std::max_element(packed.loads().begin(), packed.loads().end());
    throw core::InputError(
        "--chiplet-balance",
        fmt::format("{:g} cannot be met at layer {}: the most even clustering found puts {:.3g}x "
                    "the mean chiplet load on one chiplet",
                    balance, in.layer_id, fullest / mean));
  }

  static constexpr int kStarts = 8;

  // Heaviest expert first, each onto the lightest cluster with room (ties: the lower index).
  static std::vector<std::vector<int>> packed_by_load(const LayerInput& in,
                                                      const std::vector<int>& sizes,
                                                      const std::vector<int>& by_load) {
    std::vector<std::vector<int>> clusters(sizes.size());
    std::vector<double> load(sizes.size(), 0.0);
    for (const int e : by_load) {
      std::size_t to = sizes.size();
      for (std::size_t c = 0; c < sizes.size(); ++c)
        if (static_cast<int>(clusters[c].size()) < sizes[c] &&
            (to == sizes.size() || load[c] < load[to]))
          to = c;
      clusters[to].push_back(e);
      load[to] += load_of(in, e);
    }
    return clusters;
  }

  // Seeds: the first given, then repeatedly the expert whose strongest co-activation with a
  // seed is weakest (farthest point). Growth: each cluster in turn takes the unplaced expert
  // with the most co-activation with it among those that keep its load within the bound, or
  // the lightest unplaced expert when none does. Then polish, and where a cluster is over the
  // bound, repair and polish again. Also says whether every cluster ends within the bound.
  static std::pair<std::vector<std::vector<int>>, bool> farthest_point_clusters(
      const LayerInput& in, const std::vector<int>& sizes, double bound, int first_seed) {
    const int used =
        static_cast<int>(std::count_if(sizes.begin(), sizes.end(), [](int s) { return s > 0; }));
    std::vector<std::vector<int>> clusters(sizes.size());
    std::vector<bool> placed(static_cast<std::size_t>(in.experts), false);
    std::vector<double> load(sizes.size(), 0.0);
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
    Partition partition(in, std::move(clusters));
    partition.polish(bound);
    const auto& loads = partition.loads();
    if (std::all_of(loads.begin(), loads.end(),
                    [&](double l) { return Partition::within(l, bound); }))
      return {partition.take(), true};
    const bool within = partition.repair(bound);
    partition.polish(bound);
    return {partition.take(), within};
  }

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

std::unique_ptr<Placer> make_mozart_paper() {
  return std::make_unique<MozartPaper>();
}

}  // namespace mozart::placement::detail
