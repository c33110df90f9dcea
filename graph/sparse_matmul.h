// SPDX-License-Identifier: Apache-2.0
/// \file
/// Multi-head sparse × dense products over an edge list, the workhorse of sparse masks (local
/// RPE, graph random features) and message passing: out[h, i] = Σ_{e: row_e = i} w[h, e] ·
/// x[h, col_e]. Exact, O(H·E·C) time and O(H·(E + N·C)) memory (no [H, E, C] intermediate on
/// the CPU path), differentiable in `values` and `x` to any order.
#pragma once

#include <torch/types.h>

namespace topo::graph {

/// `edge_index` [2, E] int64 (row 0: output row i, row 1: input row j), `values` [H, E] or
/// [1, E], `x` [H, N_in, C] → [H, num_rows, C]. Rows without edges are zero.
torch::Tensor sparse_matmul(const torch::Tensor& edge_index, const torch::Tensor& values,
                            const torch::Tensor& x, int64_t num_rows);

/// Per-edge dot products: out[h, e] = ⟨a[h, row_e], b[h, col_e]⟩ for `a` [H, N_a, C] and
/// `b` [H, N_b, C] (the gradient of sparse_matmul with respect to its values).
torch::Tensor sampled_dot(const torch::Tensor& edge_index, const torch::Tensor& a,
                          const torch::Tensor& b);

namespace detail {
/// ATen reference implementations (any device; the oracle of the CPU kernels).
torch::Tensor sparse_matmul_reference(const torch::Tensor& edge_index, const torch::Tensor& values,
                                      const torch::Tensor& x, int64_t num_rows);
torch::Tensor sampled_dot_reference(const torch::Tensor& edge_index, const torch::Tensor& a,
                                    const torch::Tensor& b);
}  // namespace detail

}  // namespace topo::graph
