// SPDX-License-Identifier: Apache-2.0
/// \file
/// Graph kernels and Markov processes applied to blocks of vectors without forming the N×N
/// kernel: the diffusion (heat) kernel exp(t·W), the p-step random-walk kernel Σ_k α_k W^k,
/// the regularised Laplacian (I − σU)^(-1), and the stationary distribution of a random walk.
#pragma once

#include <torch/types.h>

#include "graph/graph.h"
#include "graph/sparse_operator.h"

namespace topo::graph {

/// exp(t·W)·x: the solution at time t of dx/dt = W x (W = −L gives the heat equation). `x`
/// [N, C] or [H, N, C]; `t` a scalar tensor or [H] (one time per head). For a W known to be
/// symmetric (w.norm_bound > 0: the symmetric normalisation of an undirected graph, or its
/// Laplacian) with |t|·β ≤ 40, β = w.norm_estimate(): the Chebyshev expansion
/// exp(tW) = I_0(tβ) + 2 Σ_k I_k(tβ) T_k(W/β), truncated where its tail is below `tolerance`
/// relative to the result (a priori, in the 2-norm of each column). Otherwise a truncated Taylor
/// series with scaling: exp(tW) = (exp(tW/s))^s with |t|·β/s ≤ 1, each factor summed until the
/// rest of the series is bounded by `tolerance` relative to the running sum (per head, in the
/// norm β bounds: with the spectral bound the Frobenius norm, so single entries may err by up
/// to √(N·C) times more). Differentiable in `t` and `x`.
torch::Tensor diffusion(const SparseOperator& w, const torch::Tensor& t, const torch::Tensor& x,
                        double tolerance = 1e-10);

/// The number of sparse products `diffusion` makes for a largest |t| of `t_max` (its scaling
/// times the terms a factor needs when the sum is ~ the input: (ratio^k / k!) ≤ tolerance), for
/// cost models that choose between it and a dense evaluation.
int64_t diffusion_products(const SparseOperator& w, double t_max, double tolerance);

/// Σ_k α_k W^k x for `alpha` [P + 1] or [H, P + 1] (one polynomial per head). Differentiable
/// in `alpha` and `x`.
torch::Tensor random_walk_kernel(const SparseOperator& w, const torch::Tensor& alpha,
                                 const torch::Tensor& x);

/// (I − σU)^(-1) x by conjugate gradients for a symmetric U (e.g. the symmetric normalised
/// adjacency, with |σ| < 1). `sigma` a scalar tensor; `x` [N, C]. Converges to `tolerance`
/// relative residual or throws. Gradients in `sigma` and `x` by the adjoint solve.
torch::Tensor regularized_laplacian(const SparseOperator& u, const torch::Tensor& sigma,
                                    const torch::Tensor& x, double tolerance = 1e-10,
                                    int64_t max_iterations = 1000);

/// Stationary distribution π = πP of the random walk P = D^(-1) A on every graph of the
/// batch ([N] float64, summing to 1 over each graph's nodes). Undirected graphs: the exact
/// π_i = d_i / Σ_j d_j. Directed graphs: power iteration of the lazy walk (I + P)/2 from the
/// uniform distribution (nodes without out-arcs stay put) to `tolerance` in L1.
torch::Tensor stationary_distribution(const Graph& graph, double tolerance = 1e-12,
                                      int64_t max_iterations = 100000);

}  // namespace topo::graph
