// SPDX-License-Identifier: Apache-2.0
/// \file
/// Point-cloud datasets: MNIST/Fashion-MNIST IDX images as 2-D clouds, ModelNet10/40 as
/// published (`<class>/{train,test}/*.off`, area-weighted surface sampling with an on-disk
/// cache), the ModelNet40 HDF5 release, and any PLY/PCD/XYZ/OFF/OBJ file through Open3D.
#pragma once

#include <string>
#include <vector>

#include "datasets/sample.h"

namespace topo::datasets {

/// MNIST IDX images (`*-idx3-ubyte[.gz]`, or raw IDX without `.gz`) and labels
/// (`*-idx1-ubyte[.gz]`): every pixel with intensity > `threshold` (0…255) becomes a point
/// `pos` = (column, rows − 1 − row) in pixels (rows = 28 for MNIST), with `x` [n, 1] =
/// intensity / 255 and `y` = the label (int64 scalar).
/// With `centre`, each axis is mapped to [-1, 1] from the image size in the IDX header:
/// p ↦ (p − (m−1)/2) / ((m−1)/2) with m the header's columns (x) or rows (y), i.e.
/// (p − 13.5) / 13.5 for 28 × 28 MNIST; an axis of a single pixel maps to 0.
/// Errors (ParseError naming the file): a header with 0 rows or 0 columns, a labels file whose
/// count differs from the images', a label outside 0…9 (with its index), and an image with no
/// pixel above `threshold` (with its index: an empty cloud cannot be classified).
std::vector<Sample> read_mnist(const std::string& images_path, const std::string& labels_path,
                               int64_t threshold = 127, bool centre = false);

/// Any point cloud Open3D reads (.ply, .pcd, .xyz, .xyzn, .xyzrgb, .pts): `pos` [N, 3], normals
/// (if any) and colours (if any) concatenated into `x`. Open3D reports failure by returning
/// false (and may leave partial data); that is turned into an error here, as are empty clouds
/// and NaN or infinite coordinates, normals or colours (the error names the file and the first
/// such point's 0-based index).
Sample read_point_cloud(const std::string& path);

/// A triangle mesh file (.off with ModelNet's fused header, .ply, .obj, .stl) sampled by
/// area-weighted uniform surface sampling (Open3D) into `num_points` points, seeded from
/// torch's generator. `pos` [num_points, 3].
Sample sample_mesh(const std::string& path, int64_t num_points);

struct ModelNetOptions {
  std::string root;             ///< folder with one sub-folder per class
  std::string split = "train";  ///< "train" or "test"
  int64_t num_points = 1024;
  uint64_t seed = 0;           ///< sampling seed (part of the cache key)
  std::string cache_dir = "";  ///< "" disables the cache
};

struct ModelNet {
  std::vector<Sample> samples;  ///< `pos` [num_points, 3], `y` class index
  std::vector<std::string> class_names;
};

/// ModelNet10/40 as published. Classes are the sorted sub-folders of `root`; every class must
/// have a `<split>/` folder. With a cache folder the sampled clouds are stored once, keyed by
/// root, split, points and seed, and written atomically.
ModelNet read_modelnet(const ModelNetOptions& options);

/// The ModelNet40 HDF5 release (`ply_data_{train,test}*.h5`: `data` [B, 2048, 3] float32,
/// `label` [B, 1] uint8), concatenated over `files`.
std::vector<Sample> read_modelnet_h5(const std::vector<std::string>& files);

}  // namespace topo::datasets
