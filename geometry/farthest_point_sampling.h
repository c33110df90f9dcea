// SPDX-License-Identifier: Apache-2.0
/// \file
/// Farthest point sampling (torch-cluster's `fps`): greedily picks the point farthest from
/// those already picked, per cloud. O(N·M) per cloud, parallel over clouds.
#pragma once

#include <torch/types.h>

namespace topo::geometry {

/// Indices into `pos` [N, d] of ceil(ratio · n_b) points of every cloud b (`batch` sorted,
/// undefined = one cloud), in selection order, clouds in order. The first point of each cloud
/// is random (torch's generator) when `random_start`, its first point otherwise. Ties pick the
/// smaller index. `ratio` in (0, 1].
torch::Tensor farthest_point_sampling(const torch::Tensor& pos, const torch::Tensor& batch = {},
                                      double ratio = 0.5, bool random_start = true);

/// Same with a fixed number of samples per cloud: min(num_samples, n_b) points of cloud b.
torch::Tensor farthest_point_sampling(const torch::Tensor& pos, const torch::Tensor& batch,
                                      int64_t num_samples, bool random_start);

}  // namespace topo::geometry
