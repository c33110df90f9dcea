// SPDX-License-Identifier: Apache-2.0
#include "geometry/open3d_conversion.h"

#include <open3d/geometry/PointCloud.h>
#include <torch/torch.h>

#include <cstring>
#include <vector>

#include "common/check.h"

namespace topo::geometry {
namespace {

static_assert(sizeof(Eigen::Vector3d) == 3 * sizeof(double),
              "Open3D's point vectors must be packed for the bulk copies below");

std::vector<Eigen::Vector3d> to_vectors(const torch::Tensor& values) {
  const auto data = values.detach().to(torch::kCPU, torch::kDouble).contiguous();
  std::vector<Eigen::Vector3d> out(data.size(0));
  if (!out.empty())
    std::memcpy(out.data()->data(), data.data_ptr<double>(), data.numel() * sizeof(double));
  return out;
}

torch::Tensor from_vectors(const std::vector<Eigen::Vector3d>& values, torch::Dtype dtype) {
  auto out = torch::empty({static_cast<int64_t>(values.size()), 3}, torch::kDouble);
  if (!values.empty())
    std::memcpy(out.data_ptr<double>(), values.data()->data(), out.numel() * sizeof(double));
  return out.to(dtype);
}

}  // namespace

open3d::geometry::PointCloud to_open3d(const PointCloud& cloud) {
  cloud.validate("to_open3d");
  TOPO_CHECK_ARG(cloud.dim() == 3, "to_open3d", "cloud.pos", "3-D points [N, 3]",
                 shape_string(cloud.pos));
  TOPO_CHECK_ARG(cloud.num_clouds() <= 1, "to_open3d", "cloud.batch", "a single cloud",
                 std::to_string(cloud.num_clouds()) + " clouds");
  TOPO_CHECK_ARG(!cloud.features.defined() || cloud.features.size(1) == 3, "to_open3d",
                 "cloud.features", "undefined or 3 channels (stored as Open3D colours)",
                 shape_string(cloud.features));
  open3d::geometry::PointCloud out;
  out.points_ = to_vectors(cloud.pos);
  if (cloud.normals.defined()) out.normals_ = to_vectors(cloud.normals);
  if (cloud.features.defined()) out.colors_ = to_vectors(cloud.features);
  return out;
}

PointCloud from_open3d(const open3d::geometry::PointCloud& cloud, torch::Dtype dtype) {
  TOPO_CHECK_ARG(dtype == torch::kFloat || dtype == torch::kDouble, "from_open3d", "dtype",
                 "float32 or float64", c10::toString(dtype));
  const size_t n = cloud.points_.size();
  TOPO_CHECK_ARG(cloud.normals_.empty() || cloud.normals_.size() == n, "from_open3d",
                 "cloud.normals_", "empty or one per point (" + std::to_string(n) + ")",
                 cloud.normals_.size());
  TOPO_CHECK_ARG(cloud.colors_.empty() || cloud.colors_.size() == n, "from_open3d", "cloud.colors_",
                 "empty or one per point (" + std::to_string(n) + ")", cloud.colors_.size());
  PointCloud out;
  out.pos = from_vectors(cloud.points_, dtype);
  if (cloud.HasNormals()) out.normals = from_vectors(cloud.normals_, dtype);
  if (cloud.HasColors()) out.features = from_vectors(cloud.colors_, dtype);
  return out;
}

}  // namespace topo::geometry
