// SPDX-License-Identifier: Apache-2.0
#include "datasets/molecules.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

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

Sample to_sample(const ParsedMolecule& mol) {
  Sample s;
  s.name = mol.name;
  s.z = torch::tensor(mol.atomic_numbers, torch::kLong);
  s.pos = to_tensor(mol.positions, {mol.num_atoms(), 3});
  const auto forces = mol.atom_arrays.find("forces");
  if (forces != mol.atom_arrays.end()) {
    if (mol.atom_array_columns.at("forces") != 3) throw ParseError(mol.name, "expected forces:R:3, got another width");
    s.forces = to_tensor(forces->second, {mol.num_atoms(), 3});
  }
  return s;
}

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

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
                              const std::string& target_unit, const std::string& force_unit) {
  const auto frames = parse_extended_xyz(read_file(path), path);
  MoleculeSet set;
  set.target_names = target_keys;
  set.target_units.assign(target_keys.size(), target_unit);
  set.force_unit = force_unit;
  for (size_t f = 0; f < frames.size(); ++f) {
    auto sample = to_sample(frames[f]);
    std::vector<double> targets;
    for (const auto& key : target_keys) {
      const auto it = frames[f].properties.find(key);
      if (it == frames[f].properties.end()) {
        throw ParseError(path, "expected the numeric header key `" + key + "` in frame " + std::to_string(f + 1) +
                                   ", got a frame without it");
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
    if (ends_with(name, ".npy")) arrays[name.substr(0, name.size() - 4)] = parse_npy(bytes, path + ":" + name);
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
  if (r.shape.size() != 3 || r.shape[2] != 3) throw ParseError(path, "expected positions [frames, atoms, 3]");
  const int64_t frames = r.shape[0], atoms = r.shape[1];
  if (z.numel() != atoms) throw ParseError(path, "expected one atomic number per atom (" + std::to_string(atoms) + ")");
  if (e.numel() != frames) throw ParseError(path, "expected one energy per frame (" + std::to_string(frames) + ")");
  if (f.shape != r.shape) throw ParseError(path, "expected forces of the positions' shape");
  MoleculeSet set;
  set.target_names = {"energy"};
  set.target_units = {"kcal/mol"};
  set.force_unit = "kcal/mol/Angstrom";
  const auto zt = torch::tensor(z.values, torch::kDouble).to(torch::kLong);
  const auto pos = torch::tensor(r.values, torch::kDouble).view({frames, atoms, 3}).to(torch::kFloat);
  const auto forces = torch::tensor(f.values, torch::kDouble).view({frames, atoms, 3}).to(torch::kFloat);
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
    sample.edge_index = torch::stack({torch::tensor(rows, torch::kLong), torch::tensor(cols, torch::kLong)});
    sample.edge_attr = torch::tensor(orders, torch::kDouble).to(torch::kFloat).view({-1, 1});
    std::vector<double> targets;
    for (const auto& key : target_keys) {
      const auto it = molecules[m].properties.find(key);
      if (it == molecules[m].properties.end()) {
        throw ParseError(path, "expected the numeric data item `" + key + "` in molecule " + std::to_string(m + 1));
      }
      targets.push_back(it->second);
    }
    if (!target_keys.empty()) sample.y = torch::tensor(targets, torch::kDouble);
    set.samples.push_back(std::move(sample));
  }
  return set;
}

}  // namespace topo::datasets
