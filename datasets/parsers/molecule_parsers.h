// SPDX-License-Identifier: Apache-2.0
/// \file
/// Parsers for molecular files exactly as published (pure C++): the original QM9 xyz files,
/// extended XYZ (QM7b, MD17/rMD17-style trajectories) and SDF/MOL V2000.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace topo::datasets {

/// One parsed molecule: atomic numbers, positions (Å) and whatever the file carries.
struct ParsedMolecule {
  std::string name;
  int64_t line = 0;  ///< the line its record starts on (1-based; multi-record files)
  std::vector<int64_t> atomic_numbers;
  std::vector<double> positions;  ///< natoms × 3, Å
  /// Scalar properties (QM9: the 15 of the gdb line; extended XYZ: numeric header keys).
  std::map<std::string, double> properties;
  /// Per-atom arrays (QM9: "mulliken_charge"; extended XYZ: every Properties= column besides
  /// species and pos, e.g. "forces" with 3 columns), natoms × columns, row-major.
  std::map<std::string, std::vector<double>> atom_arrays;
  std::map<std::string, int64_t> atom_array_columns;
  /// Text fields (QM9: "smiles", "inchi", both relaxed (B3LYP) versions; extended XYZ: string
  /// keys).
  std::map<std::string, std::string> text;
  std::vector<double> frequencies;            ///< QM9 harmonic frequencies, cm⁻¹
  std::vector<std::array<int64_t, 3>> bonds;  ///< SDF: (atom i, atom j, order), 0-based
  int64_t num_atoms() const { return static_cast<int64_t>(atomic_numbers.size()); }
};

/// The 15 QM9 properties in file order with their units (Ramakrishnan et al., 2014).
struct Qm9PropertyInfo {
  const char* name;
  const char* unit;
};
const std::array<Qm9PropertyInfo, 15>& qm9_properties();

/// One QM9 file (`dsgdb9nsd_*.xyz`): natoms; `gdb <id>` + 15 tab-separated properties;
/// natoms lines `El x y z q`; frequencies; SMILES (GDB, relaxed); InChI (GDB, relaxed).
/// Numbers may use `*^` exponents.
ParsedMolecule parse_qm9_xyz(std::string_view text, const std::string& file);

/// Every frame of an extended XYZ file: natoms; a key=value header (quoted values allowed)
/// with Properties=name:type:columns:…; natoms atom lines. Numeric header values become
/// properties; per-atom columns other than species/pos become atom arrays.
std::vector<ParsedMolecule> parse_extended_xyz(std::string_view text, const std::string& file);

/// Every record of an SDF / MOL file (V2000 connection tables with 3-D coordinates), with the
/// `> <name>` data items as text. The atom and bond blocks must hold exactly the counts line's
/// numbers of lines: a bond block cut short (the properties block, `$$$$` or the end of the
/// file comes early) or one with an extra bond line is a ParseError naming the file, the line,
/// the declared count (and the counts line) and the count found.
std::vector<ParsedMolecule> parse_sdf(std::string_view text, const std::string& file);

}  // namespace topo::datasets
