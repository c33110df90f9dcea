// SPDX-License-Identifier: Apache-2.0
#include "geometry/voxel_grid.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "common/check.h"
#include "geometry/point_cloud.h"

namespace topo::geometry {

int64_t VoxelGrid::num_cells() const {
  int64_t cells = 1;
  for (const int64_t n : shape) cells *= n;
  return cells;
}

VoxelGrid voxel_grid(const torch::Tensor& pos, const VoxelGridOptions& options,
                     const torch::Tensor& batch) {
  check_points("voxel_grid", pos, "pos", batch, "batch");
  const int64_t d = pos.size(1);
  const auto& size = options.voxel_size();
  TOPO_CHECK_ARG(size.size() == 1 || static_cast<int64_t>(size.size()) == d, "voxel_grid",
                 "voxel_size", "1 or " + std::to_string(d) + " values",
                 std::to_string(size.size()) + " values");
  for (const double s : size) {
    TOPO_CHECK_ARG(std::isfinite(s) && s > 0, "voxel_grid", "voxel_size", "finite and > 0", s);
  }
  TOPO_CHECK_ARG(
      options.grid_shape().empty() || static_cast<int64_t>(options.grid_shape().size()) == d,
      "voxel_grid", "grid_shape", "empty or " + std::to_string(d) + " values",
      std::to_string(options.grid_shape().size()) + " values");
  TOPO_CHECK_ARG(options.origin().empty() || static_cast<int64_t>(options.origin().size()) == d,
                 "voxel_grid", "origin", "empty or " + std::to_string(d) + " values",
                 std::to_string(options.origin().size()) + " values");

  const auto p = pos.detach().to(torch::kDouble);
  const auto ids = batch.defined() ? batch
                                   : torch::zeros({pos.size(0)},
                                                  torch::dtype(torch::kLong).device(pos.device()));
  const int64_t clouds =
      batch.defined() ? (batch.numel() ? batch.max().item<int64_t>() + 1 : 0) : 1;
  auto voxel = torch::tensor(size, torch::kDouble).to(pos.device());
  if (size.size() == 1) voxel = voxel.expand({d});

  VoxelGrid grid;
  if (options.origin().empty()) {
    // Per-cloud minimum (clouds without points keep a zero origin); batch is sorted.
    grid.origin = torch::zeros({clouds, d}, p.options());
    const auto splits = batch_to_row_splits(ids, clouds).cpu();
    for (int64_t b = 0; b < clouds; ++b) {
      const int64_t begin = splits[b].item<int64_t>(), end = splits[b + 1].item<int64_t>();
      if (end > begin) grid.origin[b] = std::get<0>(p.slice(0, begin, end).min(0));
    }
  } else {
    grid.origin = torch::tensor(options.origin(), torch::kDouble)
                      .to(pos.device())
                      .expand({clouds, d})
                      .contiguous();
  }
  grid.coords = torch::floor((p - grid.origin.index_select(0, ids)) / voxel).to(torch::kLong);

  if (pos.size(0) > 0) {
    const auto lowest = std::get<0>(grid.coords.min(0));
    const auto negative = (lowest < 0).nonzero();
    if (negative.size(0) > 0) {
      const int64_t axis = negative[0][0].item<int64_t>();
      TOPO_CHECK_ARG(false, "voxel_grid", "origin", "at or below every point",
                     c10::str("a point below it on axis ", axis));
    }
  }
  const auto highest =
      pos.size(0) > 0 ? std::get<0>(grid.coords.max(0)).cpu() : torch::full({d}, -1, torch::kLong);
  for (int64_t a = 0; a < d; ++a) {
    const int64_t needed = highest[a].item<int64_t>() + 1;
    if (options.grid_shape().empty()) {
      grid.shape.push_back(std::max<int64_t>(needed, 1));
    } else {
      const int64_t given = options.grid_shape()[a];
      TOPO_CHECK_ARG(given >= 1 && needed <= given, "voxel_grid", "grid_shape",
                     c10::str("at least ", needed, " cells on axis ", a,
                              " to hold every point (points are never dropped)"),
                     given);
      grid.shape.push_back(given);
    }
  }
  // Row-major cell index: ((c0·n1 + c1)·n2 + c2)…
  grid.cell = torch::zeros({pos.size(0)}, ids.options());
  for (int64_t a = 0; a < d; ++a) grid.cell = grid.cell * grid.shape[a] + grid.coords.select(1, a);
  return grid;
}

std::pair<torch::Tensor, torch::Tensor> scatter_to_grid(const torch::Tensor& features,
                                                        const VoxelGrid& grid,
                                                        const torch::Tensor& batch) {
  TOPO_CHECK_ARG(features.dim() == 2 && features.size(0) == grid.cell.size(0), "scatter_to_grid",
                 "features", "of shape [" + std::to_string(grid.cell.size(0)) + ", C]",
                 shape_string(features));
  const int64_t clouds = grid.origin.size(0);
  const int64_t cells = grid.num_cells();
  const auto ids = batch.defined() ? batch : torch::zeros_like(grid.cell);
  const auto flat = ids * cells + grid.cell;
  auto sums = torch::zeros({clouds * cells, features.size(1)}, features.options())
                  .index_add(0, flat, features);
  auto counts = torch::zeros({clouds * cells}, features.options())
                    .index_add(0, flat, torch::ones({flat.size(0)}, features.options()));
  const auto empty = counts == 0;
  const auto mean = sums / counts.clamp_min(1).unsqueeze(1);
  return {mean.view({clouds, cells, features.size(1)}), empty.view({clouds, cells})};
}

}  // namespace topo::geometry
