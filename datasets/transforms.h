// SPDX-License-Identifier: Apache-2.0
/// \file
/// Point-cloud transforms on `Sample::pos` (and normals in `x` are left alone). Random ones
/// draw from the generator they are given (the data loader passes one per sample, seeded from
/// the loader seed, the epoch and the sample index) or torch's default generator.
#pragma once

#include <ATen/core/Generator.h>

#include <functional>
#include <optional>
#include <vector>

#include "datasets/sample.h"

namespace topo::datasets {

using Transform = std::function<Sample(Sample, std::optional<at::Generator>)>;

/// Subtracts the centroid.
Transform center();
/// Centres and scales into the unit ball (max norm 1).
Transform normalize_scale();
/// Random rotation: about the z axis (2-D clouds: in the plane), or uniform in SO(3).
Transform random_rotate(bool about_z_only);
/// Adds N(0, sigma²) noise clipped to ±clip.
Transform random_jitter(double sigma = 0.01, double clip = 0.05);
/// Multiplies every axis by its own factor drawn uniformly from [low, high].
Transform random_scale(double low = 0.8, double high = 1.25);
/// Keeps `num_points` points drawn without replacement (all points if fewer); node-level
/// tensors are subsampled alike.
Transform random_subsample(int64_t num_points);
/// Applies transforms left to right.
Transform compose(std::vector<Transform> transforms);

}  // namespace topo::datasets
