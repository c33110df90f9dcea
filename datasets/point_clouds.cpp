// SPDX-License-Identifier: Apache-2.0
#include "datasets/point_clouds.h"

#include <hdf5.h>
#include <open3d/geometry/PointCloud.h>
#include <open3d/geometry/TriangleMesh.h>
#include <open3d/io/PointCloudIO.h>
#include <open3d/io/TriangleMeshIO.h>
#include <open3d/utility/Logging.h>
#include <open3d/utility/Random.h>
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <mutex>
#include <sstream>

#include "datasets/file_io.h"
#include "datasets/parsers/array_parsers.h"
#include "datasets/parsers/text_parsing.h"

namespace topo::datasets {
namespace {

namespace fs = std::filesystem;

std::mutex& open3d_mutex() {  // Open3D's random seed and verbosity are global
  static std::mutex mutex;
  return mutex;
}

/// Open3D prints its own warnings on failure; we raise a clearer error instead.
struct QuietOpen3D {
  QuietOpen3D() : previous(open3d::utility::GetVerbosityLevel()) {
    open3d::utility::SetVerbosityLevel(open3d::utility::VerbosityLevel::Error);
  }
  ~QuietOpen3D() { open3d::utility::SetVerbosityLevel(previous); }
  open3d::utility::VerbosityLevel previous;
};

torch::Tensor vectors_to_tensor(const std::vector<Eigen::Vector3d>& values) {
  auto out = torch::empty({static_cast<int64_t>(values.size()), 3}, torch::kDouble);
  auto a = out.accessor<double, 2>();
  for (size_t i = 0; i < values.size(); ++i) {
    for (int c = 0; c < 3; ++c) a[i][c] = values[i][c];
  }
  return out.to(torch::kFloat);
}

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext;
}

bool all_finite(const std::vector<Eigen::Vector3d>& values) {
  for (const auto& v : values) {
    if (!v.allFinite()) return false;
  }
  return true;
}

/// Throws naming the file, the first point (0-based) with a NaN or infinite entry and its value.
void check_finite(const std::string& path, const std::vector<Eigen::Vector3d>& values,
                  const char* what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].allFinite()) continue;
    std::ostringstream actual;
    actual << "(" << values[i][0] << ", " << values[i][1] << ", " << values[i][2] << ")";
    throw ParseError(path, std::string("expected finite ") + what + ", got " + actual.str() +
                               " at point " + std::to_string(i) + " (0-based) of " +
                               std::to_string(values.size()));
  }
}

/// `text` without ANSI escape sequences (ESC [ … letter): Open3D colours its messages.
std::string strip_ansi(const std::string& text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '[') {
      i += 2;
      while (i < text.size() && !std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
      continue;
    }
    out += text[i];
  }
  return out;
}

/// Runs an Open3D call; its exceptions (coloured, without the file) become ParseErrors naming
/// `path`.
template <typename F>
auto open3d_call(const std::string& path, F&& call) -> decltype(call()) {
  try {
    return call();
  } catch (const ParseError&) {
    throw;
  } catch (const std::exception& e) {
    // "[Open3D Error] (<C++ signature>) /path/File.cpp:123: message": keep the message.
    std::string message = strip_ansi(e.what());
    const size_t source = message.find(".cpp:");
    if (source != std::string::npos) {
      const size_t colon = message.find(": ", source);
      if (colon != std::string::npos) message = message.substr(colon + 2);
    }
    throw ParseError(path, "Open3D failed: " + message);
  }
}

}  // namespace

std::vector<Sample> read_mnist(const std::string& images_path, const std::string& labels_path,
                               int64_t threshold, bool centre) {
  if (threshold < 0 || threshold > 255)
    throw ParseError(images_path,
                     "expected a threshold in [0, 255], got " + std::to_string(threshold));
  const auto images = parse_idx(read_file(images_path), images_path);
  const auto labels = parse_idx(read_file(labels_path), labels_path);
  if (images.shape.size() != 3 || images.dtype != "u8")
    throw ParseError(images_path, "expected a uint8 IDX array [N, rows, cols]");
  if (labels.shape.size() != 1 || labels.dtype != "u8")
    throw ParseError(labels_path, "expected a uint8 IDX array [N]");
  if (images.shape[1] < 1 || images.shape[2] < 1) {
    throw ParseError(images_path,
                     "expected images of at least 1 x 1 pixels in the IDX header, got " +
                         std::to_string(images.shape[1]) + " rows x " +
                         std::to_string(images.shape[2]) + " columns");
  }
  if (images.shape[0] != labels.shape[0]) {
    throw ParseError(labels_path, "expected " + std::to_string(images.shape[0]) +
                                      " labels (one per image of " + images_path + "), got " +
                                      std::to_string(labels.shape[0]));
  }
  const int64_t n = images.shape[0], rows = images.shape[1], cols = images.shape[2];
  for (int64_t i = 0; i < n; ++i) {
    if (labels.values[i] > 9) {
      throw ParseError(labels_path, "expected a digit class in [0, 9] for label " +
                                        std::to_string(i) + " (0-based), got " +
                                        std::to_string(static_cast<int64_t>(labels.values[i])));
    }
  }
  const auto pixels =
      torch::tensor(images.values, torch::kDouble).to(torch::kFloat).view({n, rows, cols});
  // Centring maps pixel p of an axis with m pixels to (p - (m-1)/2) / ((m-1)/2) in [-1, 1]; an
  // axis of one pixel maps to 0.
  const auto to_unit = [](const torch::Tensor& p, int64_t m) {
    const float half = static_cast<float>(m - 1) / 2.0f;
    return m > 1 ? (p - half) / half : torch::zeros_like(p);
  };
  std::vector<Sample> samples;
  samples.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    const auto on = (pixels[i] > static_cast<float>(threshold)).nonzero();  // [k, 2] (row, col)
    if (on.size(0) == 0) {
      throw ParseError(images_path,
                       "expected at least one pixel above the threshold " +
                           std::to_string(threshold) + " in image " + std::to_string(i) +
                           " (0-based), got none (a blank image gives an empty cloud)");
    }
    Sample s;
    s.name = images_path + "#" + std::to_string(i);
    auto x = on.select(1, 1).to(torch::kFloat),
         y = ((rows - 1) - on.select(1, 0)).to(torch::kFloat);
    if (centre) {
      x = to_unit(x, cols);
      y = to_unit(y, rows);
    }
    s.pos = torch::stack({x, y}, 1);
    s.x = pixels[i].index({on.select(1, 0), on.select(1, 1)}).unsqueeze(1) / 255.0f;
    s.y = torch::tensor(static_cast<int64_t>(labels.values[i]), torch::kLong);
    samples.push_back(std::move(s));
  }
  return samples;
}

Sample read_point_cloud(const std::string& path) {
  require_regular_file(path);
  open3d::geometry::PointCloud cloud;
  bool ok;
  {
    std::lock_guard<std::mutex> lock(open3d_mutex());
    QuietOpen3D quiet;
    // NaN and infinite points are kept (Open3D would drop them silently) so that they are
    // reported below with their index.
    ok = open3d_call(path, [&] {
      return open3d::io::ReadPointCloud(
          path, cloud,
          {"auto", /*remove_nan_points=*/false, /*remove_infinite_points=*/false,
           /*print_progress=*/false});
    });
  }
  if (!ok)
    throw ParseError(path,
                     "Open3D could not read this point cloud (unknown extension, or a malformed or "
                     "truncated file)");
  if (cloud.points_.empty())
    throw ParseError(path, "expected at least one point, got an empty cloud");
  check_finite(path, cloud.points_, "coordinates");
  if (cloud.HasNormals()) check_finite(path, cloud.normals_, "normals");
  if (cloud.HasColors()) check_finite(path, cloud.colors_, "colours");
  // Open3D reads XYZ files up to the first bad line and still reports success: re-count.
  const auto ext = lower_extension(path);
  if (ext == ".xyz" || ext == ".xyzn" || ext == ".xyzrgb") {
    const std::string text = read_file(path);
    LineReader reader(text, path);
    std::string_view line;
    int64_t lines = 0;
    while (reader.next(line)) {
      if (trim(line).empty()) continue;
      ++lines;
      const auto fields = split_fields(line);
      for (size_t c = 0; c < std::min<size_t>(fields.size(), 3); ++c)
        field_double(reader, fields, c, "a coordinate");
      if (fields.size() < 3) reader.fail("`x y z …`", line);
    }
    if (lines != static_cast<int64_t>(cloud.points_.size())) {
      throw ParseError(path, "Open3D read " + std::to_string(cloud.points_.size()) + " of " +
                                 std::to_string(lines) + " points");
    }
  }
  Sample s;
  s.name = path;
  s.pos = vectors_to_tensor(cloud.points_);
  std::vector<torch::Tensor> features;
  if (cloud.HasNormals()) features.push_back(vectors_to_tensor(cloud.normals_));
  if (cloud.HasColors()) features.push_back(vectors_to_tensor(cloud.colors_));
  if (!features.empty()) s.x = torch::cat(features, 1);
  return s;
}

namespace {

std::shared_ptr<open3d::geometry::TriangleMesh> load_mesh(const std::string& path) {
  auto mesh = std::make_shared<open3d::geometry::TriangleMesh>();
  if (lower_extension(path) == ".off") {
    // Our parser: it reads ModelNet's fused `OFF<v> <f> <e>` header and names bad lines.
    const auto parsed = parse_off(read_file(path), path);
    for (size_t i = 0; i < parsed.vertices.size(); i += 3) {
      mesh->vertices_.emplace_back(parsed.vertices[i], parsed.vertices[i + 1],
                                   parsed.vertices[i + 2]);
    }
    for (const auto& t : parsed.triangles)
      mesh->triangles_.emplace_back(int(t[0]), int(t[1]), int(t[2]));
  } else {
    require_regular_file(path);
    std::lock_guard<std::mutex> lock(open3d_mutex());
    QuietOpen3D quiet;
    if (!open3d_call(path, [&] { return open3d::io::ReadTriangleMesh(path, *mesh); }))
      throw ParseError(path, "Open3D could not read this mesh (malformed or truncated)");
  }
  if (mesh->triangles_.empty()) throw ParseError(path, "expected a mesh with triangles, got none");
  if (!all_finite(mesh->vertices_)) throw ParseError(path, "expected finite vertex coordinates");
  // Open3D's sampler throws an ANSI-coloured error without the file name on a zero-area mesh.
  const double area = mesh->GetSurfaceArea();
  if (!(area > 0)) {
    throw ParseError(path,
                     "expected a mesh with positive surface area to sample points from, got " +
                         std::to_string(mesh->triangles_.size()) +
                         " triangles of total area 0 (degenerate: collinear or repeated "
                         "vertices)");
  }
  return mesh;
}

}  // namespace

Sample sample_mesh(const std::string& path, int64_t num_points) {
  if (num_points < 1)
    throw ParseError(path, "expected num_points >= 1, got " + std::to_string(num_points));
  const auto mesh = load_mesh(path);
  const int seed = static_cast<int>(torch::randint(0, 1 << 30, {1}, torch::kLong).item<int64_t>());
  std::shared_ptr<open3d::geometry::PointCloud> cloud;
  {
    std::lock_guard<std::mutex> lock(open3d_mutex());
    open3d::utility::random::Seed(seed);
    cloud = open3d_call(
        path, [&] { return mesh->SamplePointsUniformly(static_cast<size_t>(num_points)); });
  }
  if (!cloud || static_cast<int64_t>(cloud->points_.size()) != num_points) {
    throw ParseError(path, "area-weighted sampling failed (degenerate mesh?)");
  }
  Sample s;
  s.name = path;
  s.pos = vectors_to_tensor(cloud->points_);
  return s;
}

ModelNet read_modelnet(const ModelNetOptions& options) {
  if (!fs::is_directory(options.root))
    throw ParseError(options.root, "expected the ModelNet folder (one sub-folder per class)");
  if (options.split != "train" && options.split != "test") {
    throw ParseError(options.root,
                     "expected split \"train\" or \"test\", got \"" + options.split + "\"");
  }
  ModelNet out;
  for (const auto& entry : fs::directory_iterator(options.root)) {
    if (entry.is_directory()) out.class_names.push_back(entry.path().filename().string());
  }
  std::sort(out.class_names.begin(), out.class_names.end());
  if (out.class_names.empty()) throw ParseError(options.root, "expected class folders, found none");
  std::vector<std::pair<std::string, int64_t>> files;
  for (size_t c = 0; c < out.class_names.size(); ++c) {
    const fs::path folder = fs::path(options.root) / out.class_names[c] / options.split;
    if (!fs::is_directory(folder))
      throw ParseError(folder.string(),
                       "missing class folder (expected <class>/" + options.split + "/)");
    std::vector<std::string> meshes;
    for (const auto& entry : fs::directory_iterator(folder)) {
      if (entry.is_regular_file() && lower_extension(entry.path().string()) == ".off")
        meshes.push_back(entry.path().string());
    }
    std::sort(meshes.begin(), meshes.end());
    for (const auto& m : meshes) files.emplace_back(m, static_cast<int64_t>(c));
  }
  std::string cache_file;
  if (!options.cache_dir.empty()) {
    // Keyed by the settings and every mesh's path, size and modification time: a replaced,
    // edited or corrupted mesh invalidates the cache.
    std::ostringstream key;
    key << fs::weakly_canonical(options.root).string() << '|' << options.split << '|'
        << options.num_points << '|' << options.seed;
    for (const auto& [path, label] : files) {
      key << '|' << path << ':' << label << ':' << fs::file_size(path) << ':'
          << fs::last_write_time(path).time_since_epoch().count();
    }
    cache_file = (fs::path(options.cache_dir) /
                  ("modelnet_" + options.split + "_" + std::to_string(options.num_points) + "_" +
                   std::to_string(std::hash<std::string>()(key.str())) + ".pt"))
                     .string();
    if (fs::exists(cache_file)) {
      torch::Tensor pos, labels;
      try {
        // The CRC-32s first: LibTorch's loader would read a flipped bit silently.
        verify_zip_archive(cache_file);
        verify_zip_archive(cache_file + ".labels");
        torch::load(pos, cache_file);
        torch::load(labels, cache_file + ".labels");
      } catch (const std::exception&) {
        pos = labels = torch::Tensor();
      }
      const int64_t n = static_cast<int64_t>(files.size()),
                    classes = static_cast<int64_t>(out.class_names.size());
      if (pos.defined() && labels.defined() && pos.dim() == 3 && pos.size(0) == n &&
          pos.size(1) == options.num_points && pos.size(2) == 3 && labels.dim() == 1 &&
          labels.size(0) == n &&
          (n == 0 ||
           (labels.min().item<int64_t>() >= 0 && labels.max().item<int64_t>() < classes))) {
        for (int64_t i = 0; i < n; ++i) {
          out.samples.push_back({pos[i], {}, {}, {}, {}, labels[i], {}, files.at(i).first});
        }
        return out;
      }
      // A damaged or foreign cache file is rebuilt from the meshes (and overwritten below).
      std::fprintf(stderr, "%s: damaged ModelNet cache, re-sampling the meshes\n",
                   cache_file.c_str());
    }
  }
  torch::manual_seed(options.seed);  // each mesh's sampling seed comes from this stream
  for (const auto& [path, label] : files) {
    auto s = sample_mesh(path, options.num_points);
    s.y = torch::tensor(label, torch::kLong);
    out.samples.push_back(std::move(s));
  }
  if (!cache_file.empty() && !out.samples.empty()) {
    fs::create_directories(options.cache_dir);
    std::vector<torch::Tensor> pos, labels;
    for (const auto& s : out.samples) {
      pos.push_back(s.pos);
      labels.push_back(s.y);
    }
    // Saved to temporaries and renamed: a crash never leaves a truncated cache.
    std::ostringstream a, b;
    torch::save(torch::stack(pos), a);
    torch::save(torch::stack(labels), b);
    write_file_atomically(cache_file + ".labels", b.str());
    write_file_atomically(cache_file, a.str());
  }
  return out;
}

std::vector<Sample> read_modelnet_h5(const std::vector<std::string>& files) {
  std::vector<Sample> samples;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);  // errors are reported by us, not printed
  for (const auto& path : files) {
    require_regular_file(path);
    // Handles close on every path out (errors included).
    struct Handle {
      hid_t id;
      herr_t (*close)(hid_t);
      ~Handle() {
        if (id >= 0) close(id);
      }
    };
    const Handle file{H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose};
    if (file.id < 0)
      throw ParseError(path, "HDF5 could not open this file (missing, not HDF5, or truncated)");
    const auto read = [&](const char* name, hid_t type, std::vector<hsize_t>& dims) {
      const Handle set{H5Dopen2(file.id, name, H5P_DEFAULT), H5Dclose};
      if (set.id < 0)
        throw ParseError(path, std::string("expected a dataset named `") + name + "`");
      const Handle space{H5Dget_space(set.id), H5Sclose};
      const int rank = space.id < 0 ? -1 : H5Sget_simple_extent_ndims(space.id);
      if (rank < 0)
        throw ParseError(path, std::string("could not read the shape of dataset `") + name + "`");
      dims.assign(rank, 0);
      if (rank > 0) H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
      // A header can declare any extent: the values must fit in what the file stores (deflate
      // expands at most ~1032x), checked before allocating.
      const double stored = static_cast<double>(H5Dget_storage_size(set.id));
      double count = 1;
      for (const auto d : dims) count *= static_cast<double>(d);
      if (count > 1032.0 * stored + 4096.0) {
        throw ParseError(path, std::string("expected dataset `") + name + "` to hold at most " +
                                   std::to_string(static_cast<int64_t>(1032.0 * stored + 4096.0)) +
                                   " values (it stores " + std::to_string(int64_t(stored)) +
                                   " bytes), got a declared size of " +
                                   std::to_string(static_cast<int64_t>(count)));
      }
      std::vector<double> values(static_cast<size_t>(count));
      const herr_t status =
          values.empty() ? 0 : H5Dread(set.id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
      if (status < 0) {
        throw ParseError(
            path, std::string("could not read dataset `") + name + "` (corrupt or truncated)");
      }
      return values;
    };
    std::vector<hsize_t> data_dims, label_dims;
    const auto data = read("data", H5T_NATIVE_DOUBLE, data_dims);
    const auto labels = read("label", H5T_NATIVE_DOUBLE, label_dims);
    if (data_dims.size() != 3 || data_dims[2] != 3)
      throw ParseError(path, "expected `data` of shape [B, N, 3]");
    if (label_dims.empty() || label_dims[0] != data_dims[0])
      throw ParseError(path, "expected one label per cloud in `label`");
    const int64_t b = data_dims[0], n = data_dims[1];
    const auto pos = torch::tensor(data, torch::kDouble).view({b, n, 3}).to(torch::kFloat);
    if (!torch::isfinite(pos).all().item<bool>())
      throw ParseError(path, "expected finite coordinates in `data`");
    for (int64_t i = 0; i < b; ++i) {
      Sample s;
      s.name = path + "#" + std::to_string(i);
      s.pos = pos[i].clone();
      s.y = torch::tensor(static_cast<int64_t>(labels[i * (labels.size() / b)]), torch::kLong);
      samples.push_back(std::move(s));
    }
  }
  return samples;
}

}  // namespace topo::datasets
