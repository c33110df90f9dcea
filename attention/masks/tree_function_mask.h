// SPDX-License-Identifier: Apache-2.0
/// \file
/// Tree masks M_ij = f_h(dist_T(i, j)) for an arbitrary learnable table f over integer tree
/// distances, applied exactly in O(L log² L) by centroid decomposition and FFT (Choromanski
/// et al., ICML 2022, general tree functions): for every centroid c of the decomposition,
/// Y[t] = Σ_s f(s + t) X[s] over the depth buckets X of its component (one FFT
/// correlation), minus the same over each child subtree (pairs that do not meet at c).
#pragma once

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"
#include "graph/tree.h"

namespace topo::attention {

struct TreeFunctionMaskOptions {
  TreeFunctionMaskOptions(int64_t num_heads, int64_t max_distance)
      : num_heads_(num_heads), max_distance_(max_distance) {}
  TORCH_ARG(int64_t, num_heads);
  /// The table covers distances 0 … max_distance; farther pairs get M = 0.
  TORCH_ARG(int64_t, max_distance);
  /// kLogitAdditive (default): M = exp(table), table starting at −distance/2 (a decaying
  /// mask). kMultiplicative: M = table, starting at exp(−distance/2).
  TORCH_ARG(MaskSemantics, semantics) = MaskSemantics::kLogitAdditive;
};

/// Parameter `table` [H, max_distance + 1]. Built over contexts with a graph: the forest is a
/// minimum spanning forest of the graph with unit edge lengths (hop distances along it),
/// computed once per context.
class TreeFunctionMaskImpl : public MaskImpl {
 public:
  explicit TreeFunctionMaskImpl(const TreeFunctionMaskOptions& options_);
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  void pretty_print(std::ostream& stream) const override;

  /// f_h(d) for d = 0 … max_distance: [H, max_distance + 1].
  torch::Tensor values();

  TreeFunctionMaskOptions options;
  torch::Tensor table;  ///< parameter [H, max_distance + 1]
};
TORCH_MODULE(TreeFunctionMask);

/// The operator over an explicit forest on batch_size·length tokens whose edge weights are
/// positive integers (hop distances when unweighted), with `values` [H, D + 1] = f_h(0 … D)
/// (farther pairs get M = 0).
std::shared_ptr<const MaskOperator> tree_function_operator(const graph::RootedForest& forest,
                                                           torch::Tensor values, int64_t batch_size,
                                                           int64_t length);

}  // namespace topo::attention
