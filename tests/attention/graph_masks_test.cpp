// SPDX-License-Identifier: Apache-2.0
// Graph masks against their dense matrices (float64) on batches of graphs of different sizes,
// inside masked linear attention, with gradients by finite differences.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "attention/masked_linear_attention.h"
#include "attention/masks/diffusion_mask.h"
#include "attention/masks/graph_random_feature_mask.h"
#include "attention/masks/random_walk_kernel_mask.h"
#include "attention/masks/spanning_tree_mask.h"
#include "attention/masks/tree_exp_mask.h"
#include "attention/masks/tree_function_mask.h"
#include "graph/algorithms.h"
#include "graph/graph.h"
#include "graph/tree.h"
#include "support/gradcheck.h"
#include "support/reference_attention.h"
#include "support/tensor_assertions.h"

namespace topo::attention {
namespace {

/// Random tree on n nodes (node i attaches to a random earlier node), edges one way.
std::pair<torch::Tensor, torch::Tensor> random_tree(int64_t n, int64_t offset,
                                                    bool integer_weights) {
  std::vector<int64_t> rows, cols;
  for (int64_t i = 1; i < n; ++i) {
    rows.push_back(offset + torch::randint(0, i, {1}, torch::kLong).item<int64_t>());
    cols.push_back(offset + i);
  }
  const auto edges = n > 1 ? torch::stack({torch::tensor(rows), torch::tensor(cols)})
                           : torch::zeros({2, 0}, torch::kLong);
  const auto weights = integer_weights
                           ? torch::randint(1, 4, {n - 1}, torch::kLong).to(torch::kDouble)
                           : torch::rand({n - 1}, torch::kDouble) + 0.2;
  return {edges, weights};
}

/// Two trees (sizes 13 and 7) as a batch of graphs, padded to length 15.
struct TreeBatch {
  graph::Graph graph;
  torch::Tensor edges, weights;
  int64_t length = 15;
};

TreeBatch tree_batch(bool integer_weights, uint64_t seed) {
  torch::manual_seed(seed);
  const auto [e1, w1] = random_tree(13, 0, integer_weights);
  const auto [e2, w2] = random_tree(7, 13, integer_weights);
  TreeBatch t;
  t.edges = torch::cat({e1, e2}, 1);
  t.weights = torch::cat({w1, w2});
  t.graph =
      graph::Graph(t.edges, t.weights, 20,
                   torch::cat({torch::zeros({13}, torch::kLong), torch::ones({7}, torch::kLong)}));
  return t;
}

/// The context of a batch of graphs padded to `length` tokens.
MaskContext graph_context(const graph::Graph& g, int64_t length) {
  MaskContext context;
  context.batch_size = g.num_graphs();
  context.length = length;
  context.graph = std::make_shared<graph::Graph>(g);
  context.options = torch::kDouble;
  return context;
}

/// Checks apply() against dense() and masked attention against the dense reference.
void expect_mask_matches_dense(const MaskOperator& mask, int64_t batch, int64_t heads,
                               int64_t length, double tol = 1e-10) {
  const auto x = torch::randn({batch, heads, length, 5}, torch::kDouble);
  const auto dense = mask.dense(torch::kDouble);
  EXPECT_TENSOR_CLOSE(mask.apply(x), torch::matmul(dense, x), {tol, tol});
  const auto phi_q = torch::rand({batch, heads, length, 4}, torch::kDouble) + 0.1;
  const auto phi_k = torch::rand({batch, heads, length, 4}, torch::kDouble) + 0.1;
  const auto v = torch::randn({batch, heads, length, 3}, torch::kDouble);
  EXPECT_TENSOR_CLOSE(masked_linear_attention(phi_q, phi_k, v, mask),
                      topo::test::dense_masked_kernel_attention(phi_q, phi_k, v, dense),
                      {tol, tol});
}

TEST(TreeExpMask, MatchesDenseOnAWeightedForestBatch) {
  const auto t = tree_batch(false, 0);
  const auto lambda = torch::tensor({-0.7, 0.3}, torch::kDouble);
  const TreeExpOperator mask({graph::root_forest_on_tokens(t.graph, t.edges, t.weights, t.length)},
                             lambda, 2, t.length);
  expect_mask_matches_dense(mask, 2, 2, t.length);
  // Dense oracle from tree distances directly.
  const auto forest = graph::root_forest(20, t.edges, t.weights);
  const auto d = graph::forest_distances(forest);
  EXPECT_NEAR(mask.dense(torch::kDouble)[1][0][2][5].item<double>(),
              std::exp(-0.7 * d[15][18].item<double>()), 1e-12);
}

TEST(TreeExpMask, GradientsInInputAndLambda) {
  const auto t = tree_batch(false, 1);
  const auto forest = graph::root_forest_on_tokens(t.graph, t.edges, t.weights, t.length);
  const auto x = torch::randn({2, 2, t.length, 3}, torch::kDouble);
  const auto lambda = torch::tensor({-1.0, -0.4}, torch::kDouble);
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) {
        return TreeExpOperator({forest}, in[1], 2, t.length).apply(in[0]);
      },
      {x.clone().requires_grad_(), lambda.clone().requires_grad_()});
}

TEST(SpanningTreeMask, AveragesTreeMasksOverSpanningTreesOfAGraphBatch) {
  torch::manual_seed(2);
  // A 4×4 grid graph and a 5-cycle, padded to 16 tokens.
  std::vector<int64_t> rows, cols;
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t c = 0; c < 4; ++c) {
      if (c < 3) {
        rows.push_back(4 * r + c);
        cols.push_back(4 * r + c + 1);
      }
      if (r < 3) {
        rows.push_back(4 * r + c);
        cols.push_back(4 * r + c + 4);
      }
    }
  }
  for (int64_t i = 0; i < 5; ++i) {
    rows.push_back(16 + i);
    cols.push_back(16 + (i + 1) % 5);
  }
  const graph::Graph g(
      torch::stack({torch::tensor(rows), torch::tensor(cols)}), {}, 21,
      torch::cat({torch::zeros({16}, torch::kLong), torch::ones({5}, torch::kLong)}));
  for (const auto kind : {SpanningTreeKind::kRandom, SpanningTreeKind::kMinimum}) {
    SpanningTreeMask mask(SpanningTreeMaskOptions(2).kind(kind).num_trees(3));
    mask->to(torch::kDouble);
    const auto context = graph_context(g, 16);
    const auto op = mask->build(context);
    expect_mask_matches_dense(*op, 2, 2, 16);
    EXPECT_EQ(context.cache->size(), 1u);
    mask->build(context);
    EXPECT_EQ(context.cache->size(), 1u);  // the trees are drawn once per context
  }
}

TEST(TreeFunctionMask, CentroidFftMatchesDenseForArbitraryTables) {
  for (const bool integer_weights : {false, true}) {
    auto t = tree_batch(true, 3);
    if (!integer_weights) t.weights = torch::ones_like(t.weights);
    const auto forest = graph::root_forest_on_tokens(t.graph, t.edges, t.weights, t.length);
    for (const auto semantics : {MaskSemantics::kLogitAdditive, MaskSemantics::kMultiplicative}) {
      (void)semantics;
      const auto table = torch::rand({2, 13}, torch::kDouble) + 0.1;  // arbitrary, not monotone
      expect_mask_matches_dense(*tree_function_operator(forest, table, 2, t.length), 2, 2,
                                t.length);
    }
  }
}

TEST(TreeFunctionMask, LargeRandomTreesAndGradients) {
  torch::manual_seed(4);
  const auto [edges, weights] = random_tree(300, 0, false);
  const graph::Graph g(edges, torch::ones({299}, torch::kDouble), 300);
  const auto mask = tree_function_operator(
      graph::root_forest_on_tokens(g, edges, torch::ones({299}, torch::kDouble), 300),
      torch::rand({1, 401}, torch::kDouble), 1, 300);
  const auto x = torch::randn({1, 1, 300, 2}, torch::kDouble);
  EXPECT_TENSOR_CLOSE(mask->apply(x), torch::matmul(mask->dense(torch::kDouble), x), {1e-9, 1e-10});
  // A long path: centroid pieces deeper than the direct-Hankel limit take the FFT route.
  const auto path = torch::stack({torch::arange(0, 199), torch::arange(1, 200)});
  const auto steps = torch::randint(1, 3, {199}, torch::kLong).to(torch::kDouble);
  const graph::Graph line(path, steps, 200);
  // (pieces deeper than 32 levels exist on a 200-node path with steps of 1–2)
  const auto long_mask =
      tree_function_operator(graph::root_forest_on_tokens(line, path, steps, 200),
                             torch::rand({2, 501}, torch::kDouble), 1, 200);
  const auto xp = torch::randn({1, 2, 200, 3}, torch::kDouble);
  EXPECT_TENSOR_CLOSE(long_mask->apply(xp), torch::matmul(long_mask->dense(torch::kDouble), xp),
                      {1e-9, 1e-10});
  const auto t = tree_batch(false, 5);
  const auto small_forest =
      graph::root_forest_on_tokens(t.graph, t.edges, torch::ones_like(t.weights), t.length);
  const auto xs = torch::randn({2, 2, t.length, 2}, torch::kDouble);
  const auto table = torch::rand({2, 11}, torch::kDouble);
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) {
        return tree_function_operator(small_forest, in[1], 2, t.length)->apply(in[0]);
      },
      {xs.clone().requires_grad_(), table.clone().requires_grad_()});
  EXPECT_THROW_WITH(
      tree_function_operator(graph::root_forest_on_tokens(t.graph, t.edges, t.weights, t.length),
                             table, 2, t.length),
      "positive integer edge weights");
}

graph::Graph two_graphs() {
  torch::manual_seed(6);
  // A random graph on 9 nodes and a path on 5, padded to 10 tokens.
  std::vector<int64_t> rows, cols;
  for (int64_t i = 0; i < 9; ++i) {
    for (int64_t j = i + 1; j < 9; ++j) {
      if (j == i + 1 || torch::rand({1}).item<double>() < 0.3) {
        rows.push_back(i);
        cols.push_back(j);
      }
    }
  }
  for (int64_t i = 9; i < 13; ++i) {
    rows.push_back(i);
    cols.push_back(i + 1);
  }
  const auto edges = torch::stack({torch::tensor(rows), torch::tensor(cols)});
  return graph::Graph(
      edges, torch::rand({edges.size(1)}, torch::kDouble) + 0.5, 14,
      torch::cat({torch::zeros({9}, torch::kLong), torch::ones({5}, torch::kLong)}));
}

TEST(DiffusionMask, MatchesMatrixExponentialAndLearnsTime) {
  const auto g = two_graphs();
  for (const auto normalization :
       {graph::Normalization::kSymmetric, graph::Normalization::kRandomWalk}) {
    DiffusionMask mask(
        DiffusionMaskOptions(2).time(1.3).normalization(normalization).tolerance(1e-13));
    mask->to(torch::kDouble);
    const auto context = graph_context(g, 10);
    expect_mask_matches_dense(*mask->build(context), 2, 2, 10, 1e-9);
    const auto x = torch::randn({2, 2, 10, 3}, torch::kDouble),
               w = torch::randn({2, 2, 10, 3}, torch::kDouble);
    EXPECT_PARAMETER_GRADCHECK(mask->parameters(),
                               [&] { return (mask->build(context)->apply(x) * w).sum(); });
  }
}

TEST(RandomWalkKernelMask, MatchesDensePolynomial) {
  const auto g = two_graphs();
  RandomWalkKernelMask mask(RandomWalkKernelMaskOptions(3, 4));
  mask->to(torch::kDouble);
  const auto context = graph_context(g, 10);
  expect_mask_matches_dense(*mask->build(context), 2, 3, 10);
  const auto x = torch::randn({2, 3, 10, 3}, torch::kDouble),
             w = torch::randn({2, 3, 10, 3}, torch::kDouble);
  EXPECT_PARAMETER_GRADCHECK(mask->parameters(),
                             [&] { return (mask->build(context)->apply(x) * w).sum(); });
}

/// The context of `g` padded to `length`, float64, with key padding beyond each graph.
torch::Tensor key_padding(const graph::Graph& g, int64_t length) {
  const auto sizes = torch::bincount(g.batch());
  return torch::arange(length).unsqueeze(0) >= sizes.unsqueeze(1);
}

/// Both algorithms of a spectral graph mask (series = Alg. 1, dense = attention per graph from
/// the eigendecomposition) against the dense oracle, with padded keys, and the dense path's
/// gradients in the inputs and the mask's parameters by finite differences.
template <typename MakeMask>
void expect_both_algorithms_exact(const graph::Graph& g, int64_t heads, MakeMask make_mask) {
  const int64_t length = 10;
  const auto padding = key_padding(g, length);
  const auto phi_q = torch::rand({2, heads, length, 4}, torch::kDouble) + 0.1;
  const auto phi_k = torch::rand({2, heads, length, 4}, torch::kDouble) + 0.1;
  const auto v = torch::randn({2, heads, length, 3}, torch::kDouble);
  for (const auto normalization :
       {graph::Normalization::kSymmetric, graph::Normalization::kRandomWalk,
        graph::Normalization::kNone}) {
    SCOPED_TRACE(to_string(normalization));
    auto series = make_mask(normalization, GraphMaskAlgorithm::kSeries);
    auto dense = make_mask(normalization, GraphMaskAlgorithm::kDense);
    const auto context = graph_context(g, length);
    const auto oracle = topo::test::dense_masked_kernel_attention(
        phi_q, phi_k, v, series->build(context)->dense(torch::kDouble), padding);
    EXPECT_TENSOR_CLOSE(masked_linear_attention(phi_q, phi_k, v, *series->build(context), padding),
                        oracle, {1e-10, 1e-10});
    EXPECT_FALSE(detail::has_spectral_blocks(context, normalization));
    EXPECT_TENSOR_CLOSE(masked_linear_attention(phi_q, phi_k, v, *dense->build(context), padding),
                        oracle, {1e-10, 1e-10});
    EXPECT_TRUE(detail::has_spectral_blocks(context, normalization));
    EXPECT_GRADCHECK(
        [&](const std::vector<torch::Tensor>& in) {
          return masked_linear_attention(in[0], in[1], in[2], *dense->build(context), padding);
        },
        {phi_q.clone().requires_grad_(), phi_k.clone().requires_grad_(),
         v.clone().requires_grad_()});
    const auto w = torch::randn({2, heads, length, 3}, torch::kDouble);
    EXPECT_PARAMETER_GRADCHECK(dense->parameters(), [&] {
      return (masked_linear_attention(phi_q, phi_k, v, *dense->build(context), padding) * w).sum();
    });
  }
}

TEST(DiffusionMask, DenseAttentionPerGraphMatchesTheSeriesAndTheOracle) {
  expect_both_algorithms_exact(two_graphs(), 2, [](auto normalization, auto algorithm) {
    DiffusionMask mask(DiffusionMaskOptions(2)
                           .time(0.7)
                           .normalization(normalization)
                           .tolerance(1e-14)
                           .algorithm(algorithm));
    mask->to(torch::kDouble);
    mask->time.data().copy_(torch::tensor({0.7, 1.6}));  // a time per head
    return mask;
  });
}

TEST(RandomWalkKernelMask, DenseAttentionPerGraphMatchesTheSeriesAndTheOracle) {
  expect_both_algorithms_exact(two_graphs(), 3, [](auto normalization, auto algorithm) {
    RandomWalkKernelMask mask(
        RandomWalkKernelMaskOptions(3, 3).normalization(normalization).algorithm(algorithm));
    mask->to(torch::kDouble);
    mask->alpha.data().copy_(torch::linspace(0.1, 1.0, 12, torch::kDouble).view({3, 4}));
    return mask;
  });
}

TEST(GraphMasks, DenseAlgorithmFallsBackToTheSeriesOnDirectedGraphs) {
  const auto undirected = two_graphs();
  const graph::Graph g(undirected.edge_index(), undirected.weight(), undirected.num_nodes(),
                       undirected.batch(), graph::GraphOptions().directed(true));
  DiffusionMask mask(
      DiffusionMaskOptions(2).tolerance(1e-14).algorithm(GraphMaskAlgorithm::kDense));
  mask->to(torch::kDouble);
  const auto context = graph_context(g, 10);
  expect_mask_matches_dense(*mask->build(context), 2, 2, 10);
  EXPECT_FALSE(
      detail::cached_spectral_blocks(context, graph::Normalization::kSymmetric, "test").defined());
}

TEST(GraphMasks, CostModelChoosesDenseBlocksForSmallGraphsOnly) {
  // Switch points of detail::dense_blocks_are_cheaper: with H = 4, M = 64, D = 32 and 8
  // neighbours a node (16 arcs), 10 products, dense attention per graph is cheaper up to a
  // graph size and the series beyond; the eigendecomposition, once made, is not counted again.
  const auto cheaper = [](int64_t batch, int64_t length, bool decomposed) {
    return detail::dense_blocks_are_cheaper(batch, 4, length, 64, 32, batch * length * 16, 10.0,
                                            decomposed);
  };
  int64_t switch_at = 0;
  for (int64_t l = 8; l <= 8192 && !switch_at; l += 8) {
    if (!cheaper(1, l, false)) switch_at = l;
  }
  ASSERT_GT(switch_at, 64);    // molecules, digits and TU graphs: dense
  EXPECT_LT(switch_at, 2708);  // Cora as one graph: the series
  EXPECT_TRUE(cheaper(1, switch_at - 8, false));
  EXPECT_FALSE(cheaper(1, switch_at, false));
  EXPECT_TRUE(cheaper(1, switch_at, true));  // the decomposition is already paid for
  // The same graphs in a batch switch at the same size; the memory cap (2^25 mask elements)
  // refuses dense blocks however cheap.
  EXPECT_TRUE(cheaper(4, switch_at - 8, false));
  EXPECT_FALSE(cheaper(4, switch_at, false));
  EXPECT_FALSE(detail::dense_blocks_are_cheaper(4096, 4, 64, 64, 32, 1, 1e9, true));
  EXPECT_TRUE(detail::dense_blocks_are_cheaper(2048, 4, 64, 64, 32, 1, 1e9, true));

  // The operators follow the model: a batch of small graphs gets dense attention (the
  // decomposition appears in the context's cache), one long path graph the series.
  DiffusionMask mask(DiffusionMaskOptions(2));
  mask->to(torch::kDouble);
  const auto phi = [](int64_t b, int64_t l) { return torch::rand({b, 2, l, 4}, torch::kDouble); };
  const auto small = graph_context(two_graphs(), 10);
  masked_linear_attention(phi(2, 10), phi(2, 10), phi(2, 10), *mask->build(small));
  EXPECT_TRUE(detail::has_spectral_blocks(small, graph::Normalization::kSymmetric));
  const int64_t n = 3000;
  const auto path = torch::stack({torch::arange(n - 1), torch::arange(1, n)});
  const auto large = graph_context(graph::Graph(path, {}, n), n);
  const auto out = masked_linear_attention(phi(1, n), phi(1, n), phi(1, n), *mask->build(large));
  EXPECT_FALSE(detail::has_spectral_blocks(large, graph::Normalization::kSymmetric));
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
}

TEST(GraphRandomFeatureMask, BucketAlgorithmIsExactForItsFeaturesAndUnbiased) {
  const auto g = two_graphs();
  torch::manual_seed(7);
  GraphRandomFeatureMask mask(
      GraphRandomFeatureMaskOptions(2).max_length(4).walks_per_node(8).halt_probability(0.3));
  mask->to(torch::kDouble);
  const auto context = graph_context(g, 10);
  expect_mask_matches_dense(*mask->build(context), 2, 2, 10);
  const auto x = torch::randn({2, 2, 10, 3}, torch::kDouble),
             w = torch::randn({2, 2, 10, 3}, torch::kDouble);
  EXPECT_PARAMETER_GRADCHECK(mask->parameters(),
                             [&] { return (mask->build(context)->apply(x) * w).sum(); });
  // The mask is non-negative, and its average over new walks (a new context each draw, as a new
  // batch has) approaches the expected kernel.
  EXPECT_GE(mask->build(context)->dense(torch::kDouble).min().item<double>(), 0.0);
  const auto target = mask->expected_dense(context, torch::kDouble);
  auto sum = torch::zeros_like(target);
  double at_16 = 0;
  for (int draw = 1; draw <= 256; ++draw) {
    sum += mask->build(graph_context(g, 10))->dense(torch::kDouble);
    if (draw == 16) at_16 = ((sum / 16 - target).norm() / target.norm()).item<double>();
  }
  const double at_256 = ((sum / 256 - target).norm() / target.norm()).item<double>();
  EXPECT_LT(at_256, at_16 / 2.0) << at_16 << " -> " << at_256;  // expected /4
}

TEST(GraphMasks, BadInputGivesClearErrors) {
  const auto g = two_graphs();
  DiffusionMask mask(DiffusionMaskOptions(2));
  EXPECT_THROW_WITH(mask->build(graph_context(g, 6)),
                    "`length` must be >= the largest graph (9 nodes)");
  EXPECT_THROW_WITH(mask->build(graph_context(g, 10))->apply(torch::randn({2, 2, 11, 3})), "10");
  MaskContext no_graph;
  no_graph.batch_size = 2;
  no_graph.length = 10;
  EXPECT_THROW_WITH(mask->build(no_graph),
                    "DiffusionMask: `context.graph` must be the batch's graph");
  EXPECT_THROW_WITH(graph::root_forest(3, torch::tensor({{0, 1, 2}, {1, 2, 0}})),
                    "a forest (no cycles");
}

}  // namespace
}  // namespace topo::attention
