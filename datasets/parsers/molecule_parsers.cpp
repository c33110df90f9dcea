// SPDX-License-Identifier: Apache-2.0
#include "datasets/parsers/molecule_parsers.h"

#include <cmath>

#include "datasets/parsers/text_parsing.h"

namespace topo::datasets {
namespace {

constexpr int64_t kMaxAtoms = 1000000;

int64_t atom_count(LineReader& reader, std::string_view line, const std::string& what) {
  const auto fields = split_fields(line);
  int64_t n = 0;
  if (fields.size() != 1 || !parse_int(fields[0], n) || n < 1 || n > kMaxAtoms) {
    reader.fail(what + " (a positive atom count)", line);
  }
  return n;
}

int64_t element(LineReader& reader, std::string_view symbol) {
  const int64_t z = atomic_number(symbol);
  if (z == 0) reader.fail("an element symbol (H, C, N, O, …)", symbol);
  return z;
}

}  // namespace

const std::array<Qm9PropertyInfo, 15>& qm9_properties() {
  static const std::array<Qm9PropertyInfo, 15> table = {{
      {"A", "GHz"},
      {"B", "GHz"},
      {"C", "GHz"},
      {"mu", "Debye"},
      {"alpha", "Bohr^3"},
      {"homo", "Hartree"},
      {"lumo", "Hartree"},
      {"gap", "Hartree"},
      {"r2", "Bohr^2"},
      {"zpve", "Hartree"},
      {"U0", "Hartree"},
      {"U", "Hartree"},
      {"H", "Hartree"},
      {"G", "Hartree"},
      {"Cv", "cal/(mol K)"},
  }};
  return table;
}

ParsedMolecule parse_qm9_xyz(std::string_view text, const std::string& file) {
  LineReader reader(text, file);
  ParsedMolecule mol;
  mol.name = file;
  const auto count_line = reader.require("the atom count");
  const int64_t n = atom_count(reader, count_line, "the atom count");
  reader.check_declared_count(n, 8, "atom lines", count_line);
  const auto header = reader.require("the `gdb` property line");
  const auto fields = split_fields(header);
  if (fields.size() != 17 || fields[0] != "gdb") {
    reader.fail("`gdb <id>` and 15 properties (17 fields)", header);
  }
  mol.properties["index"] = static_cast<double>(field_int(reader, fields, 1, "the molecule id"));
  for (size_t p = 0; p < 15; ++p) {
    mol.properties[qm9_properties()[p].name] =
        field_double(reader, fields, p + 2, qm9_properties()[p].name);
  }
  auto& charges = mol.atom_arrays["mulliken_charge"];
  mol.atom_array_columns["mulliken_charge"] = 1;
  for (int64_t i = 0; i < n; ++i) {
    const auto line =
        reader.require("atom line " + std::to_string(i + 1) + " of " + std::to_string(n));
    const auto atom = split_fields(line);
    if (atom.size() != 5)
      reader.fail(
          "`El x y z q` (5 fields) for atom " + std::to_string(i + 1) + " of " + std::to_string(n),
          line);
    mol.atomic_numbers.push_back(element(reader, atom[0]));
    for (size_t c = 1; c <= 3; ++c)
      mol.positions.push_back(field_double(reader, atom, c, "a coordinate"));
    charges.push_back(field_double(reader, atom, 4, "a Mulliken charge"));
  }
  const auto frequency_line = reader.require("the harmonic frequencies");
  for (const auto& f : split_fields(frequency_line)) {
    double value = 0;
    if (!parse_double(f, value)) reader.fail("harmonic frequencies (numbers)", frequency_line);
    mol.frequencies.push_back(value);
  }
  const auto smiles = split_fields(reader.require("the SMILES line"));
  if (smiles.size() != 2)
    reader.fail("two SMILES (GDB and relaxed)",
                "a line with " + std::to_string(smiles.size()) + " fields");
  mol.text["smiles_gdb"] = std::string(smiles[0]);
  mol.text["smiles"] = std::string(smiles[1]);
  const auto inchi = split_fields(reader.require("the InChI line"));
  if (inchi.size() != 2)
    reader.fail("two InChI strings (GDB and relaxed)",
                "a line with " + std::to_string(inchi.size()) + " fields");
  mol.text["inchi_gdb"] = std::string(inchi[0]);
  mol.text["inchi"] = std::string(inchi[1]);
  std::string_view rest;
  if (reader.next_nonblank(rest)) reader.fail("the end of the file after the InChI line", rest);
  return mol;
}

namespace {

/// key=value pairs of an extended XYZ comment line; values may be "quoted".
std::vector<std::pair<std::string, std::string>> header_pairs(LineReader& reader,
                                                              std::string_view line) {
  std::vector<std::pair<std::string, std::string>> pairs;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    const size_t key_start = i;
    while (i < line.size() && line[i] != '=' && line[i] != ' ' && line[i] != '\t') ++i;
    const std::string key(line.substr(key_start, i - key_start));
    std::string value;
    if (i < line.size() && line[i] == '=') {
      ++i;
      if (i < line.size() && line[i] == '"') {
        const size_t close = line.find('"', i + 1);
        if (close == std::string_view::npos) reader.fail("a closing quote for `" + key + "`", line);
        value = std::string(line.substr(i + 1, close - i - 1));
        i = close + 1;
      } else {
        const size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
        value = std::string(line.substr(start, i - start));
      }
    } else {
      value = "T";  // a bare key is a true flag
    }
    if (key.empty()) reader.fail("key=value pairs", line);
    pairs.emplace_back(key, value);
  }
  return pairs;
}

struct Column {
  std::string name;
  char type;
  int64_t count;
};

std::vector<Column> property_columns(LineReader& reader, const std::string& spec) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= spec.size(); ++i) {
    if (i == spec.size() || spec[i] == ':') {
      parts.emplace_back(spec.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() % 3 != 0 || parts.empty())
    reader.fail("Properties=name:type:count triples", spec);
  std::vector<Column> columns;
  for (size_t p = 0; p < parts.size(); p += 3) {
    int64_t count = 0;
    if (parts[p + 1].size() != 1 ||
        std::string("SRIL").find(parts[p + 1][0]) == std::string::npos ||
        !parse_int(parts[p + 2], count) || count < 1 || count > 64) {
      reader.fail("Properties=name:type:count with type S, R, I or L", spec);
    }
    columns.push_back({parts[p], parts[p + 1][0], count});
  }
  if (columns[0].name != "species" || columns[0].type != 'S')
    reader.fail("Properties= starting with species:S:1", spec);
  bool has_pos = false;
  for (const auto& c : columns) has_pos |= c.name == "pos" && c.type == 'R' && c.count == 3;
  if (!has_pos) reader.fail("a pos:R:3 column in Properties=", spec);
  return columns;
}

/// Lines that may follow a V2000 bond block: the properties block (`M  …`, atom aliases `A  `,
/// values `V  `, groups `G  `, `S  SKP`), the end of the record and its data items.
bool ends_bond_block(std::string_view line) {
  for (const char* prefix : {"M  ", "A  ", "V  ", "G  ", "S  SKP", "$$$$", ">"}) {
    if (line.rfind(prefix, 0) == 0) return true;
  }
  return trim(line).empty();
}

/// The first three fixed-width fields of a V2000 bond line `111222ttt`.
bool bond_fields(std::string_view line, int64_t& i, int64_t& j, int64_t& order) {
  return line.size() >= 9 && parse_int(trim(line.substr(0, 3)), i) &&
         parse_int(trim(line.substr(3, 3)), j) && parse_int(trim(line.substr(6, 3)), order);
}

}  // namespace

std::vector<ParsedMolecule> parse_extended_xyz(std::string_view text, const std::string& file) {
  LineReader reader(text, file);
  std::vector<ParsedMolecule> frames;
  std::string_view line;
  while (reader.next_nonblank(line)) {
    const int64_t n =
        atom_count(reader, line, "the atom count of frame " + std::to_string(frames.size() + 1));
    // n atom lines of at least "H 0 0 0\n" (8 bytes) each follow.
    reader.check_declared_count(n, 8, "atom lines", line);
    ParsedMolecule mol;
    mol.name = file + "#" + std::to_string(frames.size());
    mol.line = reader.line_number();
    const auto header = reader.require("the extended XYZ header line");
    std::vector<Column> columns = {{"species", 'S', 1}, {"pos", 'R', 3}};
    for (const auto& [key, value] : header_pairs(reader, header)) {
      if (key == "Properties") {
        columns = property_columns(reader, value);
        continue;
      }
      double number = 0;
      if (key != "Lattice" && parse_double(value, number)) {
        mol.properties[key] = number;
      } else {
        mol.text[key] = value;
      }
    }
    int64_t width = 0;
    for (const auto& c : columns) {
      width += c.count;
      if (c.name != "species" && c.name != "pos") {
        mol.atom_array_columns[c.name] = c.count;
        mol.atom_arrays[c.name].reserve(n * c.count);  // n is bounded by the file's size
      }
    }
    for (int64_t i = 0; i < n; ++i) {
      const auto atom_line =
          reader.require("atom line " + std::to_string(i + 1) + " of " + std::to_string(n));
      const auto fields = split_fields(atom_line);
      if (static_cast<int64_t>(fields.size()) != width) {
        reader.fail(std::to_string(width) + " fields (as Properties= says) for atom " +
                        std::to_string(i + 1) + " of " + std::to_string(n),
                    atom_line);
      }
      size_t at = 0;
      for (const auto& c : columns) {
        for (int64_t k = 0; k < c.count; ++k, ++at) {
          if (c.name == "species") {
            mol.atomic_numbers.push_back(element(reader, fields[at]));
          } else if (c.type == 'S') {
            continue;  // other string columns are not numeric data
          } else if (c.type == 'L') {
            mol.atom_arrays[c.name].push_back(fields[at] == "T" ? 1.0 : 0.0);
          } else {
            const double value = field_double(reader, fields, at, c.name);
            if (c.name == "pos") {
              mol.positions.push_back(value);
            } else {
              mol.atom_arrays[c.name].push_back(value);
            }
          }
        }
      }
    }
    for (auto it = mol.atom_array_columns.begin(); it != mol.atom_array_columns.end();) {
      if (mol.atom_arrays[it->first].empty()) {  // string columns carry no numbers
        mol.atom_arrays.erase(it->first);
        it = mol.atom_array_columns.erase(it);
      } else {
        ++it;
      }
    }
    frames.push_back(std::move(mol));
  }
  if (frames.empty()) throw ParseError(file, 1, "at least one frame", "an empty file");
  return frames;
}

std::vector<ParsedMolecule> parse_sdf(std::string_view text, const std::string& file) {
  LineReader reader(text, file);
  std::vector<ParsedMolecule> molecules;
  std::string_view line;
  while (reader.next(line)) {
    if (trim(line).empty() && reader.at_end()) break;
    ParsedMolecule mol;
    mol.name = std::string(trim(line));
    mol.line = reader.line_number();
    reader.require("the program/timestamp line (line 2 of the header)");
    reader.require("the comment line (line 3 of the header)");
    const auto counts = reader.require("the counts line");
    const int64_t counts_line = reader.line_number();
    if (counts.find("V3000") != std::string_view::npos) reader.fail("a V2000 counts line", counts);
    if (counts.size() < 6) reader.fail("a V2000 counts line `aaabbb…`", counts);
    int64_t atoms = 0, bonds = 0;
    if (!parse_int(trim(counts.substr(0, 3)), atoms) ||
        !parse_int(trim(counts.substr(3, 3)), bonds) || atoms < 1 || bonds < 0) {
      reader.fail("atom and bond counts in columns 1-6", counts);
    }
    for (int64_t i = 0; i < atoms; ++i) {
      const auto atom_line =
          reader.require("atom line " + std::to_string(i + 1) + " of " + std::to_string(atoms));
      const auto fields = split_fields(atom_line);
      if (fields.size() < 4)
        reader.fail("`x y z symbol …` for atom " + std::to_string(i + 1), atom_line);
      for (size_t c = 0; c < 3; ++c)
        mol.positions.push_back(field_double(reader, fields, c, "a coordinate"));
      mol.atomic_numbers.push_back(element(reader, fields[3]));
    }
    // The bond block must hold exactly the declared number of lines: a block cut short (the
    // properties block, the record's end or the file's end comes early) or a bond line after
    // the declared count are errors naming the counts line's number, not silent.
    const auto bond_count_error = [&](int64_t at_line, const std::string& actual) {
      throw ParseError(file, at_line,
                       std::to_string(bonds) + " bond lines (declared by the counts line, line " +
                           std::to_string(counts_line) + ")",
                       actual);
    };
    for (int64_t b = 0; b < bonds; ++b) {
      std::string_view bond_line;
      if (!reader.next(bond_line)) {
        bond_count_error(reader.line_number() + 1,
                         std::to_string(b) + " before the end of the file");
      }
      if (ends_bond_block(bond_line)) {
        bond_count_error(reader.line_number(),
                         std::to_string(b) + ": the bond block ends with " + quote(bond_line));
      }
      int64_t i = 0, j = 0, order = 0;
      if (!bond_fields(bond_line, i, j, order)) {
        reader.fail("a V2000 bond line `111222ttt`", bond_line);
      }
      if (i < 1 || j < 1 || i > atoms || j > atoms) {
        reader.fail("atom numbers in [1, " + std::to_string(atoms) + "] and a bond type",
                    bond_line);
      }
      mol.bonds.push_back({i - 1, j - 1, order});
    }
    // Properties block until "M  END", then data items until "$$$$".
    bool ended = false;
    bool first_after_bonds = true;
    while (reader.next(line)) {
      if (first_after_bonds) {
        first_after_bonds = false;
        int64_t i = 0, j = 0, order = 0;
        if (!ends_bond_block(line) && bond_fields(line, i, j, order)) {
          bond_count_error(reader.line_number(), "another bond line " + quote(line));
        }
      }
      if (line.rfind("M  END", 0) == 0) {
        ended = true;
        break;
      }
    }
    if (!ended) throw ParseError(file, reader.line_number(), "`M  END`", "end of file");
    while (reader.next(line) && line.rfind("$$$$", 0) != 0) {
      if (line.rfind(">", 0) == 0) {
        const size_t open = line.find('<'),
                     close = line.find('>', open == std::string_view::npos ? 0 : open);
        if (open == std::string_view::npos || close == std::string_view::npos)
          reader.fail("a data header `> <name>`", line);
        const std::string key(line.substr(open + 1, close - open - 1));
        std::string value;
        std::string_view data;
        while (reader.next(data) && !trim(data).empty())
          value += (value.empty() ? "" : "\n") + std::string(data);
        mol.text[key] = value;
        double number = 0;
        if (parse_double(trim(value), number)) mol.properties[key] = number;
      }
    }
    molecules.push_back(std::move(mol));
  }
  if (molecules.empty()) throw ParseError(file, 1, "at least one molecule", "an empty file");
  return molecules;
}

}  // namespace topo::datasets
