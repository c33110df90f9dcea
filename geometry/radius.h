// SPDX-License-Identifier: Apache-2.0
/// \file
/// Radius (ε-ball) neighbourhoods and radius graphs over batched point clouds, with
/// torch-cluster's semantics (`radius`, `radius_graph`: points strictly closer than r) but
/// deterministic: the `max_neighbours` kept are the nearest, in order of (distance, index).
#pragma once

#include <torch/types.h>

#include <string>

namespace topo::geometry {

/// For every point of `y` [M, d], the points of `x` [N, d] of the same cloud strictly closer
/// than `r`, at most `max_neighbours` of them (the nearest; −1 keeps all). Returns
/// edge_index [2, E], row 0 indexing `y`, row 1 indexing `x`.
torch::Tensor radius(const torch::Tensor& x, const torch::Tensor& y, double r,
                     const torch::Tensor& batch_x = {}, const torch::Tensor& batch_y = {},
                     int64_t max_neighbours = 32);

/// The radius graph of `x` [N, d] (self loops only when `loop`). Flow as in knn_graph.
torch::Tensor radius_graph(const torch::Tensor& x, double r, const torch::Tensor& batch = {},
                           bool loop = false, int64_t max_neighbours = 32,
                           const std::string& flow = "source_to_target");

}  // namespace topo::geometry
