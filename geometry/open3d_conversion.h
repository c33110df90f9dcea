// SPDX-License-Identifier: Apache-2.0
/// \file
/// Conversion between topo::geometry::PointCloud and open3d::geometry::PointCloud. Open3D is
/// only forward-declared here: callers of these functions include <open3d/geometry/PointCloud.h>
/// and link Open3D::Open3D themselves; nothing else in topoformer's headers needs Open3D.
#pragma once

#include <torch/types.h>

#include "geometry/point_cloud.h"

namespace open3d::geometry {
class PointCloud;
}  // namespace open3d::geometry

namespace topo::geometry {

/// Copies one 3-D cloud into Open3D (positions and normals as doubles, 3-channel features as
/// colours). Lossless: float32 and float64 values convert exactly. Throws for d ≠ 3, a batch of
/// several clouds, or features with C ≠ 3 (Open3D has nowhere to keep them; nothing is dropped
/// silently).
open3d::geometry::PointCloud to_open3d(const PointCloud& cloud);

/// Copies an Open3D cloud: points → pos, normals (if any) → normals, colours (if any) →
/// features [N, 3]. `dtype` float64 keeps Open3D's values bit for bit; float32 is exact for
/// clouds that came from float32.
PointCloud from_open3d(const open3d::geometry::PointCloud& cloud,
                       torch::Dtype dtype = torch::kFloat);

}  // namespace topo::geometry
