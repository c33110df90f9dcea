// SPDX-License-Identifier: Apache-2.0
#include "datasets/molecules.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "common/check.h"
#include "datasets/file_io.h"
#include "datasets/parsers/array_parsers.h"
#include "datasets/parsers/molecule_parsers.h"
#include "datasets/parsers/text_parsing.h"

namespace topo::datasets {
namespace {

torch::Tensor to_tensor(const std::vector<double>& values, std::vector<int64_t> shape,
                        torch::Dtype dtype = torch::kFloat) {
  return torch::tensor(values, torch::kDouble).view(shape).to(dtype);
}

Sample to_sample(const ParsedMolecule& mol, const std::string& forces_key = "forces") {
  Sample s;
  s.name = mol.name;
  s.z = torch::tensor(mol.atomic_numbers, torch::kLong);
  s.pos = to_tensor(mol.positions, {mol.num_atoms(), 3});
  const auto forces = mol.atom_arrays.find(forces_key);
  if (forces != mol.atom_arrays.end()) {
    if (mol.atom_array_columns.at(forces_key) != 3) {
      throw ParseError(mol.name, mol.line + 1, forces_key + ":R:3 (three force components)",
                       forces_key + ":R:" + std::to_string(mol.atom_array_columns.at(forces_key)));
    }
    s.forces = to_tensor(forces->second, {mol.num_atoms(), 3});
  }
  return s;
}

/// The numbers of a quoted header value ("4.0 0 0 0 4.0 0 0 0 4.0"); a non-number is an error
/// naming the file, the header line and the key.
std::vector<double> header_numbers(const std::string& path, const ParsedMolecule& frame,
                                   const std::string& key, const std::string& value,
                                   const std::string& expected) {
  std::vector<double> numbers;
  for (const auto field : split_fields(value)) {
    double number = 0;
    if (!parse_double(field, number))
      throw ParseError(path, frame.line + 1, expected, key + "=\"" + value + "\"");
    numbers.push_back(number);
  }
  return numbers;
}

/// Lattice=, pbc= and the stress (or virial) of an extended XYZ frame, as ASE reads them:
/// Lattice is a₁ a₂ a₃ row by row; pbc defaults to all periodic when a Lattice is given; the
/// stress is 9 numbers (3 × 3) or 6 (Voigt: xx yy zz yz xz xy); a virial W (9 numbers) gives
/// the stress −W / V.
void read_periodic_fields(const std::string& path, const ParsedMolecule& frame,
                          const std::string& stress_key, Sample& sample) {
  const auto lattice = frame.text.find("Lattice");
  const auto pbc = frame.text.find("pbc");
  if (lattice == frame.text.end()) {
    // ASE writes pbc="F F F" for open molecules; a periodic axis needs its lattice vector.
    if (pbc != frame.text.end() && pbc->second.find_first_of("Tt") != std::string::npos) {
      throw ParseError(path, frame.line + 1, "a Lattice= next to a periodic pbc=",
                       "pbc=\"" + pbc->second + "\" without Lattice=");
    }
    for (const auto& key : {stress_key, std::string("virial")}) {
      if (frame.text.count(key) || frame.properties.count(key))
        throw ParseError(path, frame.line + 1, "a Lattice= next to " + key + "=",
                         key + "= without Lattice=");
    }
    return;
  }
  const auto cell =
      header_numbers(path, frame, "Lattice", lattice->second, "Lattice=\"9 numbers\"");
  if (cell.size() != 9) {
    throw ParseError(path, frame.line + 1, "Lattice= with 9 numbers (a1 a2 a3, row by row)",
                     std::to_string(cell.size()) + " numbers");
  }
  sample.cell = to_tensor(cell, {3, 3});
  std::vector<bool> periodic(3, true);
  if (pbc != frame.text.end()) {
    const auto fields = split_fields(pbc->second);
    bool ok = fields.size() == 3;
    for (size_t k = 0; ok && k < 3; ++k) {
      std::string flag(fields[k]);
      std::transform(flag.begin(), flag.end(), flag.begin(), ::tolower);
      ok = flag == "t" || flag == "true" || flag == "f" || flag == "false";
      periodic[k] = flag == "t" || flag == "true";
    }
    if (!ok)
      throw ParseError(path, frame.line + 1, "pbc=\"T T T\" (three of T/F)",
                       "pbc=\"" + pbc->second + "\"");
  }
  sample.pbc = torch::tensor({bool(periodic[0]), bool(periodic[1]), bool(periodic[2])});
  const auto stress = frame.text.find(stress_key);
  const auto virial = frame.text.find("virial");
  // Periodic axes and a virial need a volume: refuse a singular lattice here, by file and line.
  if (periodic[0] || periodic[1] || periodic[2] || virial != frame.text.end()) {
    const auto c = to_tensor(cell, {3, 3}, torch::kDouble);
    const double volume = torch::linalg_det(c).abs().item<double>();
    if (!(volume > 1e-10 * c.norm(2, {1}).prod().item<double>())) {
      throw ParseError(
          path, frame.line + 1,
          "a Lattice= of three independent vectors (periodic axes need a volume)",
          "Lattice=\"" + lattice->second + "\" (volume " + std::to_string(volume) + ")");
    }
  }
  if (stress != frame.text.end()) {
    const auto v =
        header_numbers(path, frame, stress_key, stress->second, stress_key + "=\"9 or 6 numbers\"");
    if (v.size() == 9) {
      sample.stress = to_tensor(v, {3, 3});
    } else if (v.size() == 6) {
      sample.stress = to_tensor({v[0], v[5], v[4], v[5], v[1], v[3], v[4], v[3], v[2]}, {3, 3});
    } else {
      throw ParseError(path, frame.line + 1,
                       stress_key + "= with 9 numbers (3 x 3) or 6 (Voigt xx yy zz yz xz xy)",
                       std::to_string(v.size()) + " numbers");
    }
  } else if (virial != frame.text.end()) {
    const auto v = header_numbers(path, frame, "virial", virial->second, "virial=\"9 numbers\"");
    if (v.size() != 9)
      throw ParseError(path, frame.line + 1, "virial= with 9 numbers",
                       std::to_string(v.size()) + " numbers");
    const auto c = sample.cell.to(torch::kDouble);
    sample.stress =
        (-to_tensor(v, {3, 3}, torch::kDouble) / torch::linalg_det(c).abs()).to(torch::kFloat);
  }
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// 17 significant digits: every double is written so that strtod gives it back exactly.
void append_number(std::string& out, double value) {
  char buffer[32];
  const int n = std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  out.append(buffer, static_cast<size_t>(n));
}

bool is_real_or_integer(const torch::Tensor& t) {
  return t.is_floating_point() || (c10::isIntegralType(t.scalar_type(), /*includeBool=*/false));
}

}  // namespace

void write_extended_xyz(const std::string& path, const std::vector<Sample>& molecules,
                        const torch::Tensor& energies, const torch::Tensor& forces,
                        const std::string& energy_key, const torch::Tensor& stresses) {
  const std::string fn = "write_extended_xyz(" + path + ")";
  const int64_t m = static_cast<int64_t>(molecules.size());
  TORCH_CHECK_VALUE(m >= 1, fn,
                    ": `molecules` must hold at least one molecule (extended XYZ readers ",
                    "refuse an empty file), got 0");
  const bool key_ok = !energy_key.empty() && energy_key != "Properties" &&
                      energy_key != "Lattice" && energy_key != "pbc" && energy_key != "stress" &&
                      energy_key.find_first_of(" \t\r\n=\"'") == std::string::npos;
  TORCH_CHECK_VALUE(key_ok, fn,
                    ": `energy_key` must be a plain header key (non-empty, no spaces, `=` or ",
                    "quotes, not Properties, Lattice, pbc or stress), got \"", energy_key, "\"");
  TORCH_CHECK_VALUE(energies.defined(), fn, ": `energies` must be a tensor [M=", m,
                    "], got an undefined tensor");
  TORCH_CHECK_VALUE(energies.dim() == 1 && energies.size(0) == m && is_real_or_integer(energies),
                    fn, ": `energies` must be a real tensor [M=", m,
                    "] (one per molecule), got shape ", shape_string(energies), " of ",
                    energies.scalar_type());
  const auto e = energies.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const auto e_a = e.accessor<double, 1>();
  const bool with_forces = forces.defined();
  torch::Tensor f = torch::zeros({m, 0, 3}, torch::kDouble);
  if (with_forces) {
    TORCH_CHECK_VALUE(forces.dim() == 3 && forces.size(0) == m && forces.size(2) == 3 &&
                          is_real_or_integer(forces),
                      fn, ": `forces` must be a real tensor [M=", m,
                      ", max_atoms, 3] (zero-padded per molecule) or undefined, got shape ",
                      shape_string(forces), " of ", forces.scalar_type());
    f = forces.detach().to(torch::kCPU, torch::kDouble).contiguous();
  }
  const auto f_a = f.accessor<double, 3>();
  torch::Tensor st;
  if (stresses.defined()) {
    TORCH_CHECK_VALUE(stresses.dim() == 3 && stresses.size(0) == m && stresses.size(1) == 3 &&
                          stresses.size(2) == 3 && is_real_or_integer(stresses),
                      fn, ": `stresses` must be a real tensor [M=", m,
                      ", 3, 3] or undefined, got shape ", shape_string(stresses));
    st = stresses.detach().to(torch::kCPU, torch::kDouble).contiguous();
    TORCH_CHECK_VALUE(torch::isfinite(st).all().item<bool>(), fn,
                      ": `stresses` must be finite, got NaN or infinity");
  }
  std::string out;
  for (int64_t i = 0; i < m; ++i) {
    const Sample& mol = molecules[static_cast<size_t>(i)];
    const std::string at = fn + ": molecule " + std::to_string(i) + " (0-based)";
    TORCH_CHECK_VALUE(
        mol.z.defined() && mol.z.dim() == 1 && c10::isIntegralType(mol.z.scalar_type(), false), at,
        ": `z` must be an integer tensor [n] of atomic numbers, got ",
        mol.z.defined()
            ? shape_string(mol.z) + " of " + std::string(c10::toString(mol.z.scalar_type()))
            : std::string("an undefined tensor"));
    const int64_t n = mol.z.size(0);
    TORCH_CHECK_VALUE(n >= 1, at, ": `z` must hold at least one atom, got 0");
    TORCH_CHECK_VALUE(
        mol.pos.defined() && mol.pos.dim() == 2 && mol.pos.size(0) == n && mol.pos.size(1) == 3 &&
            is_real_or_integer(mol.pos),
        at, ": `pos` must be a real tensor [n=", n, ", 3] (n from `z`), got ",
        mol.pos.defined() ? shape_string(mol.pos) : std::string("an undefined tensor"));
    if (with_forces) {
      TORCH_CHECK_VALUE(f.size(1) >= n, fn, ": `forces` [", m, ", ", f.size(1),
                        ", 3] has room for ", f.size(1), " atoms, expected at least ", n,
                        " (molecule ", i, " has ", n, " atoms)");
    }
    const double energy = e_a[i];
    TORCH_CHECK_VALUE(std::isfinite(energy), fn, ": `energies[", i, "]` must be finite, got ",
                      energy);
    const auto z = mol.z.detach().to(torch::kCPU, torch::kLong).contiguous();
    const auto pos = mol.pos.detach().to(torch::kCPU, torch::kDouble).contiguous();
    const auto z_a = z.accessor<int64_t, 1>();
    const auto p_a = pos.accessor<double, 2>();
    out += std::to_string(n);
    out += with_forces ? "\nProperties=species:S:1:pos:R:3:forces:R:3 "
                       : "\nProperties=species:S:1:pos:R:3 ";
    out += energy_key + "=";
    append_number(out, energy);
    if (mol.cell.defined()) {
      TORCH_CHECK_VALUE(mol.cell.dim() == 2 && mol.cell.size(0) == 3 && mol.cell.size(1) == 3 &&
                            torch::isfinite(mol.cell).all().item<bool>(),
                        at, ": `cell` must be a finite tensor [3, 3], got ",
                        shape_string(mol.cell));
      const auto cell = mol.cell.to(torch::kCPU, torch::kDouble).contiguous();
      out += " Lattice=\"";
      for (int64_t k = 0; k < 9; ++k) {
        if (k) out += ' ';
        append_number(out, cell.view({9})[k].item<double>());
      }
      TORCH_CHECK_VALUE(!mol.pbc.defined() || (mol.pbc.dim() == 1 && mol.pbc.size(0) == 3 &&
                                               mol.pbc.scalar_type() == torch::kBool),
                        at, ": `pbc` must be a bool tensor [3], got ", shape_string(mol.pbc));
      out += "\" pbc=\"";
      for (int64_t k = 0; k < 3; ++k) {
        const bool periodic = !mol.pbc.defined() || mol.pbc[k].item<bool>();
        out += std::string(k ? " " : "") + (periodic ? "T" : "F");
      }
      out += '"';
    }
    if (st.defined()) {
      TORCH_CHECK_VALUE(mol.cell.defined(), at,
                        ": a stress needs a periodic cell, but `cell` is undefined");
      out += " stress=\"";
      for (int64_t k = 0; k < 9; ++k) {
        if (k) out += ' ';
        append_number(out, st[i].view({9})[k].item<double>());
      }
      out += '"';
    }
    out += '\n';
    for (int64_t a = 0; a < n; ++a) {
      TORCH_CHECK_VALUE(z_a[a] >= 1 && z_a[a] <= 118, at, ": `z[", a,
                        "]` must be an atomic number in [1, 118], got ", z_a[a]);
      out += element_symbol(z_a[a]);
      for (int c = 0; c < 3; ++c) {
        TORCH_CHECK_VALUE(std::isfinite(p_a[a][c]), at, ": `pos[", a, "][", c,
                          "]` must be finite, got ", p_a[a][c]);
        out += ' ';
        append_number(out, p_a[a][c]);
      }
      if (with_forces) {
        for (int c = 0; c < 3; ++c) {
          const double value = f_a[i][a][c];
          TORCH_CHECK_VALUE(std::isfinite(value), fn, ": `forces[", i, "][", a, "][", c,
                            "]` must be finite, got ", value);
          out += ' ';
          append_number(out, value);
        }
      }
      out += '\n';
    }
  }
  write_file_atomically(path, out);
}

MoleculeSet read_qm9(const std::string& path) {
  std::vector<std::pair<std::string, std::string>> files;
  if (std::filesystem::is_directory(path)) {
    for (const auto& entry : std::filesystem::directory_iterator(path)) {
      if (entry.is_regular_file() && entry.path().extension() == ".xyz") {
        files.emplace_back(entry.path().string(), read_file(entry.path().string()));
      }
    }
  } else if (std::filesystem::exists(path)) {
    for_each_tar_member(path, [&](const std::string& name, const std::string& bytes) {
      if (ends_with(name, ".xyz")) files.emplace_back(path + ":" + name, bytes);
    });
  } else {
    throw ParseError(path, "no such file or directory (expected a QM9 folder or tar archive)");
  }
  if (files.empty()) throw ParseError(path, "expected QM9 .xyz files, found none");
  std::sort(files.begin(), files.end());
  MoleculeSet set;
  for (const auto& info : qm9_properties()) {
    set.target_names.emplace_back(info.name);
    set.target_units.emplace_back(info.unit);
  }
  for (const auto& [name, bytes] : files) {
    const auto mol = parse_qm9_xyz(bytes, name);
    auto sample = to_sample(mol);
    std::vector<double> targets;
    for (const auto& info : qm9_properties()) targets.push_back(mol.properties.at(info.name));
    sample.y = torch::tensor(targets, torch::kDouble);
    sample.x = to_tensor(mol.atom_arrays.at("mulliken_charge"), {mol.num_atoms(), 1});
    set.samples.push_back(std::move(sample));
  }
  return set;
}

MoleculeSet read_extended_xyz(const std::string& path, const std::vector<std::string>& target_keys,
                              const std::string& target_unit, const std::string& force_unit,
                              const std::string& forces_key, const std::string& stress_key) {
  const auto frames = parse_extended_xyz(read_file(path), path);
  MoleculeSet set;
  set.target_names = target_keys;
  set.target_units.assign(target_keys.size(), target_unit);
  set.force_unit = force_unit;
  Sample first;
  for (size_t f = 0; f < frames.size(); ++f) {
    const auto& frame = frames[f];
    auto sample = to_sample(frame, forces_key);
    read_periodic_fields(path, frame, stress_key, sample);
    if (f == 0) first = sample;
    // A batch needs forces (a cell, a stress) for all frames or none: name the first frame
    // that differs.
    struct Field {
      torch::Tensor Sample::*member;
      std::string what, noun;
    };
    for (const auto& [member, what, noun] :
         std::vector<Field>{{&Sample::forces, "a " + forces_key + ":R:3 column", "forces"},
                            {&Sample::cell, "a Lattice=", "a Lattice="},
                            {&Sample::stress, "a " + stress_key + "= (or virial=)", "a stress"}}) {
      const bool in_first = (first.*member).defined();
      if ((sample.*member).defined() != in_first) {
        throw ParseError(
            path, frame.line,
            std::string("a frame ") + (in_first ? "with " : "without ") + what + " (as frame 1)",
            "frame " + std::to_string(f + 1) + (in_first ? " without " : " with ") + noun);
      }
    }
    std::vector<double> targets;
    for (const auto& key : target_keys) {
      const auto it = frame.properties.find(key);
      if (it == frame.properties.end()) {
        const auto text = frame.text.find(key);
        throw ParseError(
            path, frame.line + 1,
            "a finite number for the header key `" + key + "` in frame " + std::to_string(f + 1),
            text == frame.text.end() ? std::string("a frame without it")
                                     : "`" + key + "=" + text->second + "`");
      }
      targets.push_back(it->second);
    }
    if (!target_keys.empty()) sample.y = torch::tensor(targets, torch::kDouble);
    set.samples.push_back(std::move(sample));
  }
  return set;
}

MoleculeSet read_md17_npz(const std::string& path) {
  std::map<std::string, ParsedArray> arrays;
  for (const auto& [name, bytes] : read_zip_members(path)) {
    if (ends_with(name, ".npy"))
      arrays[name.substr(0, name.size() - 4)] = parse_npy(bytes, path + ":" + name);
  }
  const auto pick = [&](std::initializer_list<const char*> names) -> const ParsedArray& {
    for (const char* n : names) {
      if (arrays.count(n)) return arrays.at(n);
    }
    std::string wanted;
    for (const char* n : names) wanted += std::string(wanted.empty() ? "" : " or ") + n;
    throw ParseError(path, "expected an array named " + wanted + " in the archive");
  };
  const auto& r = pick({"R", "coords"});
  const auto& z = pick({"z", "nuclear_charges"});
  const auto& e = pick({"E", "energies"});
  const auto& f = pick({"F", "forces"});
  if (r.shape.size() != 3 || r.shape[2] != 3)
    throw ParseError(path, "expected positions [frames, atoms, 3]");
  const int64_t frames = r.shape[0], atoms = r.shape[1];
  if (z.numel() != atoms)
    throw ParseError(path, "expected one atomic number per atom (" + std::to_string(atoms) + ")");
  if (e.numel() != frames)
    throw ParseError(path, "expected one energy per frame (" + std::to_string(frames) + ")");
  if (f.shape != r.shape) throw ParseError(path, "expected forces of the positions' shape");
  MoleculeSet set;
  set.target_names = {"energy"};
  set.target_units = {"kcal/mol"};
  set.force_unit = "kcal/mol/Angstrom";
  const auto zt = torch::tensor(z.values, torch::kDouble).to(torch::kLong);
  const auto pos =
      torch::tensor(r.values, torch::kDouble).view({frames, atoms, 3}).to(torch::kFloat);
  const auto forces =
      torch::tensor(f.values, torch::kDouble).view({frames, atoms, 3}).to(torch::kFloat);
  for (int64_t i = 0; i < frames; ++i) {
    Sample s;
    s.name = path + "#" + std::to_string(i);
    s.z = zt;
    s.pos = pos[i].clone();
    s.forces = forces[i].clone();
    s.y = torch::tensor({e.values[i]}, torch::kDouble);
    set.samples.push_back(std::move(s));
  }
  return set;
}

MoleculeSet read_sdf(const std::string& path, const std::vector<std::string>& target_keys) {
  const auto molecules = parse_sdf(read_file(path), path);
  MoleculeSet set;
  set.target_names = target_keys;
  set.target_units.assign(target_keys.size(), "");
  for (size_t m = 0; m < molecules.size(); ++m) {
    auto sample = to_sample(molecules[m]);
    sample.name = path + "#" + std::to_string(m) + " " + molecules[m].name;
    std::vector<int64_t> rows, cols;
    std::vector<double> orders;
    for (const auto& [i, j, order] : molecules[m].bonds) {
      rows.insert(rows.end(), {i, j});
      cols.insert(cols.end(), {j, i});
      orders.insert(orders.end(), {double(order), double(order)});
    }
    sample.edge_index =
        torch::stack({torch::tensor(rows, torch::kLong), torch::tensor(cols, torch::kLong)});
    sample.edge_attr = torch::tensor(orders, torch::kDouble).to(torch::kFloat).view({-1, 1});
    std::vector<double> targets;
    for (const auto& key : target_keys) {
      const auto it = molecules[m].properties.find(key);
      if (it == molecules[m].properties.end()) {
        const auto text = molecules[m].text.find(key);
        throw ParseError(path, molecules[m].line,
                         "the numeric data item `" + key + "` in molecule " + std::to_string(m + 1),
                         text == molecules[m].text.end() ? std::string("a molecule without it")
                                                         : "the non-number " + quote(text->second));
      }
      targets.push_back(it->second);
    }
    if (!target_keys.empty()) sample.y = torch::tensor(targets, torch::kDouble);
    set.samples.push_back(std::move(sample));
  }
  return set;
}

}  // namespace topo::datasets
