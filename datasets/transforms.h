// SPDX-License-Identifier: Apache-2.0
/// \file
/// Point-cloud transforms on `Sample::pos` (and normals in `x` are left alone). Random ones
/// draw from the generator they are given (the data loader passes one per sample, seeded from
/// the loader seed, the epoch and the sample index) or torch's default generator.
#pragma once

#include <ATen/core/Generator.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "datasets/sample.h"

namespace topo::datasets {

using Transform = std::function<Sample(Sample, std::optional<at::Generator>)>;

/// Subtracts the centroid.
Transform center();
/// Centres and scales into the unit ball (max norm 1).
Transform normalize_scale();
/// Random rotation: about the z axis (2-D clouds: in the plane) by an angle uniform in
/// [−max_degrees, max_degrees] (180: any angle), or uniform in SO(3) (`about_z_only` false;
/// max_degrees must then be 180).
Transform random_rotate(bool about_z_only, double max_degrees = 180);
/// Adds N(0, sigma²) noise clipped to ±clip.
Transform random_jitter(double sigma = 0.01, double clip = 0.05);
/// Multiplies every axis by its own factor drawn uniformly from [low, high].
Transform random_scale(double low = 0.8, double high = 1.25);
/// Keeps `num_points` points drawn without replacement (all points if fewer); node-level
/// tensors are subsampled alike.
Transform random_subsample(int64_t num_points);
/// Drops every point with one probability per sample drawn uniformly from [0, max_ratio]
/// (PointNet++'s random input dropout, Qi et al. 2017), keeping at least one point; node-level
/// tensors are dropped alike.
Transform random_point_dropout(double max_ratio);
/// Applies transforms left to right.
Transform compose(std::vector<Transform> transforms);

/// One augmentation as the command line names it, NAME[:key=value,...]:
///   rotate[:degrees=180]            about z (2-D: in the plane), angle in ±degrees
///   rotate-so3                      uniform in SO(3) (3-D clouds)
///   scale[:low=0.8,high=1.25]       per-axis factors
///   jitter[:sigma=0.01,clip=0.05]   clipped Gaussian noise
///   dropout[:max_ratio=0.875]       random point dropout
/// Throws std::invalid_argument naming the text, the key and the expected values.
Transform parse_augmentation(const std::string& text);
/// The names above with their settings, one per line (for help texts).
std::string describe_augmentations();

}  // namespace topo::datasets
