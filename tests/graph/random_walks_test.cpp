// SPDX-License-Identifier: Apache-2.0
// Random walks, GKAT frequencies and graph random features: reproducibility and statistics.
#include "graph/random_walks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/threads.h"
#include "graph/graph.h"
#include "graph/sparse_operator.h"
#include "support/tensor_assertions.h"

namespace topo::graph {
namespace {

Graph ring_with_chords() {
  // 10-cycle plus chords: degrees vary, so importance weights matter.
  std::vector<int64_t> rows, cols;
  for (int64_t i = 0; i < 10; ++i) {
    rows.push_back(i);
    cols.push_back((i + 1) % 10);
  }
  for (const auto& [a, b] :
       std::vector<std::pair<int64_t, int64_t>>{{0, 5}, {2, 7}, {0, 3}, {4, 8}}) {
    rows.push_back(a);
    cols.push_back(b);
  }
  return Graph(torch::stack({torch::tensor(rows), torch::tensor(cols)}),
               torch::rand({14}, torch::kDouble) + 0.5);
}

TEST(RandomWalks, FollowEdgesAndAreReproducibleAtAnyThreadCount) {
  const auto g = ring_with_chords();
  const auto options = RandomWalkOptions().walks_per_node(400).max_length(6).halt_probability(0.2);
  const int64_t before = num_threads();
  set_num_threads(1);
  torch::manual_seed(3);
  const auto a = sample_random_walks(g, options);
  set_num_threads(2);
  torch::manual_seed(3);
  const auto b = sample_random_walks(g, options);
  set_num_threads(before);
  EXPECT_TRUE(a.nodes.equal(b.nodes));
  const auto dense = adjacency_operator(g, Normalization::kNone).dense();
  for (int64_t w = 0; w < a.nodes.size(0); ++w) {
    const int64_t length = a.length[w].item<int64_t>();
    for (int64_t t = 0; t < length; ++t) {
      ASSERT_GT(dense[a.nodes[w][t]][a.nodes[w][t + 1]].item<double>(), 0.0);
    }
    // Visited positions hold nodes, positions after the end hold −1.
    EXPECT_TRUE((a.nodes[w].slice(0, 0, length + 1) >= 0).all().item<bool>());
    EXPECT_TRUE((a.nodes[w].slice(0, length + 1) == -1).all().item<bool>());
  }
  // Lengths follow the truncated geometric law: P(length ≥ t) = 0.8^t.
  const double mean = a.length.to(torch::kDouble).mean().item<double>();
  double expected = 0;
  for (int t = 1; t <= 6; ++t) expected += std::pow(0.8, t);
  EXPECT_NEAR(mean, expected, 0.12);  // 4 standard errors
}

TEST(RandomWalks, AntitheticPairsHaltOppositely) {
  const auto g = ring_with_chords();
  torch::manual_seed(4);
  const auto walks = sample_random_walks(
      g,
      RandomWalkOptions().walks_per_node(2).max_length(1).halt_probability(0.5).antithetic(true));
  // With p = ½ and one step, exactly one walker of each pair halts before moving.
  const auto lengths = walks.length.view({-1, 2});
  EXPECT_TRUE((lengths.sum(1) == 1).all().item<bool>());
  EXPECT_THROW_WITH(sample_random_walks(g, RandomWalkOptions().walks_per_node(3).antithetic(true)),
                    "even");
}

TEST(Gkat, FrequencyMatrixEstimatesTheWalkDistribution) {
  const auto g = ring_with_chords();
  const int64_t length = 4;
  // E[F] = (1/1)·Σ_{t=0}^{length} P^t for uniform walks (P = D⁻¹A on the unweighted graph).
  const Graph unweighted(g.edge_index(), {}, -1, {}, GraphOptions().directed(true));
  const auto p = adjacency_operator(unweighted, Normalization::kRandomWalk).dense();
  auto expected = torch::eye(10, torch::kDouble), power = torch::eye(10, torch::kDouble);
  for (int64_t t = 1; t <= length; ++t) {
    power = power.mm(p);
    expected = expected + power;
  }
  double previous = 1e9;
  for (const int64_t walks : {10, 160, 2560}) {
    torch::manual_seed(5);
    const auto f = gkat_frequency_matrix(
        unweighted, RandomWalkOptions().walks_per_node(walks).max_length(length));
    const auto dense = f.dense();
    EXPECT_TENSOR_CLOSE(dense.sum(1), torch::full({10}, double(length + 1), torch::kDouble));
    const double error = ((dense - expected).norm() / expected.norm()).item<double>();
    EXPECT_LT(error, previous / 2.0) << walks << " walks";  // ∝ walks^(-1/2): /4 per 16x
    previous = error;
  }
}

TEST(GraphRandomFeatures, UnbiasedForTheModulatedKernelWithIndependentWalks) {
  const auto g = ring_with_chords();
  const auto w = adjacency_operator(g);
  const auto f = torch::tensor({1.0, 0.6, 0.3, 0.1, 0.05}, torch::kDouble);  // K = 4
  const auto alpha = self_convolution(f);
  const auto wd = w.dense();
  auto target = torch::zeros({10, 10}, torch::kDouble), power = torch::eye(10, torch::kDouble);
  for (int64_t k = 0; k <= 8; ++k) {
    target = target + alpha[k] * power;
    power = power.mm(wd);
  }
  const auto options = RandomWalkOptions().walks_per_node(8).max_length(4).halt_probability(0.3);
  const auto phi = [&](const SparseFeatures& s) {
    return torch::einsum("k,kij->ij", {f, s.dense()});
  };
  torch::manual_seed(6);
  auto sum = torch::zeros({10, 10}, torch::kDouble);
  double at_25 = 0;
  for (int trial = 1; trial <= 400; ++trial) {
    const auto a = graph_random_features(g, w, options), b = graph_random_features(g, w, options);
    sum += phi(a).mm(phi(b).t());
    if (trial == 25) at_25 = ((sum / 25 - target).norm() / target.norm()).item<double>();
  }
  const double at_400 = ((sum / 400 - target).norm() / target.norm()).item<double>();
  EXPECT_LT(at_400, at_25 / 2.0) << at_25 << " -> " << at_400;  // expected /4
  EXPECT_LT(at_400, 0.05);
  EXPECT_TENSOR_CLOSE(self_convolution(torch::tensor({1.0, 2.0, 3.0})),
                      torch::tensor({1.0, 4.0, 10.0, 12.0, 9.0}));
}

}  // namespace
}  // namespace topo::graph
