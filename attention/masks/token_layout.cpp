// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/token_layout.h"

#include <torch/torch.h>

#include "common/check.h"

namespace topo::attention {

graph::SparseOperator token_operator(const graph::Graph& graph, int64_t length,
                                     graph::Normalization normalization) {
  auto op = graph::adjacency_operator(graph, normalization);
  const auto tokens = graph::node_to_token(graph, length);
  op.edge_index = tokens.index({op.edge_index});
  op.num_nodes = graph.num_graphs() * length;
  return op;
}

graph::Normalization normalization_from_string(const std::string& name) {
  if (name == "none") return graph::Normalization::kNone;
  if (name == "symmetric") return graph::Normalization::kSymmetric;
  if (name == "random-walk") return graph::Normalization::kRandomWalk;
  TOPO_CHECK_ARG(false, "normalization_from_string", "name",
                 "\"none\", \"symmetric\" or \"random-walk\"", "\"" + name + "\"");
  return graph::Normalization::kNone;
}

GraphMaskAlgorithm graph_mask_algorithm_from_string(const std::string& name) {
  if (name == "auto") return GraphMaskAlgorithm::kAuto;
  if (name == "series") return GraphMaskAlgorithm::kSeries;
  if (name == "dense") return GraphMaskAlgorithm::kDense;
  TOPO_CHECK_ARG(false, "graph_mask_algorithm_from_string", "name",
                 "\"auto\", \"series\" or \"dense\"", "\"" + name + "\"");
  return GraphMaskAlgorithm::kAuto;
}

std::string to_string(GraphMaskAlgorithm algorithm) {
  switch (algorithm) {
    case GraphMaskAlgorithm::kAuto:
      return "auto";
    case GraphMaskAlgorithm::kSeries:
      return "series";
    case GraphMaskAlgorithm::kDense:
      return "dense";
  }
  return "?";
}

std::string to_string(graph::Normalization normalization) {
  switch (normalization) {
    case graph::Normalization::kNone:
      return "none";
    case graph::Normalization::kSymmetric:
      return "symmetric";
    case graph::Normalization::kRandomWalk:
      return "random-walk";
  }
  return "?";
}

namespace detail {

torch::Tensor tokens_to_nodes(const torch::Tensor& x) {
  return x.transpose(0, 1).reshape({x.size(1), x.size(0) * x.size(2), x.size(3)});
}

torch::Tensor nodes_to_tokens(const torch::Tensor& y, int64_t batch_size, int64_t length) {
  return y.view({y.size(0), batch_size, length, y.size(2)}).transpose(0, 1);
}

torch::Tensor diagonal_blocks(const torch::Tensor& m, int64_t batch_size, int64_t length) {
  const auto blocks = m.view({m.size(0), batch_size, length, batch_size, length});
  const auto b = torch::arange(batch_size, torch::kLong);
  return blocks.index({torch::indexing::Slice(), b, torch::indexing::Slice(), b});
}

const graph::Graph& context_graph(const MaskContext& context, const char* mask) {
  check_context(context, mask, false, true);
  const auto& g = *context.graph;
  TOPO_CHECK_ARG(g.num_graphs() == context.batch_size, mask, "context.graph",
                 c10::str("one graph per batch element (", context.batch_size, ")"),
                 c10::str(g.num_graphs(), " graphs"));
  return g;
}

const graph::SparseOperator& cached_token_operator(const MaskContext& context,
                                                   graph::Normalization normalization,
                                                   const char* mask) {
  const auto& g = context_graph(context, mask);
  return context.cache->get<graph::SparseOperator>(
      "token_operator/" + to_string(normalization),
      [&] { return token_operator(g, context.length, normalization); });
}

namespace {

std::string spectral_key(graph::Normalization normalization) {
  return "spectral_blocks/" + to_string(normalization);
}

SpectralBlocks spectral_blocks(const graph::Graph& g, int64_t length,
                               graph::Normalization normalization) {
  if (g.directed()) return {};
  // D^-1 A = D^-1/2 S D^1/2 with S the symmetric normalisation, so f(D^-1 A) = D^-1/2 f(S) D^1/2.
  const bool random_walk = normalization == graph::Normalization::kRandomWalk;
  const auto op =
      token_operator(g, length, random_walk ? graph::Normalization::kSymmetric : normalization);
  const int64_t batch = g.num_graphs();
  const auto rows = op.edge_index[0].cpu(), cols = op.edge_index[1].cpu();
  auto w = torch::zeros({batch, length, length}, torch::kDouble);
  w.index_put_({torch::div(rows, length, "floor"), torch::remainder(rows, length),
                torch::remainder(cols, length)},
               op.values.cpu().to(torch::kDouble), /*accumulate=*/true);
  // An undirected graph's edge listed both ways with different weights is not symmetric.
  const double scale = w.numel() ? w.abs().max().item<double>() : 0.0;
  if (w.numel() && (w - w.transpose(1, 2)).abs().max().item<double>() > 1e-12 * scale) return {};
  const auto [values, vectors] = torch::linalg_eigh(w);
  auto left = torch::ones({batch * length}, torch::kDouble), right = left.clone();
  if (random_walk) {
    const auto degree = g.degree().cpu().to(torch::kDouble);
    const auto tokens = graph::node_to_token(g, length).cpu();
    const auto root = torch::where(degree > 0, degree.sqrt(), torch::ones_like(degree));
    left.index_put_({tokens}, 1.0 / root);
    right.index_put_({tokens}, root);
  }
  return {vectors, values, left.view({batch, length}), right.view({batch, length})};
}

}  // namespace

const SpectralBlocks& cached_spectral_blocks(const MaskContext& context,
                                             graph::Normalization normalization, const char* mask) {
  const auto& g = context_graph(context, mask);
  return context.cache->get<SpectralBlocks>(spectral_key(normalization), [&] {
    return spectral_blocks(g, context.length, normalization);
  });
}

bool has_spectral_blocks(const MaskContext& context, graph::Normalization normalization) {
  return context.cache->contains(spectral_key(normalization));
}

torch::Tensor spectral_mask_blocks(const SpectralBlocks& blocks, const torch::Tensor& f) {
  // In f's dtype: U f(Λ) Uᵀ cancels terms of size max f, so float32 leaves ~1e-7·max f in every
  // entry, as the float32 series does (its terms reach e^(t‖W‖) too). Float64 here made the
  // main job's diffusion step 1.3x slower (BENCHMARKS.md).
  const auto options = f.options();
  const auto u = blocks.vectors.to(options);                             // [B, L, L]
  const auto left = blocks.left.to(options).unsqueeze(-1);               // [B, L, 1]
  const auto right = blocks.right.to(options).unsqueeze(-2);             // [B, 1, L]
  const auto scaled = u.unsqueeze(0) * f.unsqueeze(-2);                  // [H, B, L, L]
  const auto m = torch::matmul(scaled, u.transpose(1, 2).unsqueeze(0));  // U f(Λ) Uᵀ
  return (left * m * right).transpose(0, 1);                             // [B, H, L, L]
}

bool dense_blocks_are_cheaper(int64_t batch, int64_t heads, int64_t length, int64_t features,
                              int64_t value_dim, int64_t arcs, double products, bool decomposed) {
  // Units: one multiply-add of the dense path's GEMMs (~0.06 ns here, forward and backward).
  // Measured by topo_bench_graph's BM_DiffusionAlgorithms (BENCHMARKS.md, 2-core machine):
  // the series costs ~1 ns per arc, channel and product, forward and backward together (16
  // units; the forward alone ~0.4 ns at 16k nodes), the elementwise passes over the
  // L×L blocks (Hadamard product, masks, their gradients) an allowance of 16 units per element,
  // and float64 eigh 0.18 ns per L³ at L = 1024 and 0.6 ns at L = 150 (~10 units).
  constexpr double kSparse = 16, kElementwise = 16, kEigh = 10;
  constexpr double kMaxElements = double(int64_t{1} << 25);
  const double b = double(batch), h = double(heads), l = double(length);
  if (b * h * l * l > kMaxElements) return false;
  const double dense = b * h * l * l * (l + double(features + value_dim + 1) + kElementwise) +
                       (decomposed ? 0.0 : kEigh * b * l * l * l);
  const double series =
      kSparse * products * double(arcs) * h * double(features) * double(value_dim + 1);
  return dense < series;
}

}  // namespace detail

}  // namespace topo::attention
