// SPDX-License-Identifier: Apache-2.0
/// \file
/// Causal (prefix-sum) product of linear attention, out_i = Σ_{j≤i} (φ(q_i)·φ(k_j)) v_j,
/// by a chunked scan with a custom backward (Katharopoulos et al., ICML 2020; Choromanski et
/// al., "Rethinking Attention with Performers", ICLR 2021, section 2.5 (unidirectional)).
#pragma once

#include <torch/types.h>

namespace topo::attention {

/// Unnormalised causal linear attention.
///
/// \param phi_q [B, H, L, M] query features.
/// \param phi_k [B, H, L, M] key features (same dtype and device).
/// \param v     [B, H, L, C] values (append a ones column to get the normaliser too).
/// \param chunk_size tokens per chunk (> 0). Inside a chunk the product is an explicit masked
///        C×C block; across chunks only the M×C prefix states are carried.
/// \return [B, H, L, C].
///
/// Memory is O(L·(M + C + chunk) + (L/chunk)·M·C): with chunk ≥ M that is O(L·(M + C)),
/// never the O(L·M·C) of a cumulative sum over outer products. The backward is written out
/// (it recomputes the states instead of saving them) and saves only φ(Q), φ(K) and V. It is
/// not twice differentiable.
torch::Tensor causal_linear_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                      const torch::Tensor& v, int64_t chunk_size = 128);

}  // namespace topo::attention
