// SPDX-License-Identifier: Apache-2.0
// CSR graphs, Boost algorithms, kernels and Markov processes against dense brute force.
#include "graph/graph.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <set>

#include "common/threads.h"
#include "graph/algorithms.h"
#include "graph/graph_kernels.h"
#include "graph/sparse_operator.h"
#include "graph/tree.h"
#include "support/gradcheck.h"
#include "support/tensor_assertions.h"

namespace topo::graph {
namespace {

/// A random connected-ish weighted graph on n nodes plus an isolated pair, listed one way.
Graph random_graph(int64_t n, double p, uint64_t seed, bool weighted = true) {
  torch::manual_seed(seed);
  std::vector<int64_t> rows, cols;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) {
      if (j == i + 1 || torch::rand({1}).item<double>() < p) {
        rows.push_back(i);
        cols.push_back(j);
      }
    }
  }
  rows.push_back(n);  // a second component: n — n+1
  cols.push_back(n + 1);
  const auto edges = torch::stack({torch::tensor(rows), torch::tensor(cols)});
  const auto weights =
      weighted ? torch::rand({edges.size(1)}, torch::kDouble) + 0.5 : torch::Tensor();
  return Graph(edges, weights, n + 2);
}

/// Floyd–Warshall on the dense adjacency (hops when `hops`).
torch::Tensor all_pairs(const Graph& g, bool hops) {
  const int64_t n = g.num_nodes();
  auto d = torch::full({n, n}, std::numeric_limits<double>::infinity(), torch::kDouble);
  const auto e = g.edge_index();
  for (int64_t a = 0; a < g.num_arcs(); ++a) {
    d[e[0][a]][e[1][a]] = hops ? 1.0 : g.weight()[a].item<double>();
  }
  d.diagonal().fill_(0);
  for (int64_t k = 0; k < n; ++k)
    d = torch::minimum(d, d.select(1, k).unsqueeze(1) + d.select(0, k).unsqueeze(0));
  return d;
}

TEST(Graph, UndirectedEdgesMayBeListedOnceOrTwice) {
  const Graph once(torch::tensor({{0, 1}, {1, 2}}), torch::tensor({2.0, 3.0}));
  const Graph twice(torch::tensor({{0, 1, 1, 2}, {1, 2, 0, 1}}),
                    torch::tensor({2.0, 3.0, 2.0, 3.0}));
  EXPECT_TRUE(once.edge_index().equal(twice.edge_index()));
  EXPECT_TRUE(once.weight().equal(twice.weight()));
  EXPECT_EQ(once.num_arcs(), 4);
  EXPECT_TENSOR_CLOSE(once.degree(), torch::tensor({2.0, 5.0, 3.0}, torch::kDouble));
  // Repeated arcs are multi-edges; self loops by option.
  const Graph multi(torch::tensor({{0, 0, 1}, {1, 1, 1}}), torch::tensor({1.0, 2.0, 4.0}), -1, {},
                    GraphOptions().directed(true));
  EXPECT_TENSOR_CLOSE(multi.weight(), torch::tensor({3.0, 4.0}, torch::kDouble));
  const Graph no_loops(torch::tensor({{0, 1}, {1, 1}}), {}, -1, {},
                       GraphOptions().self_loops(SelfLoops::kRemove));
  EXPECT_EQ(no_loops.num_arcs(), 2);
  const Graph loops(torch::tensor({{0}, {1}}), {}, 3, {},
                    GraphOptions().self_loops(SelfLoops::kAdd).self_loop_weight(0.5));
  EXPECT_EQ(loops.num_arcs(), 5);
}

TEST(Graph, BadInputGivesClearErrors) {
  EXPECT_THROW_WITH(Graph(torch::tensor({{0, 5}, {1, 2}}), {}, 3),
                    "`edge_index[0]` must be node ids in [0, 3), got 5");
  EXPECT_THROW_WITH(Graph(torch::tensor({{0}, {1}}), torch::tensor({-1.0})),
                    "`edge_weight` must be finite and >= 0");
  EXPECT_THROW_WITH(Graph(torch::tensor({{0}, {1}}), torch::tensor({NAN})),
                    "`edge_weight` must be finite");
  EXPECT_THROW_WITH(Graph(torch::tensor({{0}, {1}}), torch::tensor({1.0, 2.0})),
                    "one weight per edge");
  EXPECT_THROW_WITH(Graph(torch::tensor({{0}, {2}}), {}, -1, torch::tensor({0, 0, 1})),
                    "edges inside one graph");
  EXPECT_THROW_WITH(Graph(torch::tensor({{0}, {1}}), {}, -1, torch::tensor({1, 0})), "sorted");
  EXPECT_THROW_WITH(Graph(torch::tensor({{0, 1}, {1, 0}}), torch::tensor({1.0, 2.0})),
                    "equal in both directions");
  EXPECT_THROW_WITH(Graph(torch::tensor({0, 1})), "`edge_index` must be an int64 tensor [2, E]");
}

TEST(GraphAlgorithms, DistancesMatchFloydWarshall) {
  const auto g = random_graph(30, 0.1, 1);
  const auto sources = torch::arange(g.num_nodes());
  const auto hops = all_pairs(g, true);
  const auto bfs = bfs_distances(g, sources).to(torch::kDouble);
  EXPECT_TENSOR_CLOSE(torch::where(torch::isinf(hops), torch::full_like(hops, -1), hops), bfs);
  const auto finite = [](const torch::Tensor& d) {
    return torch::where(torch::isinf(d), torch::full_like(d, -1), d);
  };
  EXPECT_TENSOR_CLOSE(finite(dijkstra_distances(g, sources)), finite(all_pairs(g, false)),
                      {1e-12, 1e-12});
  EXPECT_THROW_WITH(bfs_distances(g, torch::tensor({99})), "`sources` must be node ids in [0, 32)");
}

TEST(GraphAlgorithms, ComponentsAndMinimumSpanningForest) {
  const auto g = random_graph(25, 0.15, 2);
  const auto components = connected_components(g);
  const auto reach = all_pairs(g, true);
  for (int64_t i = 0; i < g.num_nodes(); ++i) {
    for (int64_t j = 0; j < g.num_nodes(); ++j) {
      EXPECT_EQ(components[i].item<int64_t>() == components[j].item<int64_t>(),
                std::isfinite(reach[i][j].item<double>()));
    }
  }
  const auto [edges, weights] = minimum_spanning_tree(g);
  EXPECT_EQ(edges.size(1), g.num_nodes() - 2);                     // two components
  const auto forest = root_forest(g.num_nodes(), edges, weights);  // throws on a cycle
  // Prim per component, as the oracle of the total weight.
  const auto w = all_pairs(g, false) * 0;  // shape helper
  double prim = 0;
  const auto dense = [&] {
    auto a = torch::full({g.num_nodes(), g.num_nodes()}, std::numeric_limits<double>::infinity(),
                         torch::kDouble);
    const auto e = g.edge_index();
    for (int64_t k = 0; k < g.num_arcs(); ++k) a[e[0][k]][e[1][k]] = g.weight()[k];
    return a;
  }();
  std::vector<char> in(g.num_nodes(), 0);
  for (int64_t root = 0; root < g.num_nodes(); ++root) {
    if (in[root]) continue;
    in[root] = 1;
    auto best = dense[root].clone();
    while (true) {
      int64_t pick = -1;
      double value = std::numeric_limits<double>::infinity();
      for (int64_t v = 0; v < g.num_nodes(); ++v) {
        if (!in[v] && best[v].item<double>() < value) {
          value = best[v].item<double>();
          pick = v;
        }
      }
      if (pick < 0) break;
      in[pick] = 1;
      prim += value;
      best = torch::minimum(best, dense[pick]);
    }
  }
  EXPECT_NEAR(weights.sum().item<double>(), prim, 1e-12);
  (void)w;
}

TEST(GraphAlgorithms, RandomSpanningTreesAreUniformAndSeeded) {
  // K4 has 16 spanning trees; 3,200 draws give 200 expected per tree.
  const Graph k4(torch::tensor({{0, 0, 0, 1, 1, 2}, {1, 2, 3, 2, 3, 3}}));
  torch::manual_seed(0);
  std::map<std::vector<int64_t>, int> counts;
  for (int draw = 0; draw < 3200; ++draw) {
    const auto [edges, weights] = random_spanning_tree(k4);
    ASSERT_EQ(edges.size(1), 3);
    root_forest(4, edges);  // a tree: no cycle
    const auto flat = edges.flatten().contiguous();
    std::vector<std::pair<int64_t, int64_t>> sorted;
    for (int64_t e = 0; e < 3; ++e)
      sorted.emplace_back(edges[0][e].item<int64_t>(), edges[1][e].item<int64_t>());
    std::sort(sorted.begin(), sorted.end());
    std::vector<int64_t> key;
    for (const auto& [a, b] : sorted) {
      key.push_back(a);
      key.push_back(b);
    }
    counts[key]++;
  }
  EXPECT_EQ(counts.size(), 16u);
  double chi2 = 0;
  for (const auto& [key, count] : counts) chi2 += (count - 200.0) * (count - 200.0) / 200.0;
  EXPECT_LT(chi2, 37.7);  // χ²(15) at p = 0.001
  torch::manual_seed(9);
  const auto a = random_spanning_tree(random_graph(40, 0.2, 3)).first;
  torch::manual_seed(9);
  const auto b = random_spanning_tree(random_graph(40, 0.2, 3)).first;
  EXPECT_TRUE(a.equal(b));
  EXPECT_EQ(a.size(1), 40);  // 42 nodes, 2 components
}

TEST(GraphKernels, DiffusionMatchesMatrixExponentialWithGradientInTime) {
  const auto g = random_graph(20, 0.2, 4);
  for (const auto normalization :
       {Normalization::kSymmetric, Normalization::kRandomWalk, Normalization::kNone}) {
    const auto w = adjacency_operator(g, normalization);
    const auto x = torch::randn({3, g.num_nodes(), 4}, torch::kDouble);
    const auto t = torch::tensor({0.3, 1.5, 4.0}, torch::kDouble);
    const auto expected = torch::matmul(torch::linalg_matrix_exp(t.view({3, 1, 1}) * w.dense()), x);
    EXPECT_TENSOR_CLOSE(diffusion(w, t, x), expected, {1e-9, 1e-9});
  }
  const auto laplacian = laplacian_operator(g);
  EXPECT_TENSOR_CLOSE(diffusion(laplacian, torch::tensor(-0.7, torch::kDouble),
                                torch::eye(g.num_nodes(), torch::kDouble)),
                      torch::linalg_matrix_exp(-0.7 * laplacian.dense()), {1e-9, 1e-9});
  const auto w = adjacency_operator(g);
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) { return diffusion(w, in[0], in[1], 1e-14); },
      {torch::tensor({0.8, 2.0}, torch::kDouble).requires_grad_(),
       torch::randn({2, g.num_nodes(), 2}, torch::kDouble).requires_grad_()});
}

// A hub with 150 leaves: the symmetric normalised adjacency has ∞-norm √150 ≈ 12 but spectral
// norm 1, the bound the series is scaled by. The result must still meet the tolerance (a series
// scaled by a too-small norm would stop early) and the bounds must hold for every normalisation.
TEST(GraphKernels, DiffusionOnAHubIsScaledByTheSpectralBound) {
  const int64_t leaves = 150;
  const auto hub = torch::zeros({leaves}, torch::kLong), rest = torch::arange(1, leaves + 1);
  const Graph star(torch::stack({hub, rest}), {}, leaves + 1);
  const auto x = torch::randn({2, leaves + 1, 3}, torch::kDouble);
  const auto t = torch::tensor({0.5, 3.0}, torch::kDouble);
  EXPECT_NEAR(adjacency_operator(star).infinity_norm(), std::sqrt(double(leaves)), 1e-9);
  EXPECT_EQ(adjacency_operator(star).norm_estimate(), 1.0);
  for (const auto normalization : {Normalization::kSymmetric, Normalization::kRandomWalk}) {
    const auto w = adjacency_operator(star, normalization);
    const auto expected = torch::matmul(torch::linalg_matrix_exp(t.view({2, 1, 1}) * w.dense()), x);
    for (const double tolerance : {1e-6, 1e-12}) {
      const auto error = (diffusion(w, t, x, tolerance) - expected).abs().flatten(1).amax(1);
      const auto size = expected.abs().flatten(1).amax(1);
      EXPECT_TRUE((error <= 4 * tolerance * size).all().item<bool>())
          << "tolerance " << tolerance << ": relative errors " << error / size;
    }
  }
  // A directed graph gets no spectral bound: hub → leaves, each leaf → one sink, sink → hub makes
  // the sink's column of D^(-1/2) A D^(-1/2) as long as √leaves.
  const auto sink = torch::full({leaves}, leaves + 1, torch::kLong);
  const Graph directed(torch::cat({torch::stack({hub, rest}), torch::stack({rest, sink}),
                                   torch::tensor({{leaves + 1}, {int64_t{0}}})},
                                  1),
                       {}, leaves + 2, {}, GraphOptions().directed(true));
  const auto w = adjacency_operator(directed);
  EXPECT_EQ(w.norm_bound, 0.0);
  EXPECT_GT(torch::linalg_matrix_norm(w.dense(), 2).item<double>(), 2.0);
  const auto y = torch::randn({leaves + 2, 3}, torch::kDouble);
  EXPECT_TENSOR_CLOSE(diffusion(w, torch::tensor(1.0, torch::kDouble), y, 1e-12),
                      torch::matmul(torch::linalg_matrix_exp(w.dense()), y), {1e-10, 1e-10});
  // The bounds hold: the spectral one for the symmetric operators, the ∞-norm for all.
  for (const auto& g : {star, random_graph(30, 0.2, 6)}) {
    for (const auto normalization :
         {Normalization::kSymmetric, Normalization::kRandomWalk, Normalization::kNone}) {
      for (const auto& op :
           {adjacency_operator(g, normalization), laplacian_operator(g, normalization)}) {
        const auto dense = op.dense();
        const double bound = normalization == Normalization::kRandomWalk
                                 ? torch::linalg_matrix_norm(dense, INFINITY).item<double>()
                                 : torch::linalg_matrix_norm(dense, 2).item<double>();
        EXPECT_LE(bound, op.norm_estimate() + 1e-9);
      }
    }
  }
}

// Symmetric W: the Chebyshev expansion, a priori about half the sparse products of the Taylor
// series at tβ = 2, for either sign of t; beyond |t|β = 40 the Taylor series takes over.
TEST(GraphKernels, DiffusionBySymmetricOperatorsUsesTheChebyshevExpansion) {
  const auto g = random_graph(25, 0.2, 7);
  const auto symmetric = adjacency_operator(g, Normalization::kSymmetric);
  const auto random_walk = adjacency_operator(g, Normalization::kRandomWalk);
  const int64_t chebyshev = diffusion_products(symmetric, 2.0, 1e-6);
  const int64_t taylor = diffusion_products(random_walk, 2.0, 1e-6);
  EXPECT_LE(chebyshev, 11);
  EXPECT_GE(taylor, 2 * chebyshev - 2) << chebyshev << " vs " << taylor;
  const auto x = torch::randn({3, g.num_nodes(), 4}, torch::kDouble);
  for (const double tolerance : {1e-6, 1e-12}) {
    const auto t = torch::tensor({-2.5, 0.0, 2.0}, torch::kDouble);
    const auto expected =
        torch::matmul(torch::linalg_matrix_exp(t.view({3, 1, 1}) * symmetric.dense()), x);
    const auto error = (diffusion(symmetric, t, x, tolerance) - expected).flatten(1).norm(2, 1);
    EXPECT_TRUE((error <= tolerance * expected.flatten(1).norm(2, 1)).all().item<bool>())
        << "tolerance " << tolerance << ": errors " << error;
  }
  const auto t = torch::tensor(45.0, torch::kDouble);  // |t|β > 40: the Taylor series
  const auto expected = torch::matmul(torch::linalg_matrix_exp(45.0 * symmetric.dense()), x[0]);
  EXPECT_TENSOR_CLOSE(diffusion(symmetric, t, x[0], 1e-12) / expected.abs().max(),
                      expected / expected.abs().max(), {1e-9, 1e-9});
}

TEST(GraphKernels, RandomWalkKernelAndRegularisedLaplacian) {
  const auto g = random_graph(15, 0.3, 5);
  const auto u = adjacency_operator(g);
  const auto x = torch::randn({g.num_nodes(), 3}, torch::kDouble);
  const auto alpha = torch::tensor({0.5, 0.3, 0.2, 0.1}, torch::kDouble);
  const auto wd = u.dense();
  const auto expected =
      0.5 * x + 0.3 * wd.mm(x) + 0.2 * wd.mm(wd.mm(x)) + 0.1 * wd.mm(wd.mm(wd.mm(x)));
  EXPECT_TENSOR_CLOSE(random_walk_kernel(u, alpha, x), expected, {1e-12, 1e-12});
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) { return random_walk_kernel(u, in[0], in[1]); },
      {alpha.clone().requires_grad_(), x.clone().requires_grad_()});
  const auto sigma = torch::tensor(0.6, torch::kDouble);
  const auto solved = regularized_laplacian(u, sigma, x);
  EXPECT_TENSOR_CLOSE(solved,
                      torch::linalg_solve(torch::eye(g.num_nodes(), torch::kDouble) - 0.6 * wd, x),
                      {1e-8, 1e-9});
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) {
        return regularized_laplacian(u, in[0], in[1], 1e-13);
      },
      {sigma.clone().requires_grad_(), x.clone().requires_grad_()}, {1e-6, 1e-5, 1e-4});
  EXPECT_THROW_WITH(
      regularized_laplacian(adjacency_operator(g, Normalization::kRandomWalk), sigma, x),
      "symmetric");
  EXPECT_THROW_WITH(regularized_laplacian(adjacency_operator(g, Normalization::kNone),
                                          torch::tensor(5.0, torch::kDouble), x),
                    "not positive definite");
}

TEST(GraphKernels, StationaryDistribution) {
  const auto g = random_graph(12, 0.3, 6);
  const auto pi = stationary_distribution(g);
  const auto p = adjacency_operator(g, Normalization::kRandomWalk).dense();
  EXPECT_TENSOR_CLOSE(torch::matmul(pi.unsqueeze(0), p).squeeze(0), pi, {1e-12, 1e-12});
  EXPECT_NEAR(pi.sum().item<double>(), 1.0, 1e-12);
  // A directed graph (a cycle with a chord): π P = π by power iteration.
  const Graph directed(torch::tensor({{0, 1, 2, 3, 0}, {1, 2, 3, 0, 2}}), {}, -1, {},
                       GraphOptions().directed(true));
  const auto pi_d = stationary_distribution(directed);
  const auto p_d = adjacency_operator(directed, Normalization::kRandomWalk).dense();
  EXPECT_TENSOR_CLOSE(torch::matmul(pi_d.unsqueeze(0), p_d).squeeze(0), pi_d, {1e-9, 1e-10});
}

}  // namespace
}  // namespace topo::graph
