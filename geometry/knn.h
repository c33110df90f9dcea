// SPDX-License-Identifier: Apache-2.0
/// \file
/// k-nearest-neighbour search and kNN graphs over batched point clouds, with torch-cluster's
/// semantics (`knn`, `knn_graph`) but a deterministic tie order: neighbours come in order of
/// (distance, index). Runs on kd-trees (nanoflann); CUDA inputs are searched on the CPU and the
/// result is returned on their device.
#pragma once

#include <torch/types.h>

#include <string>

namespace topo::geometry {

/// For every point of `y` [M, d], its `k` nearest points of `x` [N, d] within the same cloud
/// (`batch_x` [N], `batch_y` [M], sorted int64; undefined means one cloud). Returns
/// edge_index [2, E] with row 0 indexing `y` and row 1 indexing `x` (torch-cluster's order),
/// grouped by y and ordered by (distance, index) inside a group. A cloud with fewer than k
/// points of `x` yields all of them; an empty one yields none.
torch::Tensor knn(const torch::Tensor& x, const torch::Tensor& y, int64_t k,
                  const torch::Tensor& batch_x = {}, const torch::Tensor& batch_y = {});

/// The kNN graph of `x` [N, d]: every point's k nearest other points of its cloud (itself
/// too when `loop`; a duplicate of a point is a neighbour like any other). With flow
/// "source_to_target" (default) edge_index[0] is the neighbour and edge_index[1] the centre,
/// so messages flow into the centre; "target_to_source" swaps the rows.
torch::Tensor knn_graph(const torch::Tensor& x, int64_t k, const torch::Tensor& batch = {},
                        bool loop = false, const std::string& flow = "source_to_target");

/// Euclidean length of every edge: |pos_source[edge_index[0]] − pos_target[edge_index[1]]|
/// [E], differentiable in the positions (the distance weights of a neighbourhood graph).
/// `pos_target` undefined means `pos_source`.
torch::Tensor edge_lengths(const torch::Tensor& edge_index, const torch::Tensor& pos_source,
                           const torch::Tensor& pos_target = {});

/// Euclidean norms of the rows of `vectors` [E, d], differentiable (twice) everywhere: a zero
/// vector (self loops, duplicates) has norm 0 and gradient 0 instead of NaN.
torch::Tensor vector_lengths(const torch::Tensor& vectors);

}  // namespace topo::geometry
