// SPDX-License-Identifier: Apache-2.0
/// \file
/// Sparse N×N operators on a graph's nodes (adjacency, normalised adjacency, Laplacians),
/// applied to blocks of vectors with graph::sparse_matmul (exact, differentiable).
#pragma once

#include <torch/types.h>

#include "graph/graph.h"

namespace topo::graph {

enum class Normalization {
  kNone,        ///< A
  kSymmetric,   ///< D^(-1/2) A D^(-1/2)
  kRandomWalk,  ///< D^(-1) A (row-stochastic: the Markov transition matrix)
};

struct SparseOperator {
  torch::Tensor edge_index;  ///< [2, A] int64, row 0 output node, row 1 input node
  torch::Tensor values;      ///< [A] float64
  int64_t num_nodes = 0;
  /// An upper bound of the spectral norm ‖W‖₂ known from how W was built (0: none known): 1 for
  /// the symmetric normalised adjacency of an undirected graph (weights are ≥ 0), whose
  /// eigenvalues lie in [−1, 1], while its ∞-norm grows with the degree spread (a hub of 168
  /// leaves: 13).
  double norm_bound = 0.0;

  /// Y = W·X for `x` [N, C] or [H, N, C], in x's dtype and on x's device.
  torch::Tensor apply(const torch::Tensor& x) const;
  /// max_i Σ_j |W_ij| (the ∞-norm, used to scale Taylor series).
  double infinity_norm() const;
  /// The smaller of norm_bound (when known) and the ∞-norm: the scale a power or Taylor series
  /// in W grows with, in the 2-norm or the ∞-norm respectively.
  double norm_estimate() const;
  /// Dense [N, N] float64 (tests, tiny graphs).
  torch::Tensor dense() const;
};

/// The (normalised) adjacency W; nodes of zero degree keep zero rows. Arc order follows
/// graph.edge_index().
SparseOperator adjacency_operator(const Graph& graph,
                                  Normalization normalization = Normalization::kSymmetric);
/// The Laplacian: D − A (kNone), I − D^(-1/2) A D^(-1/2) (kSymmetric), I − D^(-1) A
/// (kRandomWalk).
SparseOperator laplacian_operator(const Graph& graph,
                                  Normalization normalization = Normalization::kSymmetric);

}  // namespace topo::graph
