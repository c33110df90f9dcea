// SPDX-License-Identifier: Apache-2.0
/// \file
/// Dense O(L²) reference oracles that every fast attention path is tested against.
#pragma once

#include <torch/types.h>

namespace topo::test {

/// Exact masked kernel attention (M ⊙ φ(Q)φ(K)ᵀ)V / rowsum, built as an explicit L×S matrix.
/// `mask` [B|1, H|1, L, S] or undefined (all ones); `key_padding_mask` [B, S] bool, true =
/// padded (column removed). Rows with zero mass give 0.
torch::Tensor dense_masked_kernel_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                            const torch::Tensor& v, const torch::Tensor& mask = {},
                                            const torch::Tensor& key_padding_mask = {});

/// Exact masked softmax attention softmax(QKᵀ/√d + bias)V, with `bias` [B|1, H|1, L, S] or
/// undefined, `allowed` [B|1, H|1, L, S] bool or undefined (false = not attended), and
/// `key_padding_mask` [B, S] bool (true = padded).
torch::Tensor dense_softmax_attention(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& v, const torch::Tensor& bias = {},
                                      const torch::Tensor& allowed = {},
                                      const torch::Tensor& key_padding_mask = {});

/// [B, 1, L, S] 0/1 matrix of "same segment".
torch::Tensor dense_segment_mask(const torch::Tensor& query_segments,
                                 const torch::Tensor& key_segments);

}  // namespace topo::test
