// SPDX-License-Identifier: Apache-2.0
/// \file
/// Topological masking with graph random features (Reid et al., ICLR 2025): the learnable mask
/// M_α = Σ_k α_k W^k, α = f ∗ f, estimated without bias by sparse random-walk features,
/// M ≈ Φ_Q Φ_Kᵀ with independent walk sets for the query and key sides, and applied by the
/// sparse bucket algorithm in O(N·s·C) (s = non-zeros per feature row, O(1) in N).
#pragma once

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"
#include "graph/sparse_operator.h"

namespace topo::attention {

struct GraphRandomFeatureMaskOptions {
  explicit GraphRandomFeatureMaskOptions(int64_t num_heads) : num_heads_(num_heads) {}
  TORCH_ARG(int64_t, num_heads);
  /// Walk length cap K: the modulation is f_0 … f_K.
  TORCH_ARG(int64_t, max_length) = 4;
  TORCH_ARG(int64_t, walks_per_node) = 8;
  TORCH_ARG(double, halt_probability) = 0.5;
  TORCH_ARG(bool, antithetic) = false;
  TORCH_ARG(graph::Normalization, normalization) = graph::Normalization::kSymmetric;
};

/// The modulation f = softplus(`modulation_logits`) [H, K + 1] is non-negative, so with
/// W ≥ 0 the features and the mask are too and the attention normaliser stays positive.
/// Walks are drawn once per context (torch's generator) and shared by the layers that use
/// the same settings; a new batch draws new walks.
class GraphRandomFeatureMaskImpl : public MaskImpl {
 public:
  explicit GraphRandomFeatureMaskImpl(const GraphRandomFeatureMaskOptions& options_);
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  void pretty_print(std::ostream& stream) const override;

  /// f [H, K + 1].
  torch::Tensor modulation();
  /// What the features estimate: (Σ_k f_k W^k)(Σ_k f_k W^k)ᵀ = Σ_n (f ∗ f)_n W^n for symmetric
  /// W, [B, H, L, L] (dense; tests, tiny graphs).
  torch::Tensor expected_dense(const MaskContext& context, const torch::TensorOptions& options);

  GraphRandomFeatureMaskOptions options;
  torch::Tensor modulation_logits;  ///< parameter [H, K + 1]
};
TORCH_MODULE(GraphRandomFeatureMask);

}  // namespace topo::attention
