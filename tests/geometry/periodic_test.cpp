// SPDX-License-Identifier: Apache-2.0
// Periodic radius and kNN graphs against a brute-force sum over images: cubic, skewed
// (triclinic) and tiny cells (cutoff several times the cell, an atom's own images), mixed pbc,
// batches of systems with different cells, unwrapped positions; edge vectors' gradients in
// positions and cell; errors.
#include "geometry/periodic.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <tuple>
#include <vector>

#include "geometry/radius.h"
#include "support/gradcheck.h"
#include "support/tensor_assertions.h"

namespace topo::geometry {
namespace {

/// (neighbour, centre, shift x, y, z) as in the "source_to_target" flow.
using Edge = std::array<int64_t, 5>;

struct Reference {
  std::vector<Edge> edges;
  std::vector<std::vector<double>> distances;  ///< per centre, sorted
};

/// Every (j, n, i) with |pos_j + n·cell − pos_i| < r, by enumerating images far beyond reach
/// (all (i, j, n) at once).
Reference brute_force(const torch::Tensor& pos, const torch::Tensor& cell,
                      const std::array<bool, 3>& pbc, double r, bool loop) {
  const auto p = pos.to(torch::kDouble);
  const auto c = cell.to(torch::kDouble);
  const auto inverse = torch::linalg_inv(c);
  // Positions may lie outside the cell: widen the range by their own fractional extent.
  const int64_t extra =
      static_cast<int64_t>(std::ceil(torch::matmul(p, inverse).abs().max().item<double>())) + 1;
  std::vector<torch::Tensor> ranges;
  for (int k = 0; k < 3; ++k) {
    const int64_t reach =
        pbc[k] ? static_cast<int64_t>(std::ceil(r * inverse.select(1, k).norm().item<double>())) +
                     2 * extra
               : 0;
    ranges.push_back(torch::arange(-reach, reach + 1, torch::kDouble));
  }
  const auto grid = torch::meshgrid(ranges, "ij");
  const auto shifts = torch::stack({grid[0].flatten(), grid[1].flatten(), grid[2].flatten()}, 1);
  const int64_t n = p.size(0), s = shifts.size(0);
  // vectors[i][j][s] = pos_j + shift_s·cell − pos_i
  const auto vectors =
      p.view({1, n, 1, 3}) + torch::matmul(shifts, c).view({1, 1, s, 3}) - p.view({n, 1, 1, 3});
  const auto distance = vectors.norm(2, 3);
  auto within = distance < r;
  if (!loop) {
    const auto zero = (shifts.abs().sum(1) == 0).nonzero()[0][0].item<int64_t>();
    for (int64_t i = 0; i < n; ++i) within[i][i][zero] = false;
  }
  const auto found = within.nonzero();
  Reference ref;
  ref.distances.resize(static_cast<size_t>(n));
  for (int64_t e = 0; e < found.size(0); ++e) {
    const int64_t i = found[e][0].item<int64_t>(), j = found[e][1].item<int64_t>(),
                  k = found[e][2].item<int64_t>();
    ref.edges.push_back({j, i, shifts[k][0].item<int64_t>(), shifts[k][1].item<int64_t>(),
                         shifts[k][2].item<int64_t>()});
    ref.distances[static_cast<size_t>(i)].push_back(distance[i][j][k].item<double>());
  }
  std::sort(ref.edges.begin(), ref.edges.end());
  for (auto& d : ref.distances) std::sort(d.begin(), d.end());
  return ref;
}

std::vector<Edge> to_edges(const PeriodicGraph& g, int64_t offset = 0) {
  std::vector<Edge> out;
  for (int64_t e = 0; e < g.edge_index.size(1); ++e) {
    out.push_back({g.edge_index[0][e].item<int64_t>() - offset,
                   g.edge_index[1][e].item<int64_t>() - offset, g.shifts[e][0].item<int64_t>(),
                   g.shifts[e][1].item<int64_t>(), g.shifts[e][2].item<int64_t>()});
  }
  std::sort(out.begin(), out.end());
  return out;
}

torch::Tensor skewed_cell() {
  return torch::tensor({{4.0, 0.0, 0.0}, {1.7, 3.6, 0.0}, {-1.1, 0.9, 3.3}}, torch::kDouble);
}

torch::Tensor pbc_tensor(const std::array<bool, 3>& pbc) {
  return torch::tensor({pbc[0], pbc[1], pbc[2]}, torch::kBool);
}

struct Case {
  const char* name;
  torch::Tensor cell;
  std::array<bool, 3> pbc;
  double r;
  int64_t atoms;
};

TEST(PeriodicRadiusGraph, MatchesBruteForceOverImages) {
  torch::manual_seed(0);
  const std::vector<Case> cases = {
      {"cubic, cutoff below half the cell",
       torch::eye(3, torch::kDouble) * 6.0,
       {true, true, true},
       2.5,
       20},
      {"triclinic", skewed_cell(), {true, true, true}, 3.0, 12},
      {"cutoff larger than the cell (several images, own images)",
       skewed_cell() * 0.5,
       {true, true, true},
       4.2,
       3},
      {"one atom in a tiny cell", torch::eye(3, torch::kDouble) * 1.3, {true, true, true}, 3.0, 1},
      {"slab: periodic in x and y only", skewed_cell(), {true, true, false}, 3.5, 10},
      {"no periodic axis: the plain radius graph", skewed_cell(), {false, false, false}, 3.0, 15},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    // Fractional coordinates in [-0.5, 1.5): atoms need not be wrapped.
    const auto pos = torch::matmul(torch::rand({c.atoms, 3}, torch::kDouble) * 2 - 0.5, c.cell);
    for (bool loop : {false, true}) {
      const auto graph = periodic_radius_graph(pos, c.r, c.cell, pbc_tensor(c.pbc), {}, loop);
      const auto ref = brute_force(pos, c.cell, c.pbc, c.r, loop);
      EXPECT_EQ(to_edges(graph), ref.edges) << "loop = " << loop;
      EXPECT_GT(ref.edges.size(), 0u);
      const auto lengths = periodic_edge_vectors(graph, pos, c.cell).norm(2, 1);
      EXPECT_LT(lengths.max().item<double>(), c.r);
    }
  }
}

TEST(PeriodicRadiusGraph, NoPeriodicAxisEqualsRadiusGraph) {
  torch::manual_seed(1);
  const auto pos = torch::rand({30, 3}, torch::kDouble) * 5;
  const auto graph =
      periodic_radius_graph(pos, 1.5, torch::zeros({3, 3}), torch::zeros({3}, torch::kBool));
  const auto plain = radius_graph(pos, 1.5, {}, false, -1);
  auto a = std::get<0>(torch::sort(graph.edge_index[0] * 1000 + graph.edge_index[1]));
  auto b = std::get<0>(torch::sort(plain[0] * 1000 + plain[1]));
  EXPECT_TRUE(a.equal(b));
  EXPECT_EQ(graph.shifts.abs().sum().item<int64_t>(), 0);
}

TEST(PeriodicRadiusGraph, BatchOfSystemsWithTheirOwnCells) {
  torch::manual_seed(2);
  const auto cell_a = torch::eye(3, torch::kDouble) * 3.0;
  const auto cell_b = skewed_cell() * 0.7;
  const auto pos_a = torch::rand({5, 3}, torch::kDouble) * 3.0;
  const auto pos_b = torch::matmul(torch::rand({4, 3}, torch::kDouble), cell_b);
  const auto pos = torch::cat({pos_a, pos_b});
  const auto batch = torch::tensor({0, 0, 0, 0, 0, 1, 1, 1, 1}, torch::kLong);
  const auto cells = torch::stack({cell_a, cell_b});
  const auto pbc = torch::tensor({{true, true, true}, {true, false, true}}, torch::kBool);
  const auto graph = periodic_radius_graph(pos, 3.2, cells, pbc, batch);
  std::vector<Edge> expected = brute_force(pos_a, cell_a, {true, true, true}, 3.2, false).edges;
  for (auto e : brute_force(pos_b, cell_b, {true, false, true}, 3.2, false).edges) {
    e[0] += 5;
    e[1] += 5;
    expected.push_back(e);
  }
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(to_edges(graph), expected);
  const auto vectors = periodic_edge_vectors(graph, pos, cells, batch);
  EXPECT_LT(vectors.norm(2, 1).max().item<double>(), 3.2);
}

TEST(PeriodicRadiusGraph, WrappingAtomsKeepsEdgeVectors) {
  torch::manual_seed(3);
  const auto cell = skewed_cell();
  const auto pos = torch::matmul(torch::rand({8, 3}, torch::kDouble), cell);
  const auto moved = pos + torch::matmul(torch::randint(-3, 4, {8, 3}, torch::kDouble), cell);
  // The multiset of (centre, neighbour, edge vector rounded to 1e-9 Å).
  const auto edge_set = [&](const torch::Tensor& p) {
    const auto g = periodic_radius_graph(p, 3.7, cell);
    const auto v = (periodic_edge_vectors(g, p, cell) * 1e9).round().to(torch::kLong);
    std::vector<std::array<int64_t, 5>> out;
    for (int64_t e = 0; e < v.size(0); ++e) {
      out.push_back({g.edge_index[1][e].item<int64_t>(), g.edge_index[0][e].item<int64_t>(),
                     v[e][0].item<int64_t>(), v[e][1].item<int64_t>(), v[e][2].item<int64_t>()});
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  const auto reference = edge_set(pos);
  EXPECT_GT(reference.size(), 8u);
  EXPECT_EQ(edge_set(moved), reference);
}

TEST(PeriodicRadiusGraph, MaxNeighboursKeepsTheNearest) {
  torch::manual_seed(4);
  const auto cell = skewed_cell() * 0.6;
  const auto pos = torch::matmul(torch::rand({6, 3}, torch::kDouble), cell);
  const auto ref = brute_force(pos, cell, {true, true, true}, 3.0, false);
  const auto graph = periodic_radius_graph(pos, 3.0, cell, {}, {}, false, 7);
  const auto lengths = periodic_edge_vectors(graph, pos, cell).norm(2, 1);
  for (int64_t i = 0; i < 6; ++i) {
    const auto mine = lengths.masked_select(graph.edge_index[1] == i);
    const auto& all = ref.distances[static_cast<size_t>(i)];
    ASSERT_EQ(mine.size(0), std::min<int64_t>(7, static_cast<int64_t>(all.size())));
    for (int64_t e = 0; e < mine.size(0); ++e)
      EXPECT_NEAR(mine[e].item<double>(), all[static_cast<size_t>(e)], 1e-12);
  }
}

TEST(PeriodicKnnGraph, KNearestImages) {
  torch::manual_seed(5);
  for (const double scale : {0.3, 1.0, 2.5}) {
    SCOPED_TRACE(scale);
    const auto cell = skewed_cell() * scale;
    const auto pos = torch::matmul(torch::rand({7, 3}, torch::kDouble), cell);
    const int64_t k = 12;
    const auto graph = periodic_knn_graph(pos, k, cell);
    const auto lengths = periodic_edge_vectors(graph, pos, cell).norm(2, 1);
    const auto ref = brute_force(pos, cell, {true, true, true}, 5.0 * scale + 1.0, false);
    for (int64_t i = 0; i < 7; ++i) {
      const auto mine = std::get<0>(lengths.masked_select(graph.edge_index[1] == i).sort());
      ASSERT_EQ(mine.size(0), k);
      ASSERT_GE(ref.distances[static_cast<size_t>(i)].size(), static_cast<size_t>(k));
      for (int64_t e = 0; e < k; ++e)
        EXPECT_NEAR(mine[e].item<double>(), ref.distances[static_cast<size_t>(i)][e], 1e-12);
    }
  }
  // Without periodic axes and fewer atoms than k: all the others.
  const auto few = periodic_knn_graph(torch::rand({4, 3}, torch::kDouble), 10, torch::zeros({3, 3}),
                                      torch::zeros({3}, torch::kBool));
  EXPECT_EQ(few.edge_index.size(1), 12);
}

TEST(PeriodicRadiusGraph, FlowSwapsRowsAndNegatesShifts) {
  torch::manual_seed(6);
  const auto cell = skewed_cell() * 0.8;
  const auto pos = torch::matmul(torch::rand({5, 3}, torch::kDouble), cell);
  const auto forward = periodic_radius_graph(pos, 3.0, cell);
  const auto backward =
      periodic_radius_graph(pos, 3.0, cell, {}, {}, false, -1, "target_to_source");
  EXPECT_TRUE(backward.edge_index.equal(forward.edge_index.flip(0)));
  EXPECT_TRUE(backward.shifts.equal(-forward.shifts));
  EXPECT_TENSOR_CLOSE(periodic_edge_vectors(backward, pos, cell),
                      -periodic_edge_vectors(forward, pos, cell));
}

TEST(PeriodicEdgeVectors, GradientsInPositionsAndCell) {
  torch::manual_seed(7);
  const auto cell = skewed_cell() * 0.5;
  const auto pos = torch::matmul(torch::rand({4, 3}, torch::kDouble), cell);
  const auto graph = periodic_radius_graph(pos, 2.5, cell);
  ASSERT_GT(graph.edge_index.size(1), 10);
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) {
        return periodic_edge_vectors(graph, in[0], in[1]).norm(2, 1);
      },
      {pos.clone().requires_grad_(true), cell.clone().requires_grad_(true)});
}

TEST(PeriodicRadiusGraph, ErrorsNameTheArgument) {
  const auto pos = torch::rand({3, 3}, torch::kDouble);
  EXPECT_THROW_WITH(periodic_radius_graph(pos, 1.0, torch::zeros({3, 3})), "a singular cell");
  EXPECT_THROW_WITH(periodic_radius_graph(pos, 1.0, torch::eye(2)), "`cell`");
  EXPECT_THROW_WITH(periodic_radius_graph(pos, 1.0, torch::eye(3), torch::ones({3})), "`pbc`");
  EXPECT_THROW_WITH(periodic_radius_graph(pos, -1.0, torch::eye(3)), "`r`");
  EXPECT_THROW_WITH(periodic_radius_graph(pos, 1.0, torch::eye(3), {}, {}, false, -1, "up"),
                    "`flow`");
  EXPECT_THROW_WITH(periodic_knn_graph(pos, 0, torch::eye(3)), "`k`");
  EXPECT_THROW_WITH(periodic_radius_graph(pos.narrow(1, 0, 2), 1.0, torch::eye(3)), "`pos`");
}

}  // namespace
}  // namespace topo::geometry
