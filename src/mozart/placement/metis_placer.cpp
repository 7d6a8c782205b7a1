// A k-way partition of the co-activation graph with METIS: vertices are experts weighted by
// load and by one (two balance constraints), edges are co-activation counts. Parts that end
// over a chiplet's slots give their least attached experts to parts with room.
#include <algorithm>
#include <climits>
#include <cmath>

#include <fmt/format.h>
#include <metis.h>

#include "mozart/core/error.hpp"
#include "mozart/placement/placer_detail.hpp"

namespace mozart::placement::detail {
namespace {

class Metis final : public Placer {
 public:
  std::string name() const override { return "metis"; }
  bool free_chiplet_labels() const override { return true; }  // part numbers are labels
  LayerPlacement place(const LayerInput& in, const DeviceLayout& layout,
                       const PlacerOptions& options, std::optional<SolverReport>&) const override {
    const int parts = layout.chiplet_count();
    std::vector<idx_t> part(static_cast<std::size_t>(in.experts), 0);
    if (parts >= in.experts) {
      // One expert per part is every balanced partition's shape and cuts every edge whichever
      // part takes which expert; METIS refuses it (printing to stdout), so it is made here.
      for (int e = 0; e < in.experts; ++e)
        part[static_cast<std::size_t>(e)] = e;
    } else if (parts > 1) {
      partition(in, parts, options, part);
    }
    std::vector<std::vector<int>> members(static_cast<std::size_t>(parts));
    for (int e = 0; e < in.experts; ++e)
      members[static_cast<std::size_t>(part[static_cast<std::size_t>(e)])].push_back(e);
    fit_slots(in, layout.slots, members);
    LayerPlacement out{in.layer_id,
                       std::vector<std::vector<int>>(static_cast<std::size_t>(in.experts))};
    for (int c = 0; c < parts; ++c)
      for (const int e : members[static_cast<std::size_t>(c)])
        out.chiplets_of[static_cast<std::size_t>(e)] = {c};
    return out;
  }

 private:
  static void partition(const LayerInput& in, int parts, const PlacerOptions& options,
                        std::vector<idx_t>& part) {
    const auto e = static_cast<std::size_t>(in.experts);
    std::vector<idx_t> xadj{0}, adjncy, adjwgt, vwgt;
    const double max_c =
        std::max(1.0, *std::max_element(in.coactivation.begin(), in.coactivation.end()));
    const double max_load = std::max(1.0, *std::max_element(in.load.begin(), in.load.end()));
    for (std::size_t a = 0; a < e; ++a) {
      for (std::size_t b = 0; b < e; ++b) {
        const double c = in.coactivation[a * e + b];
        if (a == b || c <= 0)
          continue;
        adjncy.push_back(static_cast<idx_t>(b));
        // Scaled into METIS's integer range, keeping at least 1 for any co-activated pair.
        adjwgt.push_back(static_cast<idx_t>(std::max(1.0, std::round(c / max_c * 1e6))));
      }
      xadj.push_back(static_cast<idx_t>(adjncy.size()));
      vwgt.push_back(static_cast<idx_t>(std::max(1.0, std::round(in.load[a] / max_load * 1e6))));
      vwgt.push_back(1);
    }
    idx_t n = static_cast<idx_t>(e), ncon = 2, nparts = parts, objval = 0;
    const double tolerance =
        options.chiplet_balance > 0 ? options.chiplet_balance : kDefaultChipletBalance;
    std::vector<real_t> ubvec{static_cast<real_t>(tolerance), 1.05f};
    idx_t metis_options[METIS_NOPTIONS];
    METIS_SetDefaultOptions(metis_options);
    metis_options[METIS_OPTION_SEED] = static_cast<idx_t>(options.seed % INT_MAX);
    metis_options[METIS_OPTION_NUMBERING] = 0;
    const int status =
        METIS_PartGraphKway(&n, &ncon, xadj.data(), adjncy.data(), vwgt.data(), nullptr,
                            adjncy.empty() ? nullptr : adjwgt.data(), &nparts, nullptr,
                            ubvec.data(), metis_options, &objval, part.data());
    if (status != METIS_OK)
      throw core::InputError({"placement", "metis", 0}, fmt::format("status {}", status),
                             "a partition of the co-activation graph");
  }

  // Moves the least attached experts out of parts over their slots, each to the part with room
  // it is most co-activated with.
  static void fit_slots(const LayerInput& in, int slots, std::vector<std::vector<int>>& members) {
    for (auto& from : members) {
      while (static_cast<int>(from.size()) > slots) {
        auto loose = std::min_element(from.begin(), from.end(), [&](int a, int b) {
          return affinity(in, a, from) < affinity(in, b, from);
        });
        const int e = *loose;
        from.erase(loose);
        std::vector<int>* to = nullptr;
        for (auto& candidate : members)
          if (static_cast<int>(candidate.size()) < slots &&
              (to == nullptr || affinity(in, e, candidate) > affinity(in, e, *to)))
            to = &candidate;
        to->push_back(e);
      }
    }
  }
};

}  // namespace

std::unique_ptr<Placer> make_metis() {
  return std::make_unique<Metis>();
}

}  // namespace mozart::placement::detail
