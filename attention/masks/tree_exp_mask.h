// SPDX-License-Identifier: Apache-2.0
/// \file
/// Tree masks M_ij = exp(λ_h · dist_T(i, j)) on a weighted tree or forest, applied exactly in
/// O(L) per channel by two passes (leaves → root, root → leaves; section 2.4(a) of
/// reference/topological-masking.md), with a custom backward for the input and for λ.
/// SpanningTreeMask averages such masks over spanning trees of a general graph.
#pragma once

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "attention/masks/mask.h"
#include "graph/graph.h"
#include "graph/tree.h"

namespace topo::attention {

/// y = exp(λ_h · D_T) x for `x` [H, N, C] over the forest's N nodes, `lambda` [H] or [1]
/// (differentiable in x and λ; second derivatives are not provided).
torch::Tensor tree_exp_product(const graph::RootedForest& forest, const torch::Tensor& lambda,
                               const torch::Tensor& x);

struct TreeExpMaskOptions {
  explicit TreeExpMaskOptions(int64_t num_heads) : num_heads_(num_heads) {}
  TORCH_ARG(int64_t, num_heads);
  /// Initial λ (negative: the mask decays with tree distance).
  TORCH_ARG(double, lambda) = -1.0;
};

/// TreeExpMask over a forest on the padded tokens of [B, H, L, C] inputs (build it with
/// graph::root_forest_on_tokens). Parameter `lambda` [H].
class TreeExpMaskImpl : public Mask {
 public:
  TreeExpMaskImpl(const TreeExpMaskOptions& options_, graph::RootedForest forest, int64_t batch_size,
                  int64_t length);
  torch::Tensor apply(const torch::Tensor& x) override;
  torch::Tensor dense(int64_t length, const torch::TensorOptions& options) override;
  void pretty_print(std::ostream& stream) const override;

  TreeExpMaskOptions options;
  graph::RootedForest forest;
  int64_t batch_size, length;
  torch::Tensor lambda;
};
TORCH_MODULE(TreeExpMask);

enum class SpanningTreeKind { kMinimum, kRandom };

struct SpanningTreeMaskOptions {
  explicit SpanningTreeMaskOptions(int64_t num_heads) : num_heads_(num_heads) {}
  TORCH_ARG(int64_t, num_heads);
  /// Random spanning trees averaged (kRandom); kMinimum uses the one minimum spanning tree.
  TORCH_ARG(int64_t, num_trees) = 4;
  TORCH_ARG(SpanningTreeKind, kind) = SpanningTreeKind::kRandom;
  TORCH_ARG(double, lambda) = -1.0;
};

/// M = (1/k) Σ_t exp(λ_h · dist_{T_t}(i, j)) over k spanning forests T_t of a (batch of)
/// graph(s) — a tree-metric approximation of exp(λ · dist_G). Trees are drawn at
/// construction (random ones from torch's generator).
class SpanningTreeMaskImpl : public Mask {
 public:
  SpanningTreeMaskImpl(const SpanningTreeMaskOptions& options_, const graph::Graph& graph,
                       int64_t length);
  torch::Tensor apply(const torch::Tensor& x) override;
  torch::Tensor dense(int64_t length, const torch::TensorOptions& options) override;
  void pretty_print(std::ostream& stream) const override;

  SpanningTreeMaskOptions options;
  std::vector<graph::RootedForest> forests;
  int64_t batch_size, length;
  torch::Tensor lambda;
};
TORCH_MODULE(SpanningTreeMask);

}  // namespace topo::attention
