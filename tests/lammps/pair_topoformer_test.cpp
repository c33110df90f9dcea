// SPDX-License-Identifier: Apache-2.0
// pair_style topoformer inside Debian's LAMMPS (through its library interface) against the same
// run folder called directly (app::Potential): energy, forces and the virial (LAMMPS's pressure
// tensor) in orthogonal, triclinic, mixed and open boxes; element types; NVE energy
// conservation. Errors end the process in this LAMMPS (built without exceptions), so they are
// tested through topoformer-lammps (tests/CMakeLists.txt).
#include "lammps/pair_topoformer.h"

#include <gtest/gtest.h>
#include <lammps/library.h>
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "app/potential.h"

namespace topo::lammps {
namespace {

// LAMMPS's `units metal` pressure unit: bar per eV/Å³ (force->nktv2p).
constexpr double kBarPerEvPerCubicAngstrom = 1.6021765e6;

std::string run_dir() {
  const char* dir = std::getenv("TOPO_PERIODIC_RUN");
  return dir ? dir : "";
}

/// One LAMMPS instance (no log, no screen) with pair_style topoformer registered.
class Lammps {
 public:
  Lammps() {
    std::vector<const char*> args = {"lammps", "-log", "none", "-screen", "none", "-nocite"};
    handle_ =
        lammps_open_no_mpi(static_cast<int>(args.size()), const_cast<char**>(args.data()), nullptr);
    topoformer_lammps_register(handle_);
  }
  ~Lammps() { lammps_close(handle_); }
  Lammps(const Lammps&) = delete;
  Lammps& operator=(const Lammps&) = delete;

  void operator()(const std::string& commands) {
    lammps_commands_string(handle_, commands.c_str());
  }
  double thermo(const char* keyword) { return lammps_get_thermo(handle_, keyword); }
  void* handle() { return handle_; }
  int natoms() { return static_cast<int>(lammps_get_natoms(handle_)); }
  /// Per-atom `name` ("x", "f", "v") of the local atoms, sorted by atom ID, as [N, 3].
  torch::Tensor per_atom(const char* name) {
    const int n = *static_cast<int*>(lammps_extract_global(handle_, "nlocal"));
    auto** data = static_cast<double**>(lammps_extract_atom(handle_, name));
    auto out = torch::from_blob(data[0], {n, 3}, torch::kDouble).clone();
    auto* ids = static_cast<int*>(lammps_extract_atom(handle_, "id"));
    auto order = torch::from_blob(ids, {n}, torch::kInt).to(torch::kLong).argsort();
    return out.index_select(0, order);
  }
  torch::Tensor types() {
    const int n = *static_cast<int*>(lammps_extract_global(handle_, "nlocal"));
    auto* type = static_cast<int*>(lammps_extract_atom(handle_, "type"));
    auto* ids = static_cast<int*>(lammps_extract_atom(handle_, "id"));
    auto order = torch::from_blob(ids, {n}, torch::kInt).to(torch::kLong).argsort();
    return torch::from_blob(type, {n}, torch::kInt).to(torch::kLong).index_select(0, order);
  }
  /// The box as a cell (rows a, b, c) and its periodic flags.
  std::pair<torch::Tensor, torch::Tensor> box() {
    double lo[3], hi[3], xy, yz, xz;
    int periodicity[3], changes;
    lammps_extract_box(handle_, lo, hi, &xy, &yz, &xz, periodicity, &changes);
    auto cell =
        torch::tensor({hi[0] - lo[0], 0.0, 0.0, xy, hi[1] - lo[1], 0.0, xz, yz, hi[2] - lo[2]},
                      torch::kDouble)
            .view({3, 3});
    auto pbc = torch::tensor({periodicity[0] != 0, periodicity[1] != 0, periodicity[2] != 0});
    return {cell, pbc};
  }

 private:
  void* handle_ = nullptr;
};

/// Copper (the element of the test run): an fcc crystal in `region`, displaced off the lattice.
void copper(Lammps& lmp, const std::string& boundary, const std::string& region,
            const std::string& pair_coeff = "Cu") {
  lmp("units metal\nboundary " + boundary + "\natom_style atomic\nlattice fcc 3.61\n" + region +
      "\ncreate_box " + (pair_coeff == "Cu" ? "1" : "2") +
      " box\ncreate_atoms 1 box\nmass * 63.546\n"
      "displace_atoms all random 0.15 0.15 0.15 4242\n"
      "pair_style topoformer " +
      run_dir() + "\npair_coeff * * " + pair_coeff +
      "\nthermo_style custom step pe ke etotal pxx pyy pzz pxy pxz pyz\nrun 0");
}

class PairTopoformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // ctest sets it to the run the cli_periodic fixture trains.
    if (run_dir().empty()) GTEST_FAIL() << "TOPO_PERIODIC_RUN (a trained copper run) is not set";
    potential_ = std::make_unique<app::Potential>(run_dir());
  }

  /// Energy, forces and pressure tensor from LAMMPS equal the model's for the same atoms.
  void expect_matches_potential(Lammps& lmp) {
    auto pos = lmp.per_atom("x");
    auto [cell, pbc] = lmp.box();
    const bool periodic = pbc.any().item<bool>();
    auto z = torch::full({pos.size(0)}, 29, torch::kLong);
    auto out = periodic ? potential_->compute(z, pos, cell, pbc, /*stress=*/true)
                        : potential_->compute(z, pos);
    EXPECT_NEAR(lmp.thermo("pe"), out.energy, 1e-9 * std::abs(out.energy));
    auto forces = lmp.per_atom("f");
    EXPECT_TRUE(torch::allclose(forces, out.forces, 1e-9, 1e-10))
        << (forces - out.forces).abs().max().item<double>();
    EXPECT_GT(out.forces.abs().max().item<double>(), 1e-3) << "displaced atoms feel forces";
    // Pressure tensor without kinetic part (no velocities): W / V in bar, W = −V σ (periodic)
    // or Σ r ⊗ f (open).
    torch::Tensor expected;
    const double volume = cell.det().item<double>();
    if (periodic) {
      expected = -out.stress * kBarPerEvPerCubicAngstrom;
    } else {
      expected = pos.t().mm(out.forces) / volume * kBarPerEvPerCubicAngstrom;
    }
    const char* keys[6] = {"pxx", "pyy", "pzz", "pxy", "pxz", "pyz"};
    const int rows[6] = {0, 1, 2, 0, 0, 1}, cols[6] = {0, 1, 2, 1, 2, 2};
    const double scale = expected.abs().max().item<double>();
    EXPECT_GT(scale, 1.0) << "a displaced crystal is under stress (bar)";
    for (int k = 0; k < 6; ++k) {
      EXPECT_NEAR(lmp.thermo(keys[k]), expected[rows[k]][cols[k]].item<double>(), 1e-8 * scale)
          << keys[k];
    }
  }

  std::unique_ptr<app::Potential> potential_;
};

TEST_F(PairTopoformerTest, MatchesTheModelInAnOrthogonalPeriodicBox) {
  Lammps lmp;
  copper(lmp, "p p p", "region box block 0 2 0 2 0 2");
  ASSERT_EQ(lmp.natoms(), 32);
  expect_matches_potential(lmp);
}

TEST_F(PairTopoformerTest, MatchesTheModelInATriclinicBox) {
  Lammps lmp;
  // Tilts of whole lattice constants keep the fcc crystal commensurate with the box.
  copper(lmp, "p p p", "region box prism 0 2 0 2 0 3 1 1 -1");
  ASSERT_EQ(lmp.natoms(), 48);
  auto [cell, pbc] = lmp.box();
  EXPECT_NE(cell[1][0].item<double>(), 0.0);
  expect_matches_potential(lmp);
}

TEST_F(PairTopoformerTest, MatchesTheModelInASlabAndAnOpenCluster) {
  {
    Lammps lmp;
    copper(lmp, "p p s", "region box block 0 2 0 2 0 2");
    expect_matches_potential(lmp);
  }
  Lammps lmp;
  copper(lmp, "s s s", "region box block 0 2 0 2 0 2");
  expect_matches_potential(lmp);
}

TEST_F(PairTopoformerTest, PerAtomEnergiesAreTheModelsAtomTerms) {
  Lammps lmp;
  lmp("units metal\natom_style atomic\nlattice fcc 3.61\nregion box block 0 2 0 2 0 2\n"
      "create_box 1 box\ncreate_atoms 1 box\nmass * 63.546\n"
      "displace_atoms all random 0.15 0.15 0.15 4242\npair_style topoformer " +
      run_dir() +
      "\npair_coeff * * Cu\ncompute e all pe/atom\n"
      "compute total all reduce sum c_e\nthermo_style custom step pe c_total\nrun 0");
  auto pos = lmp.per_atom("x");
  auto [cell, pbc] = lmp.box();
  auto out = potential_->compute(torch::full({pos.size(0)}, 29, torch::kLong), pos, cell, pbc);
  auto* total = static_cast<double*>(
      lammps_extract_compute(lmp.handle(), "total", LMP_STYLE_GLOBAL, LMP_TYPE_SCALAR));
  ASSERT_NE(total, nullptr);
  EXPECT_NEAR(*total, out.energy, 1e-9 * std::abs(out.energy));
  EXPECT_NEAR(out.atom_energies.sum().item<double>(), out.energy, 1e-9 * std::abs(out.energy));
  auto* e = static_cast<double*>(
      lammps_extract_compute(lmp.handle(), "e", LMP_STYLE_ATOM, LMP_TYPE_VECTOR));
  ASSERT_NE(e, nullptr);
  auto* ids = static_cast<int*>(lammps_extract_atom(lmp.handle(), "id"));
  for (int i = 0; i < lmp.natoms(); ++i) {
    EXPECT_NEAR(e[i], out.atom_energies[ids[i] - 1].item<double>(), 1e-10) << "atom ID " << ids[i];
  }
  EXPECT_GT(out.atom_energies.std().item<double>(), 1e-6) << "displaced atoms differ";
}

/// LAMMPS's potential energy after `change_box all <change> remap units box` (then undone).
double energy_after(Lammps& lmp, const std::string& change, const std::string& undo) {
  lmp("change_box all " + change + " remap units box\nrun 0");
  const double energy = lmp.thermo("pe");
  lmp("change_box all " + undo + " remap units box\nrun 0");
  return energy;
}

std::string number(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", x);
  return text;
}

// Free of the stress conventions the other tests share with the pair style: the pressure
// LAMMPS reports is the strain derivative of the energy LAMMPS reports, by central differences
// of an affine stretch (pxx) and a shear of the box (pxy).
TEST_F(PairTopoformerTest, PressureIsTheStrainDerivativeOfTheEnergy) {
  Lammps lmp;
  copper(lmp, "p p p", "region box prism 0 2 0 2 0 2 0 0 0");  // triclinic: the box can shear
  const double pxx = lmp.thermo("pxx"), pxy = lmp.thermo("pxy");
  auto [cell, pbc] = lmp.box();
  const double volume = cell.det().item<double>(), ly = cell[1][1].item<double>();
  ASSERT_GT(std::abs(pxy), 1.0) << "a displaced crystal has shear stress (bar)";
  const double h = 1e-5;
  const double stretch =
      (energy_after(lmp, "x scale " + number(1 + h), "x scale " + number(1 / (1 + h))) -
       energy_after(lmp, "x scale " + number(1 - h), "x scale " + number(1 / (1 - h)))) /
      (2 * h);
  EXPECT_NEAR(stretch, -pxx * volume / kBarPerEvPerCubicAngstrom, 1e-6 * std::abs(stretch) + 1e-9);
  const double d = 1e-5 * ly;
  const double shear = (energy_after(lmp, "xy delta " + number(d), "xy delta " + number(-d)) -
                        energy_after(lmp, "xy delta " + number(-d), "xy delta " + number(d))) /
                       (2 * d);
  EXPECT_NEAR(shear, -pxy * volume / (kBarPerEvPerCubicAngstrom * ly),
              1e-6 * std::abs(shear) + 1e-9);
}

TEST_F(PairTopoformerTest, TwoTypesOfOneElementAreOneType) {
  Lammps one;
  copper(one, "p p p", "region box block 0 2 0 2 0 2");
  Lammps two;
  copper(two, "p p p", "region box block 0 2 0 2 0 2", "Cu Cu");
  two("group upper id > 16\nset group upper type 2\nrun 0");
  EXPECT_EQ(two.types().eq(2).sum().item<int64_t>(), 16);
  EXPECT_NEAR(two.thermo("pe"), one.thermo("pe"), 1e-10 * std::abs(one.thermo("pe")));
  EXPECT_TRUE(torch::allclose(two.per_atom("f"), one.per_atom("f"), 1e-10, 1e-12));
}

TEST_F(PairTopoformerTest, NveConservesTheTotalEnergy) {
  Lammps lmp;
  copper(lmp, "p p p", "region box block 0 2 0 2 0 2");
  const auto start = lmp.per_atom("x");
  lmp("velocity all create 600 87287 mom yes rot no\nfix md all nve\ntimestep 0.0005\nrun 0");
  const double e0 = lmp.thermo("etotal"), ke0 = lmp.thermo("ke");
  double largest = 0;
  for (int block = 0; block < 10; ++block) {
    lmp("run 40");
    largest = std::max(largest, std::abs(lmp.thermo("etotal") - e0));
  }
  const int n = lmp.natoms();
  // 400 steps of 0.5 fs: the kinetic energy changes by far more than the total energy.
  EXPECT_GT(std::abs(lmp.thermo("ke") - ke0) / n, 1e-3);
  EXPECT_LT(largest / n, 1e-4) << "largest deviation of E_total, eV/atom";
  EXPECT_GT((lmp.per_atom("x") - start).abs().max().item<double>(), 0.01);
}

}  // namespace
}  // namespace topo::lammps
