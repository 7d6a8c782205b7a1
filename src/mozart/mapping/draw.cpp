// `mozart map show`'s picture of a mapping.
#include <algorithm>

#include <fmt/format.h>

#include "mozart/mapping/mapping.hpp"

namespace mozart::mapping {
namespace {

// "1 TP group", "18 TP groups".
std::string count(std::size_t n, const char* what) {
  return fmt::format("{} {}{}", n, what, n == 1 ? "" : "s");
}

std::string header(const Mapping& m) {
  std::string out = fmt::format("mapping {} on {}: {}, TP {} ({})", m.name, m.hardware,
                                count(std::size_t(m.devices), "device"), m.tp,
                                count(m.groups.size(), "TP group"));
  // Wafers and blocks are a mesh's; a switched system has neither.
  if (m.block_rows == 0)
    return out + "\nTP groups of consecutive devices; all-reduce: one ring per TP group\n";
  out += fmt::format(", {}\n", count(std::size_t(m.wafers), "wafer"));
  if (!m.ftds.empty())
    out += fmt::format("{} disjoint FTDs of {} ({}x{} blocks); all-reduce: {}\n", m.ftds.size(),
                       count(m.groups.size(), "device"), m.block_rows, m.block_cols,
                       m.hierarchical ? "reduce-scatter in each wafer, all-reduce across wafers, "
                                        "all-gather in each wafer"
                                      : "one ring per TP group");
  else
    out += fmt::format(
        "TP groups as {}x{} blocks; FTDs overlap: each device's is the nearest member of every "
        "group; all-reduce: one ring per TP group\n",
        m.block_rows, m.block_cols);
  return out;
}

// Off a mesh: the groups, one line each.
std::string list_groups(const Mapping& m) {
  std::string out;
  for (std::size_t g = 0; g < m.groups.size(); ++g)
    out += fmt::format("group {}: devices {}\n", g, fmt::join(m.groups[g], " "));
  return out;
}

}  // namespace

std::string draw(const hw::HwSpec& hw, const Mapping& m) {
  std::string out = header(m);
  if (hw.topology.rows == 0 || m.block_rows == 0)
    return out + list_groups(m);
  // Each cell: TP group.rank, then the FTD (er, her) or, for baseline, '*' on the members of
  // device 0's FTD.
  std::vector<std::vector<std::string>> cell(
      std::size_t(hw.topology.rows), std::vector<std::string>(std::size_t(hw.topology.cols)));
  std::size_t width = 0;
  for (int d = 0; d < m.devices; ++d) {
    const auto& c = *hw.chiplets[d].coord;
    std::string text = fmt::format("{}.{}", m.group_of[d], m.rank_of[d]);
    if (!m.ftds.empty())
      text += fmt::format("/F{}", m.ftd_of[d]);
    else if (std::find(m.source[0].begin(), m.source[0].end(), d) != m.source[0].end())
      text += "*";
    width = std::max(width, text.size());
    cell[std::size_t(c.y)][std::size_t(c.x)] = std::move(text);
  }
  out +=
      m.ftds.empty() ? "cell: TPgroup.rank; * marks device 0's FTD\n" : "cell: TPgroup.rank/FTD\n";
  const int wr = hw.topology.wafer_rows, wc = hw.topology.wafer_cols;
  for (int y = 0; y < hw.topology.rows; ++y) {
    if (wr > 0 && y > 0 && y % wr == 0)
      out += "\n";  // a wafer's edge
    for (int x = 0; x < hw.topology.cols; ++x) {
      if (x > 0)
        out += (wc > 0 && x % wc == 0) ? " || " : (x % m.block_cols == 0 ? " | " : " ");
      out += fmt::format("{:>{}}", cell[std::size_t(y)][std::size_t(x)], width);
    }
    out += "\n";
  }
  return out;
}

}  // namespace mozart::mapping
