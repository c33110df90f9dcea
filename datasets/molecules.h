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
/// `target_keys` (all must be present in every frame); a `forces` column becomes `forces`.
MoleculeSet read_extended_xyz(const std::string& path, const std::vector<std::string>& target_keys,
                              const std::string& target_unit = "", const std::string& force_unit = "");

/// MD17 (`R`, `z`, `E`, `F`; kcal/mol, kcal/mol/Å) or rMD17 (`coords`, `nuclear_charges`,
/// `energies`, `forces`) .npz archives: one sample per frame, `y` [1] the energy.
MoleculeSet read_md17_npz(const std::string& path);

/// Every molecule of an SDF/MOL file; bonds become `edge_index` (both directions) and
/// `edge_attr` [E, 1] bond orders; numeric data items listed in `target_keys` form `y`.
MoleculeSet read_sdf(const std::string& path, const std::vector<std::string>& target_keys = {});

}  // namespace topo::datasets
