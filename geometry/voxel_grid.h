// SPDX-License-Identifier: Apache-2.0
/// \file
/// Voxel-grid quantisation of point clouds onto an integer lattice n1 × … × nd, so that grid
/// masks (BlockToeplitzMask, d-dimensional RPE by FFT) apply to voxelised clouds.
#pragma once

#include <torch/arg.h>
#include <torch/types.h>

#include <utility>
#include <vector>

namespace topo::geometry {

struct VoxelGridOptions {
  /// Edge length of a voxel: one value for every axis, or one per axis.
  /* implicit */ VoxelGridOptions(std::vector<double> voxel_size)
      : voxel_size_(std::move(voxel_size)) {}
  TORCH_ARG(std::vector<double>, voxel_size);
  /// Cells per axis. Empty (default): just large enough for the widest cloud. A point outside
  /// a given shape is an error, never silently dropped.
  TORCH_ARG(std::vector<int64_t>, grid_shape) = {};
  /// Lower corner of the grid: empty (default) puts each cloud's minimum at the origin of its
  /// own grid; otherwise one corner shared by all clouds ([d] values).
  TORCH_ARG(std::vector<double>, origin) = {};
};

/// Where every point falls.
struct VoxelGrid {
  torch::Tensor coords;        ///< [N, d] int64 lattice coordinates
  torch::Tensor cell;          ///< [N] int64 row-major cell index inside its cloud's grid
  torch::Tensor origin;        ///< [B, d] lower corner of every cloud's grid
  std::vector<int64_t> shape;  ///< n1 … nd (the same for every cloud)
  int64_t num_cells() const;
};

/// Quantises `pos` [N, d] (`batch` sorted, undefined = one cloud) with cell = floor((pos −
/// origin) / voxel_size), as torch-cluster's grid_cluster.
VoxelGrid voxel_grid(const torch::Tensor& pos, const VoxelGridOptions& options,
                     const torch::Tensor& batch = {});

/// Averages `features` [N, C] over the points of each cell: returns the dense grids
/// [B, num_cells, C] (token order of BlockToeplitzMask) and `empty` [B, num_cells] bool, true
/// for cells without points (use it as a key padding mask). Differentiable in `features`.
std::pair<torch::Tensor, torch::Tensor> scatter_to_grid(const torch::Tensor& features,
                                                        const VoxelGrid& grid,
                                                        const torch::Tensor& batch = {});

}  // namespace topo::geometry
