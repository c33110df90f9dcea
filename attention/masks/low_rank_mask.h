// SPDX-License-Identifier: Apache-2.0
/// \file
/// Low-rank masks M = Φ_Q Φ_Kᵀ (FLT random Fourier features, GKAT frequency vectors, graph
/// random features): applied as Φ_Q(Φ_Kᵀ X) in O(L·r·C), or folded into the attention features
/// by the row-wise Kronecker product, M ⊙ (φ(Q)φ(K)ᵀ) = (φ(Q) ⊗ Φ_Q)(φ(K) ⊗ Φ_K)ᵀ
/// (section 1.3 of reference/topological-masking.md).
#pragma once

#include <torch/nn/pimpl.h>

#include <utility>

#include "attention/masks/mask.h"

namespace topo::attention {

/// Multiplicative low-rank mask. The factors are data (e.g. computed from positions each
/// forward pass); gradients flow through them to whatever produced them.
class LowRankMaskImpl : public Mask {
 public:
  /// `query_factors` [B|1, H|1, L, r], `key_factors` [B|1, H|1, S, r].
  LowRankMaskImpl(torch::Tensor query_factors, torch::Tensor key_factors);
  /// Replaces the factors (same rules as the constructor).
  void set_factors(torch::Tensor query_factors, torch::Tensor key_factors);
  torch::Tensor apply(const torch::Tensor& x) override;
  torch::Tensor dense(int64_t length, const torch::TensorOptions& options) override;
  void pretty_print(std::ostream& stream) const override;

  torch::Tensor query_factors;
  torch::Tensor key_factors;
};
TORCH_MODULE(LowRankMask);

/// Row-wise Kronecker product: [B, H, L, m] features and [B|1, H|1, L, r] factors →
/// [B, H, L, m·r] with entry (a, b) at a·r + b. Plain (also causal) linear attention on
/// these features equals masked linear attention with M = Φ_Q Φ_Kᵀ.
torch::Tensor row_wise_kronecker(const torch::Tensor& features, const torch::Tensor& factors);

/// Logit-additive low-rank mask for the softmax kernel: softmax(q·k/√d + Φ_Q(i)·Φ_K(j)).
/// Returns ([q·d^(-1/4), Φ_Q], [k·d^(-1/4), Φ_K]), whose dot products are exactly those logits;
/// feed them to a softmax-kernel feature map with `normalize_inputs(false)` (FLT's
/// concatenated form). Shapes: q [B, H, L, d], k [B, H, S, d], factors [B|1, H|1, L|S, r].
std::pair<torch::Tensor, torch::Tensor> logit_additive_inputs(const torch::Tensor& q,
                                                              const torch::Tensor& k,
                                                              const torch::Tensor& query_factors,
                                                              const torch::Tensor& key_factors);

}  // namespace topo::attention
