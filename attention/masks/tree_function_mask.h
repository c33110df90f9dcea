// SPDX-License-Identifier: Apache-2.0
/// \file
/// Tree masks M_ij = f_h(dist_T(i, j)) for an arbitrary learnable table f over integer tree
/// distances, applied exactly in O(L log² L) by centroid decomposition and FFT (section
/// 2.4(b) of reference/topological-masking.md): for every centroid c of the decomposition,
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

/// The forest's edge weights must be positive integers (hop distances when unweighted).
class TreeFunctionMaskImpl : public Mask {
 public:
  TreeFunctionMaskImpl(const TreeFunctionMaskOptions& options_, const graph::RootedForest& forest,
                       int64_t batch_size, int64_t length);
  torch::Tensor apply(const torch::Tensor& x) override;
  torch::Tensor dense(int64_t length, const torch::TensorOptions& options) override;
  void pretty_print(std::ostream& stream) const override;

  /// f_h(d) for d = 0 … max_distance: [H, max_distance + 1].
  torch::Tensor values();

  TreeFunctionMaskOptions options;
  int64_t batch_size, length;
  torch::Tensor table;  ///< parameter [H, max_distance + 1]

  /// The decomposition, grouped by padded piece length (a power of two) for batched FFTs.
  struct Bucket {
    int64_t piece_length = 0, num_pieces = 0;
    torch::Tensor gather;   ///< [2, M] (slot, token): slot = piece·piece_length + depth
    torch::Tensor scatter;  ///< [2, M] (token, slot)
    torch::Tensor sign;     ///< [M] +1 (component) or −1 (child subtree)
  };
  std::vector<Bucket> buckets;
  graph::RootedForest forest;  ///< kept for dense()
};
TORCH_MODULE(TreeFunctionMask);

}  // namespace topo::attention
