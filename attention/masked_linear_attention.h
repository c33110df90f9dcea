// SPDX-License-Identifier: Apache-2.0
/// \file
/// General masked linear attention (Alg. 1 of Choromanski et al., "From block-Toeplitz matrices
/// to differential equations on graphs", ICML 2022):
///   out_i = Σ_j M_ij φ(q_i)ᵀφ(k_j) v_j / Σ_j M_ij φ(q_i)ᵀφ(k_j)
///         = rowdot(φ(Q), M·[φ(K) ⊗ (V, 1)])
/// with one fast product by M and never an L×L matrix.
#pragma once

#include <torch/types.h>

#include "attention/masks/mask.h"

namespace topo::attention {

/// Masked linear attention with any feature map and any mask.
///
/// \param phi_q [B, H, L, M] query features.
/// \param phi_k [B, H, S, M] key features.
/// \param v     [B, H, S, D] values.
/// \param mask  the mask's operator for this batch (MaskImpl::build); its `apply` maps
///              [B, H, S, C] to [B, H, L, C]. When it offers a cheaper exact algorithm
///              (`attend`, e.g. the causal scan) that is used instead of Alg. 1.
/// \param key_padding_mask [B, S] bool, true = padded key (features and values zeroed).
/// \param max_block_elements the product by M runs on blocks of feature channels holding at
///        most this many elements of φ(K) ⊗ (V, 1) (≥ one channel), bounding peak memory of
///        the forward pass. Default: 2^26.
/// \return [B, H, L, D]; rows with zero normaliser are 0. The normaliser is positive when
///         M ≥ 0 and the features are positive.
///
/// Cost: O(M·D·T_M + L·M·D), T_M the cost of one product by M (O(L) causal, O(L log L)
/// Toeplitz, O(L·r) low rank). Differentiable in φ(Q), φ(K), V and the mask's parameters.
torch::Tensor masked_linear_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                      const torch::Tensor& v, const MaskOperator& mask,
                                      const torch::Tensor& key_padding_mask = {},
                                      int64_t max_block_elements = int64_t{1} << 26);

/// The same attention with the mask given densely, `mask` [B or 1, H or 1, L, S]: forms
/// (M ⊙ φ(Q)φ(K)ᵀ)(V, 1) in O(B·H·L·S·(M + D)) time and O(B·H·L·S) memory. The exact algorithm
/// of choice for short sequences and small graphs (masks' `attend` use it when their cost model
/// says so); differentiable in all inputs, `mask` included.
torch::Tensor dense_masked_linear_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                            const torch::Tensor& v, const torch::Tensor& mask,
                                            const torch::Tensor& key_padding_mask = {});

}  // namespace topo::attention
