// SPDX-License-Identifier: Apache-2.0
/// \file
/// Random walks on graphs and the random-walk features built from them: GKAT's frequency
/// matrix and graph random features (g-GRFs, Reid et al., "General graph random features", ICLR
/// 2024, and "Linear transformer topological masking with graph random features", ICLR 2025). All
/// randomness comes from torch's generator and is drawn before the parallel loop, so results are
/// reproducible under torch::manual_seed whatever the thread count.
#pragma once

#include <torch/arg.h>
#include <torch/types.h>

#include "graph/graph.h"
#include "graph/sparse_operator.h"

namespace topo::graph {

struct RandomWalkOptions {
  TORCH_ARG(int64_t, walks_per_node) = 16;
  /// Steps at most; walks still running are truncated here.
  TORCH_ARG(int64_t, max_length) = 8;
  /// Probability of stopping before each step.
  TORCH_ARG(double, halt_probability) = 0.0;
  /// Choose neighbours in proportion to edge weight (default: uniformly).
  TORCH_ARG(bool, weighted) = false;
  /// Walkers in pairs share their start, and the second's halting uniforms are the first's
  /// shifted by ½ (mod 1): antithetic termination, same marginals, less variance.
  TORCH_ARG(bool, antithetic) = false;
};

struct RandomWalks {
  torch::Tensor nodes;   ///< [W, max_length + 1] int64 visited nodes, −1 after the walk ends
  torch::Tensor length;  ///< [W] int64 steps taken
  torch::Tensor start;   ///< [W] start node
};

/// `walks_per_node` walks from every node of `starts` (default: every node), walk w·k … of
/// start k in order.
RandomWalks sample_random_walks(const Graph& graph, const RandomWalkOptions& options,
                                const torch::Tensor& starts = {});

/// Sparse N×N matrix as COO: entry (rows[e], cols[e]) = values[…, e].
struct SparseFeatures {
  torch::Tensor edge_index;  ///< [2, nnz] int64: row 0 the node i, row 1 the feature index v
  torch::Tensor values;      ///< [nnz] or [nnz, K] float64
  int64_t num_rows = 0;
  int64_t num_cols = 0;
  /// Dense [num_rows, num_cols] (values [nnz]) or [K, num_rows, num_cols] (values [nnz, K]).
  torch::Tensor dense() const;
};

/// GKAT's frequency matrix F: F[v, w] = (visits of w by the walks from v, the start counted)
/// / walks_per_node, with fixed-length walks (halt_probability is GKAT's stop probability).
/// GKAT's kernel is F·Fᵀ, normalised to K_vw / √(K_vv K_ww).
SparseFeatures gkat_frequency_matrix(const Graph& graph, const RandomWalkOptions& options);

/// Graph random features for K_α(W) = Σ_k α_k W^k with α = f ∗ f: per node i and visited
/// node v, the loads L[i, v, k] = (1/n) Σ_walks Σ_{prefixes of length k ending at v}
/// Π_t W[ω_t, ω_{t+1}] · deg(ω_t) / (1 − p_halt) (weight over the prefix's probability),
/// so that φ(i)[v] = Σ_k L[i, v, k] f_k and E[φ(i)·φ'(j)] = Σ_{a,b} f_a f_b (W^a (W^b)ᵀ)_ij,
/// i.e. K_α(W)_ij for symmetric W, for independent walk sets φ, φ'. Walks choose neighbours
/// uniformly; `w` gives the weights (arc values aligned with graph.edge_index(), e.g.
/// adjacency_operator). Values [nnz, max_length + 1].
SparseFeatures graph_random_features(const Graph& graph, const SparseOperator& w,
                                     const RandomWalkOptions& options);

/// α = f ∗ f, the full discrete self-convolution: [..., K + 1] → [..., 2K + 1]. Features with
/// prefixes up to K estimate Σ_{n ≤ 2K} α_n W^n (for symmetric W).
torch::Tensor self_convolution(const torch::Tensor& f);

}  // namespace topo::graph
