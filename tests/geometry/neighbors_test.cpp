// SPDX-License-Identifier: Apache-2.0
// knn / radius / their graphs against brute force: duplicates, ties, k > N, empty clouds,
// d = 1 and 7, batches of different sizes, thread-count independence, errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "common/threads.h"
#include "geometry/kd_tree.h"
#include "geometry/knn.h"
#include "geometry/radius.h"
#include "support/tensor_assertions.h"

namespace topo::geometry {
namespace {

using Edges = std::vector<std::pair<int64_t, int64_t>>;

Edges to_edges(const torch::Tensor& edge_index) {
  const auto e = edge_index.cpu();
  Edges out;
  for (int64_t i = 0; i < e.size(1); ++i)
    out.emplace_back(e[0][i].item<int64_t>(), e[1][i].item<int64_t>());
  return out;
}

std::vector<int64_t> ids(const torch::Tensor& batch, int64_t n) {
  if (!batch.defined()) return std::vector<int64_t>(n, 0);
  return std::vector<int64_t>(batch.data_ptr<int64_t>(), batch.data_ptr<int64_t>() + n);
}

/// For each y, candidates of x in its cloud sorted by (squared distance, index); keep a prefix.
Edges brute_force(const torch::Tensor& x_in, const torch::Tensor& y_in, const torch::Tensor& bx,
                  const torch::Tensor& by, int64_t k, double r, int64_t max_neighbours,
                  bool exclude_self) {
  const auto x = x_in.to(torch::kDouble).contiguous();
  const auto y = y_in.to(torch::kDouble).contiguous();
  const auto cx = ids(bx, x.size(0)), cy = ids(by, y.size(0));
  const auto xa = x.accessor<double, 2>();
  const auto ya = y.accessor<double, 2>();
  Edges out;
  for (int64_t i = 0; i < y.size(0); ++i) {
    std::vector<std::pair<double, int64_t>> candidates;
    for (int64_t j = 0; j < x.size(0); ++j) {
      if (cx[j] != cy[i] || (exclude_self && i == j)) continue;
      double d = 0;
      for (int64_t a = 0; a < x.size(1); ++a) d += (xa[j][a] - ya[i][a]) * (xa[j][a] - ya[i][a]);
      if (r >= 0 && !(d < r * r)) continue;
      candidates.emplace_back(d, j);
    }
    std::sort(candidates.begin(), candidates.end());
    const int64_t keep =
        k > 0 ? k : (max_neighbours < 0 ? static_cast<int64_t>(candidates.size()) : max_neighbours);
    for (int64_t c = 0; c < std::min<int64_t>(keep, candidates.size()); ++c) {
      out.emplace_back(i, candidates[c].second);
    }
  }
  return out;
}

struct Clouds {
  torch::Tensor x, y, batch_x, batch_y;
};

/// Three clouds of different sizes; cloud 1 of x is empty; integer coordinates so that many
/// distances tie exactly, plus exact duplicates.
Clouds tied_clouds(int64_t d) {
  torch::manual_seed(3);
  const auto x = torch::randint(0, 4, {40 + 0 + 25, d}).to(torch::kFloat);
  x[5].copy_(x[6]);  // duplicate points
  x[50].copy_(x[51]);
  const auto batch_x =
      torch::cat({torch::zeros({40}, torch::kLong), torch::full({25}, 2, torch::kLong)});
  const auto y = torch::randint(0, 4, {10 + 7 + 12, d}).to(torch::kFloat);
  const auto batch_y = torch::cat({torch::zeros({10}, torch::kLong), torch::ones({7}, torch::kLong),
                                   torch::full({12}, 2, torch::kLong)});
  return {x, y, batch_x, batch_y};
}

class NeighborsByDim : public ::testing::TestWithParam<int64_t> {};

TEST_P(NeighborsByDim, KnnMatchesBruteForceWithTiesDuplicatesAndEmptyClouds) {
  const auto c = tied_clouds(GetParam());
  for (const int64_t k : {1, 4, 30, 100}) {  // 30 and 100 exceed cloud sizes
    const auto edges = knn(c.x, c.y, k, c.batch_x, c.batch_y);
    EXPECT_EQ(to_edges(edges), brute_force(c.x, c.y, c.batch_x, c.batch_y, k, -1, -1, false))
        << "k=" << k;
  }
}

TEST_P(NeighborsByDim, RadiusMatchesBruteForce) {
  const auto c = tied_clouds(GetParam());
  for (const double r : {0.0, 1.0, 1.5, 2.0}) {
    for (const int64_t max_neighbours : {-1, 0, 3}) {
      const auto edges = radius(c.x, c.y, r, c.batch_x, c.batch_y, max_neighbours);
      EXPECT_EQ(to_edges(edges),
                brute_force(c.x, c.y, c.batch_x, c.batch_y, 0, r, max_neighbours, false))
          << "r=" << r << " max_neighbours=" << max_neighbours;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dims, NeighborsByDim, ::testing::Values(1, 2, 3, 7));

TEST(Knn, RandomFloat64CloudsMatchBruteForce) {
  torch::manual_seed(0);
  const auto x = torch::randn({300, 3}, torch::kDouble);
  const auto y = torch::randn({120, 3}, torch::kDouble);
  EXPECT_EQ(to_edges(knn(x, y, 8)), brute_force(x, y, {}, {}, 8, -1, -1, false));
  EXPECT_EQ(to_edges(radius(x, y, 0.5, {}, {}, -1)), brute_force(x, y, {}, {}, 0, 0.5, -1, false));
}

TEST(Knn, ResultDoesNotDependOnThreadCount) {
  const auto c = tied_clouds(3);
  const int64_t before = num_threads();
  set_num_threads(1);
  const auto serial = knn_graph(c.x, 6, c.batch_x);
  set_num_threads(2);
  const auto parallel = knn_graph(c.x, 6, c.batch_x);
  set_num_threads(before);
  EXPECT_TRUE(serial.equal(parallel));
}

TEST(KnnGraph, ExcludesOnlyThePointItselfAndOrientsByFlow) {
  const auto c = tied_clouds(2);
  const auto centre_first = knn_graph(c.x, 5, c.batch_x, /*loop=*/false, "target_to_source");
  EXPECT_EQ(to_edges(centre_first), brute_force(c.x, c.x, c.batch_x, c.batch_x, 5, -1, -1, true));
  // The duplicate of point 5 (point 6) is its nearest neighbour, at distance 0.
  const auto e = centre_first;
  const auto first_of_5 = e[1].masked_select(e[0] == 5)[0].item<int64_t>();
  EXPECT_EQ(first_of_5, 6);
  const auto messages_in = knn_graph(c.x, 5, c.batch_x);  // source_to_target
  EXPECT_TRUE(messages_in.equal(centre_first.flip(0)));
  const auto with_loops = knn_graph(c.x, 5, c.batch_x, /*loop=*/true, "target_to_source");
  EXPECT_EQ(to_edges(with_loops), brute_force(c.x, c.x, c.batch_x, c.batch_x, 5, -1, -1, false));
}

TEST(RadiusGraph, MatchesBruteForceWithoutLoops) {
  const auto c = tied_clouds(3);
  const auto graph = radius_graph(c.x, 1.5, c.batch_x, false, -1, "target_to_source");
  EXPECT_EQ(to_edges(graph), brute_force(c.x, c.x, c.batch_x, c.batch_x, 0, 1.5, -1, true));
}

TEST(KdTree, IsZeroCopyAndKeepsItsDataAlive) {
  auto points = torch::randn({50, 3});
  const void* data = points.data_ptr();
  KdTree tree(points);
  points = torch::Tensor();  // the tree's reference keeps the storage alive
  EXPECT_EQ(tree.points().data_ptr(), data);
  const auto [indices, distances] = tree.knn(tree.points().slice(0, 0, 4), 1);
  EXPECT_TRUE(indices.squeeze(1).equal(torch::arange(4)));
  const auto [idx, dist] = tree.knn(torch::zeros({1, 3}), 60);  // k > N pads with −1 / inf
  EXPECT_EQ(idx[0][59].item<int64_t>(), -1);
  EXPECT_TRUE(std::isinf(dist[0][59].item<float>()));
}

TEST(Neighbors, EmptyInputsGiveEmptyGraphs) {
  const auto empty = torch::zeros({0, 3});
  EXPECT_EQ(knn(empty, torch::randn({4, 3}), 3).size(1), 0);
  EXPECT_EQ(knn(torch::randn({4, 3}), empty, 3).size(1), 0);
  EXPECT_EQ(radius_graph(empty, 1.0).size(1), 0);
  EXPECT_EQ(knn_graph(torch::randn({1, 3}), 3).size(1), 0);  // a lone point has no neighbours
}

TEST(Neighbors, BadInputGivesClearErrors) {
  auto x = torch::randn({5, 3});
  x[2][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW_WITH(knn(x, torch::randn({2, 3}), 2), "row 2");
  x[2][1] = std::numeric_limits<float>::infinity();
  EXPECT_THROW_WITH(radius_graph(x, 1.0), "finite");
  EXPECT_THROW_WITH(knn(torch::randn({5, 3}), torch::randn({2, 2}), 2), "points of dimension 3");
  EXPECT_THROW_WITH(knn(torch::randn({5}), torch::randn({2, 1}), 2), "of shape [N, d]");
  EXPECT_THROW_WITH(knn(torch::randn({5, 3}), torch::randn({2, 3}), 0), "`k` must be >= 1");
  EXPECT_THROW_WITH(radius_graph(torch::randn({5, 3}), -1.0), "`r` must be finite and >= 0");
  EXPECT_THROW_WITH(knn_graph(torch::randn({3, 2}), 2, torch::tensor({1, 0, 0})), "sorted");
  EXPECT_THROW_WITH(knn_graph(torch::randn({3, 2}), 2, torch::tensor({0, 0})),
                    "one entry per point");
  EXPECT_THROW_WITH(knn_graph(torch::randn({3, 2}), 2, {}, false, "upward"), "`flow`");
  EXPECT_THROW_WITH(knn(torch::randint(0, 3, {4, 2}, torch::kLong), torch::randn({2, 2}), 1),
                    "float32 or float64");
}

TEST(EdgeLengths, DifferentiableAlsoAtZeroLength) {
  auto pos = torch::tensor({{0.0, 0.0}, {3.0, 4.0}}, torch::kDouble).requires_grad_();
  const auto edges = torch::tensor({{0, 1, 0}, {1, 0, 0}});
  const auto lengths = edge_lengths(edges, pos);
  EXPECT_TENSOR_CLOSE(lengths, torch::tensor({5.0, 5.0, 0.0}, torch::kDouble));
  lengths.sum().backward();
  EXPECT_TRUE(torch::isfinite(pos.grad()).all().item<bool>());
  EXPECT_TENSOR_CLOSE(pos.grad(), torch::tensor({{-1.2, -1.6}, {1.2, 1.6}}, torch::kDouble));
}

}  // namespace
}  // namespace topo::geometry
