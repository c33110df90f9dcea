// SPDX-License-Identifier: Apache-2.0
// Point-cloud containers, farthest point sampling, voxel grids and the Open3D round trip.
#include <gtest/gtest.h>
#include <open3d/geometry/PointCloud.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "attention/masked_linear_attention.h"
#include "attention/masks/block_toeplitz_mask.h"
#include "common/threads.h"
#include "geometry/farthest_point_sampling.h"
#include "geometry/open3d_conversion.h"
#include "geometry/point_cloud.h"
#include "geometry/voxel_grid.h"
#include "support/reference_attention.h"
#include "support/tensor_assertions.h"

namespace topo::geometry {
namespace {

/// Textbook FPS on one cloud, written independently with tensor ops.
std::vector<int64_t> reference_fps(const torch::Tensor& pos, int64_t start, int64_t count) {
  std::vector<int64_t> picked = {start};
  auto nearest = (pos - pos[start]).pow(2).sum(1);
  nearest[start] = -1;
  while (static_cast<int64_t>(picked.size()) < count) {
    const int64_t next = nearest.argmax().item<int64_t>();  // first maximum
    picked.push_back(next);
    nearest = torch::minimum(nearest, (pos - pos[next]).pow(2).sum(1));
    nearest[next] = -1;
  }
  return picked;
}

std::vector<int64_t> as_vector(const torch::Tensor& t) {
  const auto c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

TEST(FarthestPointSampling, MatchesReferencePerCloud) {
  torch::manual_seed(1);
  const auto pos = torch::randn({70, 3}, torch::kDouble);
  const auto batch =
      torch::cat({torch::zeros({30}, torch::kLong), torch::ones({40}, torch::kLong)});
  const auto picked = farthest_point_sampling(pos, batch, 0.25, /*random_start=*/false);
  auto expected = reference_fps(pos.slice(0, 0, 30), 0, 8);  // ceil(0.25·30) = 8
  for (int64_t i : reference_fps(pos.slice(0, 30), 0, 10)) expected.push_back(30 + i);
  EXPECT_EQ(as_vector(picked), expected);
}

TEST(FarthestPointSampling, RandomStartIsSeededAndThreadIndependent) {
  const auto pos = torch::randn({200, 2});
  const auto batch = torch::repeat_interleave(torch::arange(5), 40);
  const int64_t before = num_threads();
  set_num_threads(1);
  torch::manual_seed(7);
  const auto a = farthest_point_sampling(pos, batch, int64_t{12}, true);
  set_num_threads(2);
  torch::manual_seed(7);
  const auto b = farthest_point_sampling(pos, batch, int64_t{12}, true);
  set_num_threads(before);
  EXPECT_TRUE(a.equal(b));
  EXPECT_EQ(a.size(0), 60);
  // The first pick of each cloud is its random start; the rest follow the reference.
  for (int64_t c = 0; c < 5; ++c) {
    const auto mine = as_vector(a.slice(0, 12 * c, 12 * (c + 1)) - 40 * c);
    EXPECT_EQ(mine, reference_fps(pos.slice(0, 40 * c, 40 * (c + 1)), mine[0], 12));
  }
}

TEST(FarthestPointSampling, SmallAndDuplicateClouds) {
  const auto pos = torch::zeros({3, 2});  // all points equal: ties pick the smaller index
  EXPECT_EQ(as_vector(farthest_point_sampling(pos, {}, int64_t{5}, false)),
            (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(farthest_point_sampling(torch::zeros({0, 3}), {}, 0.5, true).size(0), 0);
  EXPECT_THROW_WITH(farthest_point_sampling(pos, {}, 1.5, true), "`ratio` must be in (0, 1]");
}

TEST(VoxelGrid, QuantisesPerCloudAndAveragesFeatures) {
  const auto pos = torch::tensor({{0.0, 0.0}, {0.4, 0.1}, {1.2, 0.0}, {10.0, 10.0}, {10.6, 11.1}});
  const auto batch = torch::tensor({0, 0, 0, 1, 1});
  const auto grid = voxel_grid(pos, VoxelGridOptions({0.5}), batch);
  EXPECT_TRUE(grid.coords.equal(torch::tensor({{0, 0}, {0, 0}, {2, 0}, {0, 0}, {1, 2}})));
  EXPECT_EQ(grid.shape, (std::vector<int64_t>{3, 3}));
  EXPECT_TRUE(grid.cell.equal(torch::tensor({0, 0, 6, 0, 5})));
  const auto features = torch::tensor({{1.0}, {3.0}, {5.0}, {7.0}, {9.0}});
  const auto [dense, empty] = scatter_to_grid(features, grid, batch);
  EXPECT_EQ(dense.sizes(), (std::vector<int64_t>{2, 9, 1}));
  EXPECT_FLOAT_EQ(dense[0][0][0].item<float>(), 2.0f);
  EXPECT_FLOAT_EQ(dense[0][6][0].item<float>(), 5.0f);
  EXPECT_FLOAT_EQ(dense[1][5][0].item<float>(), 9.0f);
  EXPECT_EQ(empty.logical_not().sum().item<int64_t>(), 4);
}

TEST(VoxelGrid, VoxelisedCloudsTakeBlockToeplitzMasks) {
  // A 3-D cloud on a 4×3×5 grid: the cell features and the empty-cell padding mask feed
  // BlockToeplitzMask attention, which must equal the dense masked reference.
  torch::manual_seed(3);
  const auto pos =
      torch::rand({60, 3}, torch::kDouble) * torch::tensor({3.9, 2.9, 4.9}, torch::kDouble);
  const auto grid =
      voxel_grid(pos, VoxelGridOptions({1.0}).grid_shape({4, 3, 5}).origin({0, 0, 0}));
  const auto [cells, empty] = scatter_to_grid(torch::randn({60, 4}, torch::kDouble), grid);
  attention::BlockToeplitzMask mask(attention::BlockToeplitzMaskOptions(2, grid.shape));
  mask->to(torch::kDouble);
  {
    torch::NoGradGuard guard;
    mask->table.uniform_(0.5, 1.5);
  }
  const auto phi = (cells.unsqueeze(1).expand({1, 2, 60, 4}).abs() + 0.1).contiguous();
  const auto v = torch::randn({1, 2, 60, 3}, torch::kDouble);
  attention::MaskContext context;
  context.batch_size = 1;
  context.length = 60;
  context.key_padding_mask = empty;
  const auto op = mask->build(context);
  const auto out = attention::masked_linear_attention(phi, phi, v, *op, empty);
  auto dense = op->dense(torch::kDouble);
  dense = dense.masked_fill(empty.view({1, 1, 1, 60}), 0.0);
  EXPECT_TENSOR_CLOSE(out, topo::test::dense_masked_kernel_attention(phi, phi, v, dense),
                      {1e-10, 1e-10});
}

TEST(VoxelGrid, NeverDropsPoints) {
  const auto pos = torch::tensor({{0.0, 0.0}, {2.0, 0.0}});
  EXPECT_THROW_WITH(voxel_grid(pos, VoxelGridOptions({1.0}).grid_shape({2, 2})),
                    "at least 3 cells on axis 0");
  EXPECT_THROW_WITH(voxel_grid(pos, VoxelGridOptions({1.0}).origin({1.0, 0.0})),
                    "a point below it on axis 0");
  EXPECT_THROW_WITH(voxel_grid(pos, VoxelGridOptions({0.0})),
                    "`voxel_size` must be finite and > 0");
}

TEST(PointCloud, PaddedRoundTripAndRowSplits) {
  const auto values = torch::arange(10, torch::kFloat).view({5, 2});
  const auto batch = torch::tensor({0, 0, 2, 2, 2});  // cloud 1 empty
  const auto [padded, mask] = to_padded(values, batch);
  EXPECT_EQ(padded.sizes(), (std::vector<int64_t>{3, 3, 2}));
  EXPECT_TRUE(mask[1].all().item<bool>());
  EXPECT_TRUE(from_padded(padded, mask).equal(values));
  EXPECT_TRUE(batch_to_row_splits(batch).equal(torch::tensor({0, 2, 2, 5})));
  EXPECT_TRUE(row_splits_to_batch(torch::tensor({0, 2, 2, 5})).equal(batch));
  PointCloud cloud{torch::randn({5, 3}), {}, torch::randn({4, 3}), batch};
  EXPECT_THROW_WITH(cloud.validate(), "`normals` must be of the shape of `pos`");
}

TEST(Open3DConversion, RoundTripIsLossless) {
  torch::manual_seed(2);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    PointCloud cloud{torch::randn({100, 3}, dtype),
                     torch::rand({100, 3}, dtype),
                     torch::nn::functional::normalize(torch::randn({100, 3}, dtype)),
                     {}};
    const open3d::geometry::PointCloud o3d = to_open3d(cloud);
    ASSERT_EQ(o3d.points_.size(), 100u);
    EXPECT_EQ(o3d.points_[7].x(), cloud.pos[7][0].item<double>());
    const auto back = from_open3d(o3d, dtype);
    EXPECT_TRUE(back.pos.equal(cloud.pos));
    EXPECT_TRUE(back.normals.equal(cloud.normals));
    EXPECT_TRUE(back.features.equal(cloud.features));
  }
  const auto plain = from_open3d(to_open3d(PointCloud{torch::randn({4, 3})}));
  EXPECT_FALSE(plain.normals.defined());
  EXPECT_FALSE(plain.features.defined());
}

TEST(Open3DConversion, RefusesWhatOpen3DCannotHold) {
  EXPECT_THROW_WITH(to_open3d(PointCloud{torch::randn({4, 2})}), "3-D points");
  EXPECT_THROW_WITH(to_open3d(PointCloud{torch::randn({4, 3}), torch::randn({4, 5})}),
                    "3 channels");
  EXPECT_THROW_WITH(
      to_open3d(PointCloud{torch::randn({4, 3}), {}, {}, torch::tensor({0, 0, 1, 1})}),
      "a single cloud");
}

}  // namespace
}  // namespace topo::geometry
