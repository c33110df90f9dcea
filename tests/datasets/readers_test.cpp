// SPDX-License-Identifier: Apache-2.0
// Tensor-level readers on real files in their published formats, and their errors.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <open3d/geometry/PointCloud.h>
#include <open3d/io/PointCloudIO.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "datasets/file_io.h"
#include "datasets/graphs.h"
#include "datasets/molecules.h"
#include "datasets/parsers/text_parsing.h"
#include "datasets/point_clouds.h"
#include "support/tensor_assertions.h"
#include "support/test_data.h"

namespace topo::datasets {
namespace {

namespace fs = std::filesystem;
const std::string kData = std::string(TOPO_TEST_DATA_DIR) + "/datasets/";

fs::path temporary_folder(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("topo_datasets_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Qm9Reader, DirectoryAndTarArchiveAgree) {
  const auto dir = read_qm9(kData + "qm9");
  const auto tar = read_qm9(kData + "qm9.tar.bz2");
  ASSERT_EQ(dir.samples.size(), 4u);
  ASSERT_EQ(tar.samples.size(), 4u);
  EXPECT_EQ(dir.target_names[10], "U0");
  EXPECT_EQ(dir.target_units[10], "Hartree");
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_TRUE(dir.samples[i].pos.equal(tar.samples[i].pos));
    EXPECT_TRUE(dir.samples[i].y.equal(tar.samples[i].y));
  }
  EXPECT_TRUE(dir.samples[0].z.equal(torch::tensor({6, 1, 1, 1, 1})));
  EXPECT_DOUBLE_EQ(dir.samples[0].y[10].item<double>(), -40.47893);
  EXPECT_THROW_WITH(read_qm9(kData + "no_such_folder"), "no_such_folder");
}

TEST(ExtendedXyzReader, EnergiesForcesAndUnits) {
  const auto md = read_extended_xyz(kData + "ethanol_head.extxyz", {"energy"}, "eV", "eV/Angstrom");
  ASSERT_EQ(md.samples.size(), 20u);
  EXPECT_EQ(md.samples[0].forces.sizes(), (std::vector<int64_t>{9, 3}));
  EXPECT_DOUBLE_EQ(md.samples[0].y[0].item<double>(), -309.98849965);
  EXPECT_EQ(md.force_unit, "eV/Angstrom");
  EXPECT_THROW_WITH(read_extended_xyz(kData + "qm7b_head.xyz", {"energy"}), "`energy` in frame 1");
  const auto qm7b = read_extended_xyz(kData + "qm7b_head.xyz", {"dft_formation_energy_per_atom_in_eV"}, "eV/atom");
  EXPECT_EQ(qm7b.samples.size(), 30u);
}

TEST(Md17Reader, NpzMatchesTheExtendedXyzFrames) {
  const auto npz = read_md17_npz(kData + "ethanol_md17.npz");
  const auto xyz = read_extended_xyz(kData + "ethanol_head.extxyz", {"energy"});
  ASSERT_EQ(npz.samples.size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_TRUE(npz.samples[i].z.equal(xyz.samples[i].z));
    EXPECT_TENSOR_CLOSE(npz.samples[i].pos, xyz.samples[i].pos);
    EXPECT_TENSOR_CLOSE(npz.samples[i].forces, xyz.samples[i].forces);
    EXPECT_DOUBLE_EQ(npz.samples[i].y[0].item<double>(), xyz.samples[i].y[0].item<double>());
  }
  // A truncated archive is an error naming the file.
  const auto dir = temporary_folder("npz");
  const auto bytes = [&] {
    std::ifstream in(kData + "ethanol_md17.npz", std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  std::ofstream(dir / "cut.npz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW_WITH(read_md17_npz((dir / "cut.npz").string()), "cut.npz");
}

TEST(SdfReader, BondsBecomeEdges) {
  const auto set = read_sdf(kData + "cdk2_head.sdf");
  ASSERT_EQ(set.samples.size(), 5u);
  EXPECT_EQ(set.samples[0].edge_index.size(1), 62);  // 31 bonds, both directions
  EXPECT_EQ(set.samples[0].pos.size(0), 30);
}

TEST(MnistReader, DigitsBecomeTwoDimensionalClouds) {
  const auto digits = read_mnist(kData + "mnist_200-images-idx3-ubyte.gz", kData + "mnist_200-labels-idx1-ubyte.gz");
  ASSERT_EQ(digits.size(), 200u);
  EXPECT_EQ(digits[0].pos.size(1), 2);
  EXPECT_GT(digits[0].pos.size(0), 50);
  const auto raw = read_file(kData + "mnist_200-labels-idx1-ubyte.gz");
  EXPECT_EQ(digits[0].y.item<int64_t>(), static_cast<unsigned char>(raw[8]));
  EXPECT_EQ(digits[199].y.item<int64_t>(), static_cast<unsigned char>(raw[8 + 199]));
  EXPECT_GE(digits[0].pos.min().item<float>(), 0.0f);
  EXPECT_LE(digits[0].pos.max().item<float>(), 27.0f);
  EXPECT_GT(digits[0].x.min().item<float>(), 127.0f / 255.0f);
  EXPECT_THROW_WITH(read_mnist(kData + "mnist_200-labels-idx1-ubyte.gz", kData + "mnist_200-labels-idx1-ubyte.gz"),
                    "[N, rows, cols]");
  const auto dir = temporary_folder("mnist");
  std::ofstream(dir / "cut.gz", std::ios::binary) << "\x1f\x8b\x08\x00";
  EXPECT_THROW_WITH(read_mnist((dir / "cut.gz").string(), kData + "mnist_200-labels-idx1-ubyte.gz"), "cut.gz");
}

TEST(PointCloudReader, Open3DFormatsAndTheirFailures) {
  const auto dir = temporary_folder("clouds");
  open3d::geometry::PointCloud cloud;
  const auto mesh = sample_mesh(kData + "meshes/sphere966.off", 100);
  for (int64_t i = 0; i < 100; ++i) {
    cloud.points_.emplace_back(mesh.pos[i][0].item<double>(), mesh.pos[i][1].item<double>(), mesh.pos[i][2].item<double>());
  }
  for (const auto* ext : {".ply", ".pcd", ".xyz"}) {
    const auto path = (dir / (std::string("cloud") + ext)).string();
    ASSERT_TRUE(open3d::io::WritePointCloud(path, cloud));
    const auto back = read_point_cloud(path);
    EXPECT_TENSOR_CLOSE(back.pos, mesh.pos, {1e-5, 1e-5});
  }
  // Truncated PLY: Open3D returns false with partial data; an XYZ file with a garbage line is
  // read "successfully" by Open3D up to that line. Both must be errors here.
  std::ifstream in((dir / "cloud.ply").string(), std::ios::binary);
  const std::string ply((std::istreambuf_iterator<char>(in)), {});
  std::ofstream((dir / "cut.ply").string(), std::ios::binary) << ply.substr(0, ply.size() / 2);
  EXPECT_THROW_WITH(read_point_cloud((dir / "cut.ply").string()), "cut.ply");
  std::ofstream((dir / "bad.xyz").string()) << "0 0 0\n1 1 1\n2 x 2\n3 3 3\n";
  EXPECT_THROW_WITH(read_point_cloud((dir / "bad.xyz").string()), "bad.xyz:3");
  EXPECT_THROW_WITH(read_point_cloud((dir / "missing.ply").string()), "missing.ply");
}

TEST(ModelNetReader, PublishedLayoutSamplingAndCache) {
  const auto root = temporary_folder("modelnet");
  // Two classes in ModelNet's layout; one mesh rewritten with the fused `OFF<v> <f> <e>` header.
  for (const auto& [cls, meshes] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"sphere", {"sphere966.off"}}, {"cube", {"cube-meshed.off", "eight.off"}}}) {
    for (const auto* split : {"train", "test"}) {
      fs::create_directories(root / cls / split);
      for (const auto& m : meshes) fs::copy_file(kData + "meshes/" + m, root / cls / split / m);
    }
  }
  {
    std::ifstream in(kData + "meshes/eight.off");
    std::string header, counts, rest;
    std::getline(in, header);
    std::getline(in, counts);
    std::ostringstream tail;
    tail << in.rdbuf();
    std::ofstream(root / "cube" / "train" / "eight.off") << "OFF" << counts << "\n" << tail.str();
  }
  ModelNetOptions options;
  options.root = root.string();
  options.num_points = 256;
  options.cache_dir = (temporary_folder("modelnet_cache") / "cache").string();
  const auto first = read_modelnet(options);
  EXPECT_EQ(first.class_names, (std::vector<std::string>{"cube", "sphere"}));
  ASSERT_EQ(first.samples.size(), 3u);
  EXPECT_EQ(first.samples[0].pos.sizes(), (std::vector<int64_t>{256, 3}));
  EXPECT_EQ(first.samples[2].y.item<int64_t>(), 1);
  // Points lie on the sphere's surface: all at about the same distance from its centre.
  const auto on_sphere = first.samples[2].pos;
  const auto radius = (on_sphere - on_sphere.mean(0, true)).norm(2, 1);
  EXPECT_LT((radius.max() / radius.min()).item<float>(), 1.1f);
  // The second read comes from the cache and is identical; a new seed samples anew.
  const auto cached = read_modelnet(options);
  EXPECT_TRUE(cached.samples[1].pos.equal(first.samples[1].pos));
  options.seed = 1;
  EXPECT_FALSE(read_modelnet(options).samples[1].pos.equal(first.samples[1].pos));
  fs::remove_all(root / "sphere" / "test");
  options.split = "test";
  EXPECT_THROW_WITH(read_modelnet(options), "missing class folder");
}

TEST(ModelNetH5Reader, ReadsTheHdf5Release) {
  const auto dir = temporary_folder("h5");
  const auto path = (dir / "ply_data_train0.h5").string();
  // Write two real sampled clouds in the release's layout: data [B, N, 3] f32, label [B, 1] u8.
  const auto a = sample_mesh(kData + "meshes/sphere966.off", 64), b = sample_mesh(kData + "meshes/eight.off", 64);
  const auto data = torch::stack({a.pos, b.pos}).contiguous();
  const uint8_t labels[2] = {7, 3};
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t data_dims[3] = {2, 64, 3}, label_dims[2] = {2, 1};
  const hid_t s1 = H5Screate_simple(3, data_dims, nullptr), s2 = H5Screate_simple(2, label_dims, nullptr);
  const hid_t d1 = H5Dcreate2(file, "data", H5T_IEEE_F32LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t d2 = H5Dcreate2(file, "label", H5T_STD_U8LE, s2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d1, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data_ptr<float>());
  H5Dwrite(d2, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels);
  H5Dclose(d1); H5Dclose(d2); H5Sclose(s1); H5Sclose(s2); H5Fclose(file);
  const auto samples = read_modelnet_h5({path});
  ASSERT_EQ(samples.size(), 2u);
  EXPECT_TRUE(samples[1].pos.equal(b.pos));
  EXPECT_EQ(samples[0].y.item<int64_t>(), 7);
  std::ofstream((dir / "broken.h5").string()) << "not hdf5";
  EXPECT_THROW_WITH(read_modelnet_h5({(dir / "broken.h5").string()}), "broken.h5");
}

TEST(GraphReaders, MutagAndCora) {
  const auto mutag = read_tu_dataset(kData + "MUTAG", "MUTAG");
  ASSERT_EQ(mutag.samples.size(), 188u);
  EXPECT_EQ(mutag.num_classes, 2);
  EXPECT_EQ(mutag.samples[0].x.size(1), 7);  // 7 atom types
  EXPECT_EQ(mutag.samples[0].edge_attr.size(1), 4);
  EXPECT_LT(mutag.samples[0].edge_index.max().item<int64_t>(), mutag.samples[0].x.size(0));
  const auto cora = read_citation_graph(kData + "cora/cora.content.regenerated_from_npz.gz", kData + "cora/cora.cites");
  EXPECT_EQ(cora.samples[0].x.sizes(), (std::vector<int64_t>{2708, 1433}));
  EXPECT_EQ(cora.num_classes, 7);
  EXPECT_EQ(cora.samples[0].edge_index.size(1), 5429);
  EXPECT_THROW_WITH(read_tu_dataset(kData + "MUTAG", "ENZYMES"), "ENZYMES_A.txt");
  // A fixed node-label vocabulary (a trained model's) keeps the one-hot columns stable.
  EXPECT_EQ(mutag.node_label_values, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  const auto wider = read_tu_dataset(kData + "MUTAG", "MUTAG", {0, 1, 2, 3, 4, 5, 6, 9});
  EXPECT_EQ(wider.samples[5].x.size(1), 8);
  EXPECT_TRUE(wider.samples[5].x.narrow(1, 0, 7).equal(mutag.samples[5].x));
  EXPECT_EQ(wider.samples[5].x.narrow(1, 7, 1).abs().sum().item<float>(), 0.0f);
  EXPECT_THROW_WITH(read_tu_dataset(kData + "MUTAG", "MUTAG", {0, 1}), "MUTAG_node_labels.txt:");
  EXPECT_THROW_WITH(read_tu_dataset(kData + "MUTAG", "MUTAG", {0, 1}), "is not one of the expected labels {0, 1}");
}

}  // namespace
}  // namespace topo::datasets
