// SPDX-License-Identifier: Apache-2.0
// Tensor-level readers on real files in their published formats, and their errors.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <open3d/geometry/PointCloud.h>
#include <open3d/io/PointCloudIO.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>

#include "datasets/file_io.h"
#include "datasets/graphs.h"
#include "datasets/molecules.h"
#include "datasets/parsers/molecule_parsers.h"
#include "datasets/parsers/text_parsing.h"
#include "datasets/point_clouds.h"
#include "support/tensor_assertions.h"
#include "support/test_data.h"

namespace topo::datasets {
namespace {

namespace fs = std::filesystem;
const std::string kData = std::string(TOPO_TEST_DATA_DIR) + "/datasets/";

fs::path temporary_folder(const std::string& name) {
  const auto dir =
      fs::temp_directory_path() / ("topo_datasets_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
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
  const auto qm7b = read_extended_xyz(kData + "qm7b_head.xyz",
                                      {"dft_formation_energy_per_atom_in_eV"}, "eV/atom");
  EXPECT_EQ(qm7b.samples.size(), 30u);
}

TEST(ExtendedXyzReader, DefectsNameTheFileTheLineAndTheFrame) {
  const auto defects = kData + "defects/";
  // energy=nan is a bad value, not a missing key.
  EXPECT_THROW_WITH(read_extended_xyz(defects + "nan_energy.extxyz", {"energy"}),
                    "nan_energy.extxyz:13: expected a finite number for the header key `energy` "
                    "in frame 2, got `energy=nan`");
  // Frames with and without forces: the reader names the frame (not collate's batch index).
  EXPECT_THROW_WITH(read_extended_xyz(defects + "mixed_forces.extxyz", {"energy"}),
                    "mixed_forces.extxyz:23: expected a frame with a forces:R:3 column (as frame "
                    "1), got frame 3 without forces");
  // A legal multi-member gzip file (`cat a.gz b.gz`) reads as all its members, as `gzip -dc`.
  const auto plain = read_extended_xyz(kData + "ethanol_head.extxyz", {"energy"});
  const auto two = read_extended_xyz(defects + "two_members.extxyz.gz", {"energy"});
  ASSERT_EQ(two.samples.size(), 20u);
  for (const size_t i : {0, 9, 10, 19}) {
    EXPECT_TRUE(two.samples[i].pos.equal(plain.samples[i].pos)) << "frame " << i;
    EXPECT_TRUE(two.samples[i].forces.equal(plain.samples[i].forces)) << "frame " << i;
    EXPECT_TRUE(two.samples[i].y.equal(plain.samples[i].y)) << "frame " << i;
  }
}

TEST(ExtendedXyzReader, PeriodicFramesAsAseWritesThem) {
  // The first frames of examples/data/cu_emt (ASE 3.22's writer: Lattice=, pbc=, a 9-number
  // stress, forces).
  const auto cu = read_extended_xyz(kData + "cu_emt_head.extxyz", {"energy"});
  ASSERT_EQ(cu.samples.size(), 20u);
  const auto& first = cu.samples[0];
  ASSERT_TRUE(first.cell.defined() && first.pbc.defined() && first.stress.defined());
  EXPECT_EQ(first.cell.sizes(), (std::vector<int64_t>{3, 3}));
  EXPECT_TRUE(first.pbc.equal(torch::tensor({true, true, true})));
  EXPECT_EQ(first.forces.sizes(), (std::vector<int64_t>{32, 3}));
  const auto frames = parse_extended_xyz(read_file(kData + "cu_emt_head.extxyz"), "cu");
  const auto lattice = split_fields(frames[0].text.at("Lattice"));
  const auto stress = split_fields(frames[0].text.at("stress"));
  for (int64_t k = 0; k < 9; ++k) {
    EXPECT_FLOAT_EQ(first.cell.view({9})[k].item<float>(),
                    static_cast<float>(std::stod(std::string(lattice[k]))));
    EXPECT_FLOAT_EQ(first.stress.view({9})[k].item<float>(),
                    static_cast<float>(std::stod(std::string(stress[k]))));
  }
  // Voigt stress, a virial, open axes, and their defects, in hand-written frames.
  const auto dir = temporary_folder("periodic_extxyz");
  const auto write = [&](const std::string& name, const std::string& header) {
    const auto path = (dir / name).string();
    std::ofstream(path) << "2\n" << header << "\nCu 0 0 0\nCu 1.8 1.8 0\n";
    return path;
  };
  const std::string lattice_text = "Lattice=\"3.6 0 0 0 3.6 0 0 0 4\" ";
  const auto voigt = read_extended_xyz(
      write("voigt.extxyz", lattice_text + "pbc=\"T T F\" energy=1 stress=\"1 2 3 4 5 6\""),
      {"energy"});
  EXPECT_TRUE(voigt.samples[0].pbc.equal(torch::tensor({true, true, false})));
  EXPECT_TRUE(voigt.samples[0].stress.equal(
      torch::tensor({{1.0f, 6.0f, 5.0f}, {6.0f, 2.0f, 4.0f}, {5.0f, 4.0f, 3.0f}})));
  const auto virial = read_extended_xyz(
      write("virial.extxyz", lattice_text + "REF_energy=1 virial=\"51.84 0 0 0 0 0 0 0 0\""),
      {"REF_energy"});
  EXPECT_NEAR(virial.samples[0].stress[0][0].item<float>(), -51.84 / (3.6 * 3.6 * 4), 1e-6);
  EXPECT_TRUE(virial.samples[0].pbc.all().item<bool>());  // ASE: a Lattice means periodic
  const auto named =
      read_extended_xyz(write("named.extxyz", lattice_text + "E=1 REF_stress=\"1 2 3 4 5 6\""),
                        {"E"}, "", "", "forces", "REF_stress");
  EXPECT_EQ(named.samples[0].stress[0][1].item<float>(), 6.0f);
  EXPECT_THROW_WITH(
      read_extended_xyz(write("no_lattice.extxyz", "energy=1 stress=\"1 2 3 4 5 6\""), {"energy"}),
      "no_lattice.extxyz:2: expected a Lattice= next to stress=");
  EXPECT_THROW_WITH(
      read_extended_xyz(write("open_pbc.extxyz", "energy=1 pbc=\"T F F\""), {"energy"}),
      "open_pbc.extxyz:2: expected a Lattice= next to a periodic pbc=");
  EXPECT_FALSE(read_extended_xyz(write("open.extxyz", "energy=1 pbc=\"F F F\""), {"energy"})
                   .samples[0]
                   .cell.defined());
  EXPECT_THROW_WITH(
      read_extended_xyz(write("short.extxyz", "Lattice=\"3.6 0 0 0 3.6 0 0 0\" energy=1"),
                        {"energy"}),
      "short.extxyz:2: expected Lattice= with 9 numbers (a1 a2 a3, row by row), got 8 numbers");
  EXPECT_THROW_WITH(
      read_extended_xyz(write("pbc.extxyz", lattice_text + "pbc=\"T yes F\" energy=1"), {"energy"}),
      "pbc.extxyz:2: expected pbc=\"T T T\"");
  EXPECT_THROW_WITH(
      read_extended_xyz(write("stress7.extxyz", lattice_text + "energy=1 stress=\"1 2 3 4 5 6 7\""),
                        {"energy"}),
      "got 7 numbers");
  // Keys of other codes: REF_forces as the forces column.
  const auto ref = (dir / "ref.extxyz").string();
  std::ofstream(ref) << "1\nProperties=species:S:1:pos:R:3:REF_forces:R:3 REF_energy=2\n"
                     << "Cu 0 0 0 0.5 -1 2\n";
  const auto keyed = read_extended_xyz(ref, {"REF_energy"}, "", "", "REF_forces");
  EXPECT_TRUE(keyed.samples[0].forces.equal(torch::tensor({{0.5f, -1.0f, 2.0f}})));
  EXPECT_FALSE(read_extended_xyz(ref, {"REF_energy"}).samples[0].forces.defined());
  // A singular lattice with periodic axes is refused by file and line.
  EXPECT_THROW_WITH(
      read_extended_xyz(write("flat.extxyz", "Lattice=\"3.6 0 0 0 3.6 0 0 0 0\" energy=1"),
                        {"energy"}),
      "flat.extxyz:2: expected a Lattice= of three independent vectors");
  // Cells must be in every frame or in none.
  const auto mixed = (dir / "mixed.extxyz").string();
  std::ofstream(mixed) << "1\n" << lattice_text << "energy=1\nCu 0 0 0\n1\nenergy=2\nCu 0 0 0\n";
  EXPECT_THROW_WITH(
      read_extended_xyz(mixed, {"energy"}),
      "expected a frame with a Lattice= (as frame 1), got frame 2 without a Lattice=");
}

TEST(ExtendedXyzWriter, PeriodicFramesRoundTrip) {
  const auto cu = read_extended_xyz(kData + "cu_emt_head.extxyz", {"energy"});
  const auto dir = temporary_folder("write_periodic_extxyz");
  const auto path = (dir / "cu.extxyz").string();
  std::vector<Sample> frames(cu.samples.begin(), cu.samples.begin() + 2);
  frames[1].pbc = torch::tensor({true, false, true});
  const auto stresses = torch::stack({cu.samples[0].stress, cu.samples[1].stress});
  const auto forces = torch::stack({cu.samples[0].forces, cu.samples[1].forces});
  write_extended_xyz(path, frames, torch::tensor({1.5, -2.0}), forces, "energy", stresses);
  const auto back = read_extended_xyz(path, {"energy"});
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(back.samples[i].cell.equal(frames[i].cell));
    EXPECT_TRUE(back.samples[i].stress.equal(frames[i].stress));
    EXPECT_TRUE(back.samples[i].pos.equal(frames[i].pos));
  }
  EXPECT_TRUE(back.samples[1].pbc.equal(torch::tensor({true, false, true})));
  std::vector<Sample> open = {
      read_extended_xyz(kData + "ethanol_head.extxyz", {"energy"}).samples[0]};
  EXPECT_THROW_WITH(
      write_extended_xyz(path, open, torch::tensor({1.0}), {}, "energy", torch::zeros({1, 3, 3})),
      "a stress needs a periodic cell");
}

TEST(FileIo, DirectoriesDamagedArchivesAndAFullDisk) {
  const auto dir = temporary_folder("file_io");
  // A directory where a file is expected is named as such (it used to read as 0 bytes).
  EXPECT_THROW_WITH(read_file(dir.string()), ": expected a file, got a directory");
  EXPECT_THROW_WITH(read_extended_xyz(dir.string(), {"energy"}),
                    "expected a file, got a directory");
  EXPECT_THROW_WITH(read_point_cloud(dir.string()), "expected a file, got a directory");
  EXPECT_THROW_WITH(read_md17_npz(dir.string()), "expected a file, got a directory");
  EXPECT_THROW_WITH(read_file((dir / "missing.xyz").string()), "missing.xyz: no such file");
  // A gzip member cut short is named.
  std::string gz = read_file_bytes(kData + "defects/two_members.extxyz.gz");
  std::ofstream(dir / "cut.extxyz.gz", std::ios::binary) << gz.substr(0, gz.size() - 100);
  EXPECT_THROW_WITH(read_file((dir / "cut.extxyz.gz").string()),
                    "cut.extxyz.gz: expected the end of gzip member 2, got the end of the file");
  // One flipped bit inside an .npz member fails its CRC-32 and names the member.
  std::string npz = read_file_bytes(kData + "ethanol_md17.npz");
  // Inside the first member's data: after its local header (30 bytes, name, extra field).
  const auto u16 = [&](size_t at) {
    return static_cast<size_t>(static_cast<unsigned char>(npz[at])) |
           static_cast<size_t>(static_cast<unsigned char>(npz[at + 1])) << 8;
  };
  ASSERT_EQ(npz.compare(0, 4, "PK\x03\x04"), 0);
  npz[30 + u16(26) + u16(28) + 3] ^= 0x01;
  std::ofstream(dir / "flipped.npz", std::ios::binary) << npz;
  EXPECT_THROW_WITH(read_md17_npz((dir / "flipped.npz").string()), "flipped.npz:");
  EXPECT_THROW_WITH(read_md17_npz((dir / "flipped.npz").string()), "damaged one (CRC error)");
  // Zero padding after the last gzip member is ignored (as gzip -dc does); other data is not.
  std::ofstream(dir / "padded.extxyz.gz", std::ios::binary) << gz << std::string(512, '\0');
  EXPECT_EQ(read_file((dir / "padded.extxyz.gz").string()),
            read_file(kData + "defects/two_members.extxyz.gz"));
  std::ofstream(dir / "junk.extxyz.gz", std::ios::binary) << gz << "junk";
  EXPECT_THROW_WITH(read_file((dir / "junk.extxyz.gz").string()),
                    "expected another gzip member or the end of the file after member 2, got 4 "
                    "bytes of other data");
  EXPECT_NO_THROW(verify_zip_archive(kData + "ethanol_md17.npz"));
  // Disk full (here: the file size limit) keeps the previous file and leaves no temporary.
  const auto target = (dir / "checkpoint.pt").string();
  write_file_atomically(target, "previous");
  rlimit old_limit{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 4096;
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of the signal
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    write_file_atomically(target, std::string(1 << 20, 'x'));
  } catch (const std::exception& e) {
    message = e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(message.find("checkpoint.pt: writing 1048576 bytes failed"), std::string::npos)
      << message;
  EXPECT_EQ(read_file(target), "previous");
  std::vector<std::string> left;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (name.find(".tmp") != std::string::npos) left.push_back(name);
  }
  EXPECT_TRUE(left.empty()) << "left over: " << left.front();
}

TEST(ExtendedXyzWriter, RoundTripsThroughTheReader) {
  const auto dir = temporary_folder("write_extxyz");
  const auto path = (dir / "frames.extxyz").string();
  // Three molecules of different sizes: two real ones (an ethanol MD frame, a QM7b molecule)
  // and one with doubles that need all 17 digits.
  const auto ethanol = read_extended_xyz(kData + "ethanol_head.extxyz", {"energy"});
  const auto qm7b =
      read_extended_xyz(kData + "qm7b_head.xyz", {"dft_formation_energy_per_atom_in_eV"});
  std::vector<Sample> molecules(3);
  molecules[0].z = ethanol.samples[3].z;
  molecules[0].pos = ethanol.samples[3].pos.to(torch::kDouble);
  molecules[1].z = qm7b.samples[7].z;
  molecules[1].pos = qm7b.samples[7].pos.to(torch::kDouble);
  molecules[2].z = torch::tensor({8, 1}, torch::kLong);
  molecules[2].pos = torch::tensor(
      {{1.0 / 3.0, -2.0 / 7.0, 1e-300}, {0.1, 123456.789012345678, -0.0}}, torch::kDouble);
  const int64_t max_atoms = std::max({molecules[0].z.size(0), molecules[1].z.size(0), int64_t{2}});
  torch::manual_seed(0);
  auto forces = torch::randn({3, max_atoms, 3}, torch::kDouble) / 3.0;
  const auto energies =
      torch::tensor({ethanol.samples[3].y[0].item<double>(), -1.0 / 3.0, 1e-7}, torch::kDouble);
  write_extended_xyz(path, molecules, energies, forces);

  const auto back = read_extended_xyz(path, {"energy"});
  ASSERT_EQ(back.samples.size(), 3u);
  const auto frames =
      parse_extended_xyz(read_file(path), path);  // doubles, before the reader's float32
  for (size_t i = 0; i < 3; ++i) {
    const int64_t n = molecules[i].z.size(0);
    EXPECT_TRUE(back.samples[i].z.equal(molecules[i].z));
    EXPECT_DOUBLE_EQ(back.samples[i].y[0].item<double>(), energies[i].item<double>());
    EXPECT_NEAR(frames[i].properties.at("energy"), energies[i].item<double>(), 1e-12);
    EXPECT_TRUE(back.samples[i].pos.equal(molecules[i].pos.to(torch::kFloat)));
    EXPECT_TRUE(back.samples[i].forces.equal(forces[i].narrow(0, 0, n).to(torch::kFloat)));
    const auto pos = torch::tensor(frames[i].positions, torch::kDouble).view({n, 3});
    const auto f = torch::tensor(frames[i].atom_arrays.at("forces"), torch::kDouble).view({n, 3});
    EXPECT_LE((pos - molecules[i].pos).abs().max().item<double>(), 1e-12);
    EXPECT_LE((f - forces[i].narrow(0, 0, n)).abs().max().item<double>(), 1e-12);
  }
  EXPECT_EQ(frames[2].positions[2], 1e-300);  // 17 significant digits: exact
  EXPECT_EQ(frames[2].positions[4], 123456.789012345678);

  // Without forces, under another key; the file is replaced atomically (no temporary left).
  write_extended_xyz(path, {molecules[2]}, torch::tensor({-40.47893}, torch::kDouble), {}, "U0");
  const auto plain = read_extended_xyz(path, {"U0"});
  ASSERT_EQ(plain.samples.size(), 1u);
  EXPECT_FALSE(plain.samples[0].forces.defined());
  EXPECT_EQ(plain.samples[0].y[0].item<double>(), -40.47893);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1);
  {
    std::ifstream in(path);
    std::string count, header;
    std::getline(in, count);
    std::getline(in, header);
    EXPECT_EQ(count, "2");
    EXPECT_EQ(header.rfind("Properties=species:S:1:pos:R:3 U0=", 0), 0u) << header;
  }

  // Bad arguments: c10::ValueError naming the path, the argument, the expected and the actual.
  EXPECT_THROW(write_extended_xyz(path, molecules, torch::zeros({2})), c10::ValueError);
  EXPECT_THROW_WITH(write_extended_xyz(path, molecules, torch::zeros({2})), "frames.extxyz");
  EXPECT_THROW_WITH(write_extended_xyz(path, molecules, torch::zeros({2})),
                    "`energies` must be a real tensor [M=3]");
  EXPECT_THROW_WITH(write_extended_xyz(path, molecules, torch::zeros({2})), "got shape [2]");
  EXPECT_THROW_WITH(write_extended_xyz(path, molecules, energies, torch::zeros({3, 9})),
                    "[M=3, max_atoms, 3]");
  EXPECT_THROW_WITH(write_extended_xyz(path, molecules, energies, torch::zeros({3, 2, 3})),
                    "expected at least " + std::to_string(molecules[0].z.size(0)) + " (molecule 0");
  EXPECT_THROW_WITH(write_extended_xyz(path, {}, torch::zeros({0})), "at least one molecule");
  EXPECT_THROW_WITH(write_extended_xyz(path, molecules, energies, forces, "my energy"),
                    "`energy_key`");
  auto bad = molecules;
  bad[1].pos = bad[1].pos.narrow(0, 0, 2);
  EXPECT_THROW_WITH(write_extended_xyz(path, bad, energies),
                    "molecule 1 (0-based): `pos` must be a real tensor [n=");
  bad = molecules;
  bad[2].z = torch::tensor({8, 0}, torch::kLong);
  EXPECT_THROW_WITH(write_extended_xyz(path, bad, energies),
                    "`z[1]` must be an atomic number in [1, 118], got 0");
  bad = molecules;
  bad[2].pos = bad[2].pos.clone();
  bad[2].pos[1][2] = std::nan("");
  EXPECT_THROW_WITH(write_extended_xyz(path, bad, energies),
                    "molecule 2 (0-based): `pos[1][2]` must be finite");
  bad[2].z = torch::Tensor();
  EXPECT_THROW_WITH(write_extended_xyz(path, bad, energies), "`z` must be an integer tensor [n]");
  // A failed write leaves the previous file untouched.
  EXPECT_EQ(read_extended_xyz(path, {"U0"}).samples.size(), 1u);
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
  // The first record with its last bond line removed: 30 of the 31 declared bonds.
  EXPECT_THROW_WITH(read_sdf(kData + "truncated_bonds.sdf"),
                    "truncated_bonds.sdf:65: expected 31 bond lines (declared by the counts line, "
                    "line 4), got 30: "
                    "the bond block ends with \"M  END\"");
}

TEST(MnistReader, DigitsBecomeTwoDimensionalClouds) {
  const auto digits = read_mnist(kData + "mnist_200-images-idx3-ubyte.gz",
                                 kData + "mnist_200-labels-idx1-ubyte.gz");
  ASSERT_EQ(digits.size(), 200u);
  EXPECT_EQ(digits[0].pos.size(1), 2);
  EXPECT_GT(digits[0].pos.size(0), 50);
  const auto raw = read_file(kData + "mnist_200-labels-idx1-ubyte.gz");
  EXPECT_EQ(digits[0].y.item<int64_t>(), static_cast<unsigned char>(raw[8]));
  EXPECT_EQ(digits[199].y.item<int64_t>(), static_cast<unsigned char>(raw[8 + 199]));
  EXPECT_GE(digits[0].pos.min().item<float>(), 0.0f);
  EXPECT_LE(digits[0].pos.max().item<float>(), 27.0f);
  EXPECT_GT(digits[0].x.min().item<float>(), 127.0f / 255.0f);
  EXPECT_THROW_WITH(read_mnist(kData + "mnist_200-labels-idx1-ubyte.gz",
                               kData + "mnist_200-labels-idx1-ubyte.gz"),
                    "[N, rows, cols]");
  const auto dir = temporary_folder("mnist");
  std::ofstream(dir / "cut.gz", std::ios::binary) << "\x1f\x8b\x08\x00";
  EXPECT_THROW_WITH(read_mnist((dir / "cut.gz").string(), kData + "mnist_200-labels-idx1-ubyte.gz"),
                    "cut.gz");
}

/// A raw (uncompressed) IDX file: magic 0x00 0x00 0x08 (uint8) ndim, big-endian sizes, data.
std::string idx_bytes(const std::vector<uint32_t>& shape, const std::vector<uint8_t>& values) {
  std::string out{'\0', '\0', '\x08', static_cast<char>(shape.size())};
  for (const uint32_t d : shape) {
    for (int b = 3; b >= 0; --b) out += static_cast<char>((d >> (8 * b)) & 0xff);
  }
  out.append(values.begin(), values.end());
  return out;
}

std::string write_idx(const fs::path& dir, const std::string& name,
                      const std::vector<uint32_t>& shape, const std::vector<uint8_t>& values) {
  const auto path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << idx_bytes(shape, values);
  return path;
}

TEST(MnistReader, CentredCoordinatesAndMalformedFiles) {
  const auto dir = temporary_folder("mnist_idx");
  // Two 3 x 5 images (rows x cols), raw IDX: image 0 lights (row 0, col 0) and (row 2, col 4),
  // image 1 lights (row 1, col 2) only.
  std::vector<uint8_t> pixels(2 * 3 * 5, 0);
  pixels[0 * 5 + 0] = 255;
  pixels[2 * 5 + 4] = 200;
  pixels[15 + 1 * 5 + 2] = 128;
  const auto images = write_idx(dir, "images-idx3-ubyte", {2, 3, 5}, pixels);
  const auto labels = write_idx(dir, "labels-idx1-ubyte", {2}, {7, 0});
  const auto plain = read_mnist(images, labels);
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_TRUE(
      plain[0].pos.equal(torch::tensor({{0.0f, 2.0f}, {4.0f, 0.0f}})));  // (col, rows-1-row)
  EXPECT_TRUE(plain[1].pos.equal(torch::tensor({{2.0f, 1.0f}})));
  EXPECT_EQ(plain[0].y.item<int64_t>(), 7);
  // centre: x = (col - 2) / 2 (5 columns), y = (rows-1-row - 1) / 1 (3 rows).
  const auto centred = read_mnist(images, labels, 127, true);
  EXPECT_TRUE(centred[0].pos.equal(torch::tensor({{-1.0f, 1.0f}, {1.0f, -1.0f}})));
  EXPECT_TRUE(centred[1].pos.equal(torch::tensor({{0.0f, 0.0f}})));
  EXPECT_TRUE(centred[0].x.equal(plain[0].x));
  // On 28 x 28 MNIST centring is the (pos - 13.5) / 13.5 callers used to hard-code.
  const auto digits = read_mnist(kData + "mnist_200-images-idx3-ubyte.gz",
                                 kData + "mnist_200-labels-idx1-ubyte.gz");
  const auto digits_centred = read_mnist(kData + "mnist_200-images-idx3-ubyte.gz",
                                         kData + "mnist_200-labels-idx1-ubyte.gz", 127, true);
  EXPECT_TENSOR_CLOSE(digits_centred[5].pos, (digits[5].pos - 13.5f) / 13.5f, {1e-6, 1e-6});
  EXPECT_GE(digits_centred[5].pos.min().item<float>(), -1.0f);
  EXPECT_LE(digits_centred[5].pos.max().item<float>(), 1.0f);
  // A single-pixel axis maps to 0.
  const auto column = write_idx(dir, "column-idx3-ubyte", {1, 3, 1}, {0, 255, 0});
  const auto one = write_idx(dir, "one-idx1-ubyte", {1}, {3});
  EXPECT_TRUE(read_mnist(column, one, 127, true)[0].pos.equal(torch::tensor({{0.0f, 0.0f}})));

  // A blank image: an error naming the file and the image.
  EXPECT_THROW_WITH(read_mnist(images, labels, 200),
                    "images-idx3-ubyte: expected at least one pixel above the threshold 200 in "
                    "image 1 (0-based)");
  // 0 rows or 0 columns in the header.
  const auto no_rows = write_idx(dir, "rows0-idx3-ubyte", {2, 0, 5}, {});
  EXPECT_THROW_WITH(read_mnist(no_rows, labels),
                    "rows0-idx3-ubyte: expected images of at least 1 x 1 pixels in the IDX header, "
                    "got 0 rows x 5 columns");
  const auto no_cols = write_idx(dir, "cols0-idx3-ubyte", {2, 3, 0}, {});
  EXPECT_THROW_WITH(read_mnist(no_cols, labels), "got 3 rows x 0 columns");
  // A label that is not a digit, and a count that differs from the images'.
  const auto big = write_idx(dir, "big-idx1-ubyte", {2}, {7, 10});
  EXPECT_THROW_WITH(
      read_mnist(images, big),
      "big-idx1-ubyte: expected a digit class in [0, 9] for label 1 (0-based), got 10");
  const auto three = write_idx(dir, "three-idx1-ubyte", {3}, {1, 2, 3});
  EXPECT_THROW_WITH(read_mnist(images, three), "three-idx1-ubyte: expected 2 labels");
  EXPECT_THROW_WITH(read_mnist(images, three), "got 3");
}

TEST(PointCloudReader, Open3DFormatsAndTheirFailures) {
  const auto dir = temporary_folder("clouds");
  open3d::geometry::PointCloud cloud;
  const auto mesh = sample_mesh(kData + "meshes/sphere966.off", 100);
  for (int64_t i = 0; i < 100; ++i) {
    cloud.points_.emplace_back(mesh.pos[i][0].item<double>(), mesh.pos[i][1].item<double>(),
                               mesh.pos[i][2].item<double>());
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
  // NaN or infinite coordinates: errors naming the file and the point.
  EXPECT_THROW_WITH(read_point_cloud(kData + "nan_point.ply"),
                    "nan_point.ply: expected finite coordinates");
  EXPECT_THROW_WITH(read_point_cloud(kData + "nan_point.ply"), "at point 3 (0-based) of 5");
  EXPECT_THROW_WITH(read_point_cloud(kData + "inf_point.xyz"),
                    "inf_point.xyz: expected finite coordinates");
  EXPECT_THROW_WITH(read_point_cloud(kData + "inf_point.xyz"), "at point 2 (0-based) of 5");
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
  // A damaged cache is rebuilt from the meshes (it used to fail with a bare
  // `PytorchStreamReader failed ...`).
  for (const auto& entry : fs::directory_iterator(options.cache_dir)) {
    fs::resize_file(entry.path(), fs::file_size(entry.path()) / 2);
  }
  options.seed = 0;
  const auto rebuilt = read_modelnet(options);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(rebuilt.samples[i].pos.equal(first.samples[i].pos));
  // A replaced mesh invalidates the cache: the sphere, now a cube, is sampled anew.
  fs::copy_file(kData + "meshes/cube-meshed.off", root / "sphere" / "train" / "sphere966.off",
                fs::copy_options::overwrite_existing);
  const auto replaced = read_modelnet(options);
  EXPECT_TRUE(replaced.samples[0].pos.equal(first.samples[0].pos));
  EXPECT_FALSE(replaced.samples[2].pos.equal(first.samples[2].pos));
  const auto on_cube = replaced.samples[2].pos;
  const auto spread = (on_cube - on_cube.mean(0, true)).norm(2, 1);
  EXPECT_GT((spread.max() / spread.min()).item<float>(), 1.1f);  // no longer on a sphere
  // Open3D's zero-area exception (ANSI colours, no file name) becomes an error naming the file.
  try {
    sample_mesh(kData + "defects/zero_area.off", 10);
    ADD_FAILURE() << "expected an error";
  } catch (const std::exception& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("zero_area.off: expected a mesh with positive surface area"),
              std::string::npos)
        << message;
    EXPECT_EQ(message.find('\x1b'), std::string::npos) << message;
  }
  fs::remove_all(root / "sphere" / "test");
  options.split = "test";
  EXPECT_THROW_WITH(read_modelnet(options), "missing class folder");
}

TEST(ModelNetH5Reader, ReadsTheHdf5Release) {
  const auto dir = temporary_folder("h5");
  const auto path = (dir / "ply_data_train0.h5").string();
  // Write two real sampled clouds in the release's layout: data [B, N, 3] f32, label [B, 1] u8.
  const auto a = sample_mesh(kData + "meshes/sphere966.off", 64),
             b = sample_mesh(kData + "meshes/eight.off", 64);
  const auto data = torch::stack({a.pos, b.pos}).contiguous();
  const uint8_t labels[2] = {7, 3};
  const hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t data_dims[3] = {2, 64, 3}, label_dims[2] = {2, 1};
  const hid_t s1 = H5Screate_simple(3, data_dims, nullptr),
              s2 = H5Screate_simple(2, label_dims, nullptr);
  const hid_t d1 =
      H5Dcreate2(file, "data", H5T_IEEE_F32LE, s1, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  const hid_t d2 =
      H5Dcreate2(file, "label", H5T_STD_U8LE, s2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d1, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data_ptr<float>());
  H5Dwrite(d2, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels);
  H5Dclose(d1);
  H5Dclose(d2);
  H5Sclose(s1);
  H5Sclose(s2);
  H5Fclose(file);
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
  const auto cora = read_citation_graph(kData + "cora/cora.content.regenerated_from_npz.gz",
                                        kData + "cora/cora.cites");
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
  EXPECT_THROW_WITH(read_tu_dataset(kData + "MUTAG", "MUTAG", {0, 1}),
                    "is not one of the expected labels {0, 1}");
}

}  // namespace
}  // namespace topo::datasets
