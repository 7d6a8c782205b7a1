#include "mozart/mapping/mapping.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "mozart/core/error.hpp"

namespace mozart::mapping {
namespace {

struct Shape {
  int rows = 0;
  int cols = 0;
};

struct Cell {
  int row = 0;
  int col = 0;
};

// The most nearly square block of `n` cells that tiles a `rows` x `cols` area (wider when
// two are as square); {0, 0} when none does.
Shape block_of(int n, int rows, int cols) {
  Shape best;
  for (int r = 1; r <= n; ++r) {
    if (n % r != 0 || rows % r != 0 || cols % (n / r) != 0)
      continue;
    const int c = n / r;
    if (best.rows == 0 || std::abs(r - c) < std::abs(best.rows - best.cols) ||
        (std::abs(r - c) == std::abs(best.rows - best.cols) && c > best.cols))
      best = {r, c};
  }
  return best;
}

// The cells of a rows x cols grid in ring order: a cycle of neighbours where the grid has one
// (an even side of at least 2): along the first row, down and back in a snake over every column
// but the first, and up the first column; otherwise a snake, whose ends are not neighbours.
std::vector<Cell> ring_order(int rows, int cols) {
  std::vector<Cell> out;
  auto snake = [&](int first_col) {
    for (int r = 0; r < rows; ++r)
      for (int i = first_col; i < cols; ++i)
        out.push_back({r, r % 2 == 0 ? i : cols - 1 - (i - first_col)});
  };
  if (rows % 2 == 0 && rows >= 2 && cols >= 2) {
    snake(1);
    for (int r = rows - 1; r >= 0; --r)
      out.push_back({r, 0});
    return out;
  }
  if (cols % 2 == 0 && cols >= 2 && rows >= 2) {
    for (const Cell& c : ring_order(cols, rows))
      out.push_back({c.col, c.row});
    return out;
  }
  snake(0);
  return out;
}

class Builder {
 public:
  Builder(const net::Network& net, std::string name, int tp, std::string command)
      : net_(net), hw_(net.hw()), command_(std::move(command)) {
    m_.name = std::move(name);
    m_.hardware = hw_.name;
    m_.devices = static_cast<int>(hw_.chiplets.size());
    m_.tp = tp;
    mesh_ = hw_.topology.rows > 0 &&
            std::all_of(hw_.chiplets.begin(), hw_.chiplets.end(),
                        [](const hw::Chiplet& c) { return c.coord.has_value(); });
    m_.wafers = mesh_ ? hw_.topology.wafers() : 1;
    if (mesh_) {
      grid_.assign(std::size_t(hw_.topology.rows),
                   std::vector<int>(std::size_t(hw_.topology.cols)));
      for (int d = 0; d < m_.devices; ++d)
        grid_[std::size_t(hw_.chiplets[d].coord->y)][std::size_t(hw_.chiplets[d].coord->x)] = d;
    }
    m_.wafer_of.assign(std::size_t(m_.devices), 0);
    for (int d = 0; d < m_.devices && mesh_; ++d)
      m_.wafer_of[d] = hw_.topology.wafer_of(hw_.chiplets[d].coord->x, hw_.chiplets[d].coord->y);
  }

  Mapping build() {
    if (m_.tp < 1 || m_.devices % m_.tp != 0)
      throw core::InputError(
          {command_, "--tp", 0}, std::to_string(m_.tp),
          fmt::format("a divisor of the {} devices of {}", m_.devices, hw_.name));
    if (m_.name == "baseline")
      baseline();
    else if (m_.name == "er")
      entwined(false);
    else if (m_.name == "her")
      entwined(true);
    else
      throw core::InputError({command_, "--mapping", 0}, m_.name, "one of: baseline, er, her");
    index_groups();
    return std::move(m_);
  }

 private:
  [[noreturn]] void misfit(const std::string& expected) const {
    throw core::InputError(
        {command_, "--mapping", 0}, m_.name,
        fmt::format("a mapping that fits {} with --tp {}: {}", hw_.name, m_.tp, expected));
  }

  int wafer_rows() const {
    return hw_.topology.wafer_rows > 0 ? hw_.topology.wafer_rows : hw_.topology.rows;
  }
  int wafer_cols() const {
    return hw_.topology.wafer_cols > 0 ? hw_.topology.wafer_cols : hw_.topology.cols;
  }

  // TP groups as compact blocks (tiling each wafer), or runs of consecutive devices off a mesh;
  // each device's FTD the nearest member of every group.
  void baseline() {
    if (!mesh_) {
      for (int first = 0; first < m_.devices; first += m_.tp) {
        m_.groups.emplace_back();
        for (int d = first; d < first + m_.tp; ++d)
          m_.groups.back().push_back(d);
      }
    } else {
      const Shape b = block_of(m_.tp, wafer_rows(), wafer_cols());
      if (b.rows == 0)
        misfit(fmt::format("TP groups of {} devices as blocks that tile a {}x{} wafer", m_.tp,
                           wafer_rows(), wafer_cols()));
      m_.block_rows = b.rows;
      m_.block_cols = b.cols;
      const std::vector<Cell> ring = ring_order(b.rows, b.cols);
      for (int by = 0; by < hw_.topology.rows; by += b.rows)
        for (int bx = 0; bx < hw_.topology.cols; bx += b.cols) {
          m_.groups.emplace_back();
          for (const Cell& c : ring)
            m_.groups.back().push_back(grid_[std::size_t(by + c.row)][std::size_t(bx + c.col)]);
        }
    }
    m_.ftd_of.assign(std::size_t(m_.devices), -1);
    nearest_sources();
  }

  void nearest_sources() {
    m_.source.assign(std::size_t(m_.devices), std::vector<int>(m_.groups.size()));
    for (int d = 0; d < m_.devices; ++d) {
      for (std::size_t g = 0; g < m_.groups.size(); ++g) {
        std::vector<int> nearest;
        std::size_t best = SIZE_MAX;
        for (int member : m_.groups[g]) {
          const std::size_t hops = net_.hops(member, d);
          if (hops < best)
            nearest.clear(), best = hops;
          if (hops == best)
            nearest.push_back(member);
        }
        // Ties spread over the tied members, so that no one member sends for everyone.
        m_.source[d][g] = nearest[std::size_t(d) % nearest.size()];
      }
    }
  }

  // FTDs as compact blocks of devices / tp devices tiling each wafer; group g the g-th cell of
  // every block, its ring going round the blocks (wafer by wafer for her).
  void entwined(bool hierarchical) {
    if (!mesh_)
      misfit("a mesh (the FTDs are blocks of it)");
    const int ftd_size = m_.devices / m_.tp;
    if (hierarchical && m_.wafers < 2)
      misfit("a mesh of several wafers (topology.wafer)");
    if (hierarchical && m_.tp % m_.wafers != 0)
      misfit(fmt::format("--tp a multiple of the {} wafers", m_.wafers));
    const Shape b = block_of(ftd_size, wafer_rows(), wafer_cols());
    if (b.rows == 0)
      misfit(fmt::format("FTDs of devices / tp = {} devices as blocks that tile a {}x{} wafer",
                         ftd_size, wafer_rows(), wafer_cols()));
    m_.block_rows = b.rows;
    m_.block_cols = b.cols;
    m_.hierarchical = hierarchical;
    // The blocks in ring order: over the whole mesh (er), or round each wafer in turn (her).
    std::vector<Cell> blocks;
    const int per_row = wafer_cols() / b.cols, per_col = wafer_rows() / b.rows;
    if (hierarchical) {
      const int wafers_across = hw_.topology.cols / wafer_cols();
      for (int w = 0; w < m_.wafers; ++w)
        for (const Cell& c : ring_order(per_col, per_row))
          blocks.push_back(
              {(w / wafers_across) * per_col + c.row, (w % wafers_across) * per_row + c.col});
    } else {
      blocks = ring_order(hw_.topology.rows / b.rows, hw_.topology.cols / b.cols);
    }
    m_.groups.assign(std::size_t(ftd_size), {});
    m_.ftd_of.assign(std::size_t(m_.devices), -1);
    const int blocks_across = hw_.topology.cols / b.cols;
    m_.ftds.assign(blocks.size(), {});
    for (const Cell& block : blocks) {
      const int f = block.row * blocks_across + block.col;  // FTDs numbered row-major
      for (int g = 0; g < ftd_size; ++g) {
        const int d = grid_[std::size_t(block.row * b.rows + g / b.cols)]
                           [std::size_t(block.col * b.cols + g % b.cols)];
        m_.groups[std::size_t(g)].push_back(d);
        m_.ftd_of[d] = f;
      }
    }
    for (int d = 0; d < m_.devices; ++d)
      m_.ftds[std::size_t(m_.ftd_of[d])].push_back(d);
    m_.source.assign(std::size_t(m_.devices), std::vector<int>(std::size_t(ftd_size)));
    for (int d = 0; d < m_.devices; ++d)
      for (int g = 0; g < ftd_size; ++g)
        for (int member : m_.groups[std::size_t(g)])
          if (m_.ftd_of[member] == m_.ftd_of[d])
            m_.source[d][g] = member;
  }

  void index_groups() {
    m_.group_of.assign(std::size_t(m_.devices), -1);
    m_.rank_of.assign(std::size_t(m_.devices), -1);
    for (std::size_t g = 0; g < m_.groups.size(); ++g)
      for (std::size_t r = 0; r < m_.groups[g].size(); ++r) {
        m_.group_of[m_.groups[g][r]] = int(g);
        m_.rank_of[m_.groups[g][r]] = int(r);
      }
  }

  const net::Network& net_;
  const hw::HwSpec& hw_;
  std::string command_;
  Mapping m_;
  bool mesh_ = false;
  std::vector<std::vector<int>> grid_;  // [y][x] -> device
};

}  // namespace

std::vector<int> Mapping::members_on(int g, int w) const {
  std::vector<int> out;
  for (int d : groups[std::size_t(g)])
    if (wafer_of[d] == w)
      out.push_back(d);
  return out;
}

std::vector<std::string> mapping_names() {
  return {"baseline", "er", "her"};
}

Mapping make_mapping(const net::Network& net, const std::string& name, int tp,
                     const std::string& command) {
  return Builder(net, name, tp, command).build();
}

std::string broken_invariant(const Mapping& m) {
  std::vector<int> seen(std::size_t(m.devices), 0);
  for (std::size_t g = 0; g < m.groups.size(); ++g) {
    if (int(m.groups[g].size()) != m.tp)
      return fmt::format("group {} has {} members, not {}", g, m.groups[g].size(), m.tp);
    for (int d : m.groups[g])
      ++seen[d];
  }
  for (int d = 0; d < m.devices; ++d) {
    if (seen[d] != 1)
      return fmt::format("device {} is in {} groups", d, seen[d]);
    for (std::size_t g = 0; g < m.groups.size(); ++g)
      if (m.group_of[m.source[d][g]] != int(g))
        return fmt::format("device {}'s source of group {} is not a member of it", d, g);
  }
  std::vector<int> in_ftd(std::size_t(m.devices), 0);
  for (std::size_t f = 0; f < m.ftds.size(); ++f) {
    std::set<int> groups;
    for (int d : m.ftds[f]) {
      ++in_ftd[d];
      groups.insert(m.group_of[d]);
    }
    if (groups.size() != m.groups.size() || m.ftds[f].size() != m.groups.size())
      return fmt::format("FTD {} does not hold exactly one member of every group", f);
  }
  for (int d = 0; d < m.devices && !m.ftds.empty(); ++d)
    if (in_ftd[d] != 1)
      return fmt::format("device {} is in {} FTDs", d, in_ftd[d]);
  return {};
}

nlohmann::ordered_json to_json(const Mapping& m) {
  nlohmann::ordered_json j = {{"name", m.name},
                              {"hardware", m.hardware},
                              {"devices", m.devices},
                              {"tp", m.tp},
                              {"tp_groups", m.groups.size()},
                              {"wafers", m.wafers},
                              {"hierarchical_all_reduce", m.hierarchical},
                              {"block", {m.block_rows, m.block_cols}},
                              {"groups", m.groups},
                              {"ftds", m.ftds}};
  return j;
}

}  // namespace mozart::mapping
