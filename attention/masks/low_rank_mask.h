// SPDX-License-Identifier: Apache-2.0
/// \file
/// Low-rank masks M = Φ_Q Φ_Kᵀ (FLT random Fourier features, GKAT frequency vectors, graph
/// random features): applied as Φ_Q(Φ_Kᵀ X) in O(L·r·C), or folded into the attention features
/// by the row-wise Kronecker product, M ⊙ (φ(Q)φ(K)ᵀ) = (φ(Q) ⊗ Φ_Q)(φ(K) ⊗ Φ_K)ᵀ
/// (Choromanski et al., ICML 2022, Alg. 1 with low-rank masks).
#pragma once

#include <utility>

#include "attention/masks/mask.h"

namespace topo::attention {

/// Multiplicative low-rank mask M = Φ_Q Φ_Kᵀ over one batch. The factors are data (e.g.
/// computed from positions by FLT); gradients flow through them to whatever produced them.
/// Alone it is applied as Φ_Q(Φ_Kᵀ X); together with another mask it folds into the features.
class LowRankMaskOperator : public MaskOperator {
 public:
  /// `query_factors` [B|1, H|1, L, r], `key_factors` [B|1, H|1, S, r].
  LowRankMaskOperator(torch::Tensor query_factors, torch::Tensor key_factors);
  torch::Tensor apply(const torch::Tensor& x) const override;
  torch::Tensor dense(const torch::TensorOptions& options) const override;
  std::optional<std::pair<torch::Tensor, torch::Tensor>> fold_into_features(
      const torch::Tensor& phi_q, const torch::Tensor& phi_k) const override;

  const torch::Tensor& query_factors() const { return query_factors_; }
  const torch::Tensor& key_factors() const { return key_factors_; }

 private:
  torch::Tensor query_factors_, key_factors_;
};

/// Logit-additive low-rank mask for the softmax kernel, softmax(q·k/√d + Φ_Q(i)·Φ_K(j)): it
/// acts on the inputs of the feature map (logit_additive_inputs below), so its features must
/// be built for head_dim + r inputs with `normalize_inputs(false)`. `dense()` is exp(Φ_Q Φ_Kᵀ),
/// the multiplicative mask it equals for the exact softmax kernel; `apply` multiplies by it
/// densely (tests and tiny inputs only).
class LogitAdditiveLowRankOperator : public MaskOperator {
 public:
  LogitAdditiveLowRankOperator(torch::Tensor query_factors, torch::Tensor key_factors);
  torch::Tensor apply(const torch::Tensor& x) const override;
  torch::Tensor dense(const torch::TensorOptions& options) const override;
  std::pair<torch::Tensor, torch::Tensor> transform_inputs(const torch::Tensor& q,
                                                           const torch::Tensor& k) const override;
  /// Already in the inputs: the features are returned unchanged.
  std::optional<std::pair<torch::Tensor, torch::Tensor>> fold_into_features(
      const torch::Tensor& phi_q, const torch::Tensor& phi_k) const override;

 private:
  torch::Tensor query_factors_, key_factors_;
};

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
