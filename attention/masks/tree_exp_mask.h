// SPDX-License-Identifier: Apache-2.0
/// \file
/// Tree masks M_ij = exp(λ_h · dist_T(i, j)) on a weighted tree or forest, applied exactly in
/// O(L) per channel by two passes (leaves → root, root → leaves; Choromanski et al., ICML 2022,
/// tree-based masks), with a custom backward for the input and for λ.
/// SpanningTreeMask (spanning_tree_mask.h) averages such masks over spanning trees of a graph.
#pragma once

#include <torch/arg.h>

#include <vector>

#include "attention/masks/mask.h"
#include "graph/graph.h"
#include "graph/tree.h"

namespace topo::attention {

/// y = exp(λ_h · D_T) x for `x` [H, N, C] over the forest's N nodes, `lambda` [H] or [1]
/// (differentiable in x and λ; second derivatives are not provided).
torch::Tensor tree_exp_product(const graph::RootedForest& forest, const torch::Tensor& lambda,
                               const torch::Tensor& x);

/// M = (1/k) Σ_t exp(λ_h · dist_{T_t}(i, j)) over k ≥ 1 forests T_t on the padded tokens of
/// [B, H, L, C] inputs (build them with graph::root_forest_on_tokens), `lambda` [H] or [1]
/// (views of a module's parameter, so gradients reach it).
class TreeExpOperator : public MaskOperator {
 public:
  TreeExpOperator(std::vector<graph::RootedForest> forests, torch::Tensor lambda,
                  int64_t batch_size, int64_t length);
  torch::Tensor apply(const torch::Tensor& x) const override;
  torch::Tensor dense(const torch::TensorOptions& options) const override;

 private:
  std::vector<graph::RootedForest> forests_;
  torch::Tensor lambda_;
  int64_t batch_size_, length_;
};

}  // namespace topo::attention
