// SPDX-License-Identifier: Apache-2.0
/// \file
/// The p-step random-walk kernel mask M = Σ_k α_{h,k} W^k on (batches of) graphs (Smola &
/// Kondor, "Kernels and regularization on graphs", COLT 2003), learnable α, applied by p
/// sparse products. W is the graph's normalised adjacency over the padded tokens. On small
/// undirected graphs exact dense attention per graph, with M_b = U_b p_h(Λ_b) U_bᵀ from W_b's
/// eigenvectors, is cheaper; the operator chooses per batch (issue 16, `algorithm`).
#pragma once

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"
#include "attention/masks/token_layout.h"
#include "graph/sparse_operator.h"

namespace topo::attention {

struct RandomWalkKernelMaskOptions {
  RandomWalkKernelMaskOptions(int64_t num_heads, int64_t num_steps)
      : num_heads_(num_heads), num_steps_(num_steps) {}
  TORCH_ARG(int64_t, num_heads);
  /// p: the polynomial has α_0 … α_p.
  TORCH_ARG(int64_t, num_steps);
  TORCH_ARG(graph::Normalization, normalization) = graph::Normalization::kSymmetric;
  /// The p sparse products (Alg. 1), dense attention per graph from the eigendecomposition, or
  /// the cheaper of the two by detail::dense_blocks_are_cheaper.
  TORCH_ARG(GraphMaskAlgorithm, algorithm) = GraphMaskAlgorithm::kAuto;
};

/// Parameter `alpha` [H, p + 1], starting at 2^(−k); keep α ≥ 0 (and W ≥ 0) for a
/// non-negative mask. Built over contexts with a graph.
class RandomWalkKernelMaskImpl : public MaskImpl {
 public:
  explicit RandomWalkKernelMaskImpl(const RandomWalkKernelMaskOptions& options_);
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  void pretty_print(std::ostream& stream) const override;

  RandomWalkKernelMaskOptions options;
  torch::Tensor alpha;
};
TORCH_MODULE(RandomWalkKernelMask);

namespace detail {
/// Σ_k coefficients[h, k] W^k as a dense [H, N, N] float64 tensor (tests, tiny graphs).
torch::Tensor dense_power_series(const graph::SparseOperator& w, const torch::Tensor& coefficients);
}  // namespace detail

}  // namespace topo::attention
