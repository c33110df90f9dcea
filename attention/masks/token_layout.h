// SPDX-License-Identifier: Apache-2.0
/// \file
/// Moving between the attention layout [B, H, L, C] and the node layout [H, B·L, C] used by
/// masks defined on (batches of) graphs, whose graph b occupies tokens b·L … b·L + n_b − 1, and
/// the per-batch graph structure those masks share (cached in the MaskContext).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>

#include "attention/masks/mask.h"
#include "graph/graph.h"
#include "graph/sparse_operator.h"

namespace topo::attention {

/// W over all batch_size·length tokens (node_to_token), for the graph masks.
graph::SparseOperator token_operator(const graph::Graph& graph, int64_t length,
                                     graph::Normalization normalization);

/// "none" | "symmetric" | "random-walk", and back.
graph::Normalization normalization_from_string(const std::string& name);
std::string to_string(graph::Normalization normalization);

/// How a spectral graph mask (diffusion, random-walk kernel) attends (issue 16):
enum class GraphMaskAlgorithm {
  /// by the cost model of detail::dense_blocks_are_cheaper, per batch;
  kAuto,
  /// Alg. 1: sparse products of W on all M·(D + 1) channels (any graph, O(|E|) memory);
  kSeries,
  /// exact dense attention per batch element with M_b = U_b f(Λ_b) U_bᵀ from the eigenvectors
  /// of W's block (undirected graphs; O(B·L²) memory). Directed graphs fall back to kSeries.
  kDense,
};
/// "auto" | "series" | "dense", and back.
GraphMaskAlgorithm graph_mask_algorithm_from_string(const std::string& name);
std::string to_string(GraphMaskAlgorithm algorithm);

namespace detail {

/// [B, H, L, C] → [H, B·L, C].
torch::Tensor tokens_to_nodes(const torch::Tensor& x);
/// [H, B·L, C] → [B, H, L, C].
torch::Tensor nodes_to_tokens(const torch::Tensor& y, int64_t batch_size, int64_t length);
/// The per-batch-element diagonal blocks [B, H, L, L] of a [H, B·L, B·L] token matrix.
torch::Tensor diagonal_blocks(const torch::Tensor& m, int64_t batch_size, int64_t length);

/// Checks that `context` has a graph of batch_size graphs that fits its length; returns it.
const graph::Graph& context_graph(const MaskContext& context, const char* mask);
/// token_operator of the context's graph, computed once per context.
const graph::SparseOperator& cached_token_operator(const MaskContext& context,
                                                   graph::Normalization normalization,
                                                   const char* mask);

/// W's diagonal blocks W_b = diag(left_b) U_b diag(λ_b) U_bᵀ diag(right_b), float64, on the CPU:
/// `vectors` [B, L, L], `values` [B, L], `left`/`right` [B, L] (ones unless W is the
/// random-walk normalisation D^-1 A = D^-1/2 S D^1/2, S symmetric). Undefined tensors when W is
/// not similar to a symmetric matrix in this way (directed graphs).
struct SpectralBlocks {
  torch::Tensor vectors, values, left, right;
  bool defined() const { return vectors.defined(); }
};
/// SpectralBlocks of the context's graph under `normalization`, computed once per context.
const SpectralBlocks& cached_spectral_blocks(const MaskContext& context,
                                             graph::Normalization normalization, const char* mask);
/// Whether cached_spectral_blocks has been computed for this context and normalisation.
bool has_spectral_blocks(const MaskContext& context, graph::Normalization normalization);
/// The mask blocks M_hb = diag(left_b) U_b diag(f_hb) U_bᵀ diag(right_b): `f` [H, B, L] (a
/// function of the eigenvalues, differentiable) → [B, H, L, L] in f's dtype and device.
torch::Tensor spectral_mask_blocks(const SpectralBlocks& blocks, const torch::Tensor& f);

/// Issue 16's cost model: whether exact dense attention per batch element (mask blocks from the
/// eigendecomposition, then (M ⊙ φ(Q)φ(K)ᵀ)(V, 1)) costs less than `products` sparse products of
/// all M·(D + 1) channels over `arcs` arcs per head (Alg. 1). Costs are in dense multiply-adds:
/// dense B·H·L²·(L + M + D + 1 + 16) (+ 10·B·L³ for the eigendecomposition unless `decomposed`);
/// series 16·products·arcs·H·M·(D + 1), a sparse multiply-add costing ~16 GEMM ones on the
/// 2-core machine (measured, BENCHMARKS.md). Never dense above 2^25 mask elements (B·H·L²).
bool dense_blocks_are_cheaper(int64_t batch, int64_t heads, int64_t length, int64_t features,
                              int64_t value_dim, int64_t arcs, double products, bool decomposed);

}  // namespace detail
}  // namespace topo::attention
