// SPDX-License-Identifier: Apache-2.0
/// \file
/// Point clouds in PyTorch Geometric's conventions: positions `pos` [N, d] for any d ≥ 1,
/// optional per-point `features` [N, C] and `normals` [N, d], and ragged batches described by a
/// sorted `batch` vector [N] (cloud id of every point) or by `row_splits` [B + 1].
#pragma once

#include <torch/types.h>

#include <utility>

namespace topo::geometry {

/// A (batch of) point cloud(s). Every tensor is optional except `pos`; `batch` undefined means
/// a single cloud.
struct PointCloud {
  torch::Tensor pos{};       ///< [N, d], floating point
  torch::Tensor features{};  ///< [N, C] or undefined
  torch::Tensor normals{};   ///< [N, d] or undefined
  torch::Tensor batch{};     ///< [N] int64, sorted, or undefined (one cloud)

  int64_t num_points() const { return pos.size(0); }
  int64_t dim() const { return pos.size(1); }
  /// Number of clouds: 1 without `batch`, otherwise max(batch) + 1 (0 for an empty batch).
  int64_t num_clouds() const;
  /// Throws a clear error for wrong shapes, dtypes, NaN/infinite coordinates or an unsorted or
  /// negative batch vector. `function` names the caller in the message.
  void validate(const char* function = "PointCloud") const;
  /// `batch`, or zeros when the cloud is unbatched.
  torch::Tensor batch_vector() const;
  /// Offsets [B + 1] of each cloud in the concatenation.
  torch::Tensor row_splits() const;
  /// The cloud(s) on `device` / with floating dtype `dtype` (indices stay int64).
  PointCloud to(const torch::Device& device) const;
  PointCloud to(torch::Dtype dtype) const;
};

/// Checks `pos` [N, d] (finite, floating) and an optional `batch` [N] (int64, sorted, ≥ 0).
/// Messages name `function`, the argument, and the first offending row.
void check_points(const char* function, const torch::Tensor& pos, const char* pos_name,
                  const torch::Tensor& batch = {}, const char* batch_name = "batch");

/// row_splits [B + 1] from a sorted batch vector; `num_clouds` < 0 means max(batch) + 1.
torch::Tensor batch_to_row_splits(const torch::Tensor& batch, int64_t num_clouds = -1);
/// The batch vector [N] of `row_splits` [B + 1].
torch::Tensor row_splits_to_batch(const torch::Tensor& row_splits);

/// Ragged → padded: `values` [N, *] with `batch` → ([B, Lmax, *] zero-padded,
/// key_padding_mask [B, Lmax] bool, true where padded). `num_clouds` < 0 means max(batch) + 1.
std::pair<torch::Tensor, torch::Tensor> to_padded(const torch::Tensor& values,
                                                  const torch::Tensor& batch,
                                                  int64_t num_clouds = -1);
/// Padded → ragged: the rows of `padded` [B, L, *] where `key_padding_mask` [B, L] is false.
torch::Tensor from_padded(const torch::Tensor& padded, const torch::Tensor& key_padding_mask);

}  // namespace topo::geometry
