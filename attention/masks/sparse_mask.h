// SPDX-License-Identifier: Apache-2.0
/// \file
/// A mask given by its non-zero entries: M[b, h, i, j] = values[h, e] for every edge
/// e = (b·L + i, b·S + j) of the flattened token index. Exact local masks (local RPE over
/// radius neighbourhoods, graph adjacency) in O(H·E·C) with no dense intermediate.
#pragma once

#include "attention/masks/mask.h"

namespace topo::attention {

/// The operator over one batch (built by the adjacency and local-RPE masks, or directly).
class SparseMaskOperator : public MaskOperator {
 public:
  /// `edge_index` [2, E] int64 over flattened tokens: row 0 the query token b·L + i, row 1 the
  /// key token b·S + j (batch element b must match). `values` [H, E] or [1, E] (the weights may
  /// be learnable or computed: gradients flow to them). `key_length` < 0 means S = L.
  SparseMaskOperator(torch::Tensor edge_index, torch::Tensor values, int64_t batch_size,
                     int64_t length, int64_t key_length = -1);
  torch::Tensor apply(const torch::Tensor& x) const override;
  torch::Tensor dense(const torch::TensorOptions& options) const override;
  /// Masked attention along the edges only: a sampled dot product φ(q_i)·φ(k_j) per edge, then
  /// sparse products of (V, 1) by the weights M_ij φ(q_i)·φ(k_j). O(H·E·(M + D)) instead of
  /// Alg. 1's O(H·E·M·(D + 1)) (issue 16: the kNN and local-RPE masks).
  std::optional<torch::Tensor> attend(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                      const torch::Tensor& v,
                                      const torch::Tensor& key_padding_mask) const override;

  /// Exact softmax attention along the edges (the softmax-exact feature map): out_i =
  /// Σ_j M_ij exp(q_i·k_j) v_j / Σ_j M_ij exp(q_i·k_j) over the edges (i, j), with `q` and `k`
  /// already scaled (by d^(-1/4) each, so the exponent is q·k/√d of the raw inputs). Padded keys
  /// weigh nothing; queries without edges get 0. O(H·E·(M + D)); differentiable in q, k, v and
  /// the values.
  torch::Tensor softmax_attend(const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const torch::Tensor& key_padding_mask) const;

  const torch::Tensor& edge_index() const { return edge_index_; }
  const torch::Tensor& values() const { return values_; }

 private:
  /// weights M_ij φ(q_i)·φ(k_j), or M_ij exp(q_i·k_j − c_i) when `exponentiate`.
  torch::Tensor along_edges(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                            const torch::Tensor& v, const torch::Tensor& key_padding_mask,
                            bool exponentiate) const;

  torch::Tensor edge_index_, values_;
  int64_t batch_size_, length_, key_length_;
};

}  // namespace topo::attention
