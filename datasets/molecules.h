// SPDX-License-Identifier: Apache-2.0
/// \file
/// Molecular datasets as published: QM9 (directory or tar archive of `dsgdb9nsd_*.xyz`),
/// extended XYZ (QM7b, MD17/rMD17-style trajectories), MD17/rMD17 .npz archives and SDF/MOL
/// V2000. Samples carry `z` (atomic numbers), `pos` (Å), `y` (targets) and `forces`.
#pragma once

#include <string>
#include <vector>

#include "datasets/sample.h"

namespace topo::datasets {

struct MoleculeSet {
  std::vector<Sample> samples;
  std::vector<std::string> target_names;  ///< what the columns of `y` are
  std::vector<std::string> target_units;  ///< their units, as in the source
  std::string force_unit;                 ///< unit of `forces` ("" when absent)
};

/// QM9: `y` [15] = A, B, C (GHz), mu (D), alpha (Bohr³), homo, lumo, gap (Ha), r2 (Bohr²),
/// zpve, U0, U, H, G (Ha), Cv (cal/mol/K); `x` [N, 1] Mulliken charges (e). `path` is a
/// directory of .xyz files or a .tar/.tar.bz2/.tar.gz archive; molecules sorted by name.
MoleculeSet read_qm9(const std::string& path);

/// Every frame of an extended XYZ file. `y` [T] holds the numeric header keys listed in
/// `target_keys` (all must be present in every frame, e.g. `energy` or `REF_energy`); the
/// per-atom column `forces_key` (3 reals, e.g. `REF_forces`) becomes `forces`. Periodic frames
/// as ASE writes them: `Lattice="a1x a1y a1z a2x … a3z"` becomes `cell` [3, 3], `pbc="T T F"`
/// `pbc` [3] (all periodic when absent), and the header key `stress_key` (9 numbers, or 6 in
/// Voigt order xx yy zz yz xz xy) `stress` [3, 3], or else `virial` (9 numbers) the stress
/// −virial / V. Forces, cells and stresses must be in every frame or in none.
MoleculeSet read_extended_xyz(const std::string& path, const std::vector<std::string>& target_keys,
                              const std::string& target_unit = "",
                              const std::string& force_unit = "",
                              const std::string& forces_key = "forces",
                              const std::string& stress_key = "stress");

/// Writes `molecules` as a multi-frame extended XYZ file that `read_extended_xyz` and ASE
/// (`ase.io.read(path, ":")`) read back: one frame per molecule, in order, each with the comment
/// line `Properties=species:S:1:pos:R:3[:forces:R:3] <energy_key>=<energy>` and one line
/// `El x y z [fx fy fz]` per atom. Every number is written with 17 significant digits, so
/// doubles round-trip exactly. Uses each molecule's `z` [n] (atomic numbers 1…118) and `pos`
/// [n, 3]; `energies` [M] (M = molecules.size() ≥ 1); `forces` [M, max_atoms, 3] zero-padded
/// per molecule (rows past a molecule's n are ignored), or undefined for no forces column.
/// `energy_key` must be a plain header key (no spaces, `=` or quotes; not `Properties`).
/// The file is written atomically (temporary file, then rename). A wrong shape, a missing
/// field, an unknown element or a NaN/infinite value (which no reader would accept) throws
/// c10::ValueError naming the path, the molecule index, the expected and the actual value.
/// Periodic molecules (`cell` defined) get `Lattice="…" pbc="T T T"` (from `pbc`, all periodic
/// when undefined), and `stresses` [M, 3, 3] (undefined: none) a `stress="…"` of 9 numbers.
void write_extended_xyz(const std::string& path, const std::vector<Sample>& molecules,
                        const torch::Tensor& energies, const torch::Tensor& forces = {},
                        const std::string& energy_key = "energy",
                        const torch::Tensor& stresses = {});

/// MD17 (`R`, `z`, `E`, `F`; kcal/mol, kcal/mol/Å) or rMD17 (`coords`, `nuclear_charges`,
/// `energies`, `forces`) .npz archives: one sample per frame, `y` [1] the energy.
MoleculeSet read_md17_npz(const std::string& path);

/// Every molecule of an SDF/MOL file; bonds become `edge_index` (both directions) and
/// `edge_attr` [E, 1] bond orders; numeric data items listed in `target_keys` form `y`. A bond
/// block shorter or longer than the counts line declares is an error naming the file and line.
MoleculeSet read_sdf(const std::string& path, const std::vector<std::string>& target_keys = {});

}  // namespace topo::datasets
