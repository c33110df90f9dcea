// SPDX-License-Identifier: Apache-2.0
// Graph-masked linear attention against dense masked softmax on N-node graphs (batch 1,
// 4 heads, head dim 32, 64 FAVOR+ features), forward only: tree masks on a random tree,
// spanning-tree / diffusion / GRF masks on a 2-D grid graph (√N × √N). Dense masked softmax
// materialises the N×N mask.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <array>
#include <cmath>
#include <vector>

#include "attention/feature_map.h"
#include "attention/masked_linear_attention.h"
#include "attention/masks/diffusion_mask.h"
#include "attention/masks/graph_random_feature_mask.h"
#include "attention/masks/spanning_tree_mask.h"
#include "attention/masks/token_layout.h"
#include "attention/masks/tree_exp_mask.h"
#include "attention/masks/tree_function_mask.h"
#include "graph/graph.h"
#include "graph/tree.h"

namespace {

using namespace topo;

constexpr int64_t kHeads = 4, kHeadDim = 32, kFeatures = 64;

graph::Graph random_tree(int64_t n) {
  torch::manual_seed(0);
  const auto parents =
      (torch::rand({n - 1}, torch::kDouble) * torch::arange(1, n, torch::kDouble)).to(torch::kLong);
  return graph::Graph(torch::stack({parents, torch::arange(1, n)}), {}, n);
}

graph::Graph grid(int64_t side) {
  std::vector<int64_t> rows, cols;
  for (int64_t r = 0; r < side; ++r) {
    for (int64_t c = 0; c < side; ++c) {
      if (c + 1 < side) {
        rows.push_back(r * side + c);
        cols.push_back(r * side + c + 1);
      }
      if (r + 1 < side) {
        rows.push_back(r * side + c);
        cols.push_back((r + 1) * side + c);
      }
    }
  }
  return graph::Graph(torch::stack({torch::tensor(rows), torch::tensor(cols)}), {}, side * side);
}

/// Each undirected edge once.
torch::Tensor one_way(const graph::Graph& g) {
  const auto e = g.edge_index();
  return e.index({torch::indexing::Slice(), e[0] < e[1]});
}

/// The context of one graph over `length` tokens.
attention::MaskContext graph_context(const graph::Graph& g, int64_t length) {
  attention::MaskContext context;
  context.batch_size = 1;
  context.length = length;
  context.graph = std::make_shared<graph::Graph>(g);
  return context;
}

void run(benchmark::State& state, const attention::MaskOperator& mask, int64_t n) {
  torch::manual_seed(1);
  const auto q = torch::randn({1, kHeads, n, kHeadDim}) * 0.5,
             k = torch::randn({1, kHeads, n, kHeadDim}) * 0.5;
  const auto v = torch::randn({1, kHeads, n, kHeadDim});
  attention::FeatureMap phi(
      attention::FeatureMapOptions(kHeadDim).num_heads(kHeads).num_features(kFeatures));
  torch::NoGradGuard guard;
  for (auto _ : state) {
    benchmark::DoNotOptimize(attention::masked_linear_attention(
        phi(q, attention::FeatureRole::kQuery), phi(k, attention::FeatureRole::kKey), v, mask));
  }
  state.counters["N"] = static_cast<double>(n);
}

void BM_TreeExpMask(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto g = random_tree(n);
  const attention::TreeExpOperator mask({graph::root_forest_on_tokens(g, one_way(g), {}, n)},
                                        torch::full({kHeads}, -1.0), 1, n);
  run(state, mask, n);
}

void BM_TreeFunctionMask(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto g = random_tree(n);
  const auto mask = attention::tree_function_operator(
      graph::root_forest_on_tokens(g, one_way(g), {}, n),
      torch::exp(-0.5 * torch::arange(65.0)).repeat({kHeads, 1}), 1, n);
  run(state, *mask, n);
}

void BM_SpanningTreeMask(benchmark::State& state) {
  const int64_t side = static_cast<int64_t>(std::sqrt(double(state.range(0))));
  attention::SpanningTreeMask mask(attention::SpanningTreeMaskOptions(kHeads).num_trees(4));
  run(state, *mask->build(graph_context(grid(side), side * side)), side * side);
}

void BM_DiffusionMask(benchmark::State& state) {
  const int64_t side = static_cast<int64_t>(std::sqrt(double(state.range(0))));
  attention::DiffusionMask mask(attention::DiffusionMaskOptions(kHeads).time(2.0).tolerance(1e-6));
  run(state, *mask->build(graph_context(grid(side), side * side)), side * side);
}

/// Training (forward + backward) of diffusion-masked attention on a batch of 4,096 / L grid
/// graphs of L nodes each, by algorithm (0 = series, Alg. 1; 1 = dense attention per graph from
/// the eigendecomposition; 2 = auto, the cost model's choice): where the switch belongs (issue
/// 16). The decomposition is made once per batch (a new context each iteration, as in training).
void BM_DiffusionAlgorithms(benchmark::State& state) {
  const int64_t algorithm = state.range(0), length = state.range(1);
  const int64_t side = static_cast<int64_t>(std::sqrt(double(length))), batch = 4096 / length;
  const auto one = grid(side);
  std::vector<torch::Tensor> edges, members;
  for (int64_t b = 0; b < batch; ++b) {
    edges.push_back(one.edge_index() + b * length);
    members.push_back(torch::full({length}, b, torch::kLong));
  }
  const graph::Graph g(torch::cat(edges, 1), {}, batch * length, torch::cat(members));
  const auto choice =
      std::array{attention::GraphMaskAlgorithm::kSeries, attention::GraphMaskAlgorithm::kDense,
                 attention::GraphMaskAlgorithm::kAuto}[algorithm];
  attention::DiffusionMask mask(
      attention::DiffusionMaskOptions(kHeads).time(1.0).tolerance(1e-6).algorithm(choice));
  torch::manual_seed(1);
  const auto q = (torch::randn({batch, kHeads, length, kHeadDim}) * 0.5).requires_grad_();
  const auto k = torch::randn({batch, kHeads, length, kHeadDim}) * 0.5;
  const auto v = torch::randn({batch, kHeads, length, kHeadDim}).requires_grad_();
  attention::FeatureMap phi(
      attention::FeatureMapOptions(kHeadDim).num_heads(kHeads).num_features(kFeatures));
  bool dense = false;
  for (auto _ : state) {
    attention::MaskContext context;
    context.batch_size = batch;
    context.length = length;
    context.graph = std::make_shared<graph::Graph>(g);
    attention::masked_linear_attention(phi(q, attention::FeatureRole::kQuery),
                                       phi(k, attention::FeatureRole::kKey), v,
                                       *mask->build(context))
        .sum()
        .backward();
    dense = attention::detail::has_spectral_blocks(context, graph::Normalization::kSymmetric);
  }
  state.counters["L"] = static_cast<double>(length);
  state.counters["dense"] = dense ? 1 : 0;
}
BENCHMARK(BM_DiffusionAlgorithms)
    ->ArgsProduct({{0, 1, 2}, {16, 64, 256, 1024}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(0.5);

void BM_GraphRandomFeatureMask(benchmark::State& state) {
  const int64_t side = static_cast<int64_t>(std::sqrt(double(state.range(0))));
  attention::GraphRandomFeatureMask mask(
      attention::GraphRandomFeatureMaskOptions(kHeads).walks_per_node(4).max_length(6));
  run(state, *mask->build(graph_context(grid(side), side * side)), side * side);
}

void BM_DenseMaskedSoftmax(benchmark::State& state) {
  const int64_t n = state.range(0);
  torch::manual_seed(1);
  const auto q = torch::randn({1, kHeads, n, kHeadDim}) * 0.5,
             k = torch::randn({1, kHeads, n, kHeadDim}) * 0.5;
  const auto v = torch::randn({1, kHeads, n, kHeadDim});
  const auto mask = torch::rand({1, kHeads, n, n});
  torch::NoGradGuard guard;
  for (auto _ : state) {
    const auto logits = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(double(kHeadDim));
    benchmark::DoNotOptimize(torch::matmul(torch::softmax(logits, -1) * mask, v));
  }
  state.counters["N"] = static_cast<double>(n);
}

void sizes(benchmark::internal::Benchmark* b, int64_t max) {
  for (int64_t n = 1024; n <= max; n *= 4) b->Arg(n);
  b->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
}

BENCHMARK(BM_TreeExpMask)->Apply([](auto* b) { sizes(b, 65536); });
BENCHMARK(BM_TreeFunctionMask)->Apply([](auto* b) { sizes(b, 16384); });
BENCHMARK(BM_SpanningTreeMask)->Apply([](auto* b) { sizes(b, 65536); });
BENCHMARK(BM_DiffusionMask)->Apply([](auto* b) { sizes(b, 65536); });
BENCHMARK(BM_GraphRandomFeatureMask)->Apply([](auto* b) { sizes(b, 65536); });
BENCHMARK(BM_DenseMaskedSoftmax)->Apply([](auto* b) { sizes(b, 16384); });

}  // namespace
