// SPDX-License-Identifier: Apache-2.0
// The dataset readers for Python: plain tensors in dicts named as PyTorch Geometric's `Data`
// fields (pos, x, z, edge_index, edge_attr, y, forces; cell, pbc, stress of periodic frames)
// plus `name`; fields a sample lacks are
// absent. Malformed files raise topoformer.ParseError naming the file and line.
#include <torch/torch.h>

#include "bindings.h"
#include "datasets/graphs.h"
#include "datasets/molecules.h"
#include "datasets/point_clouds.h"

namespace topo::python {
namespace {

py::dict to_dict(const datasets::Sample& s) {
  py::dict d;
  for (const auto& [name, tensor] :
       std::vector<std::pair<const char*, const torch::Tensor*>>{{"pos", &s.pos},
                                                                 {"x", &s.x},
                                                                 {"z", &s.z},
                                                                 {"edge_index", &s.edge_index},
                                                                 {"edge_attr", &s.edge_attr},
                                                                 {"y", &s.y},
                                                                 {"forces", &s.forces},
                                                                 {"cell", &s.cell},
                                                                 {"pbc", &s.pbc},
                                                                 {"stress", &s.stress}}) {
    if (tensor->defined()) d[name] = *tensor;
  }
  d["name"] = s.name;
  return d;
}

py::list to_list(const std::vector<datasets::Sample>& samples) {
  py::list out;
  for (const auto& s : samples) out.append(to_dict(s));
  return out;
}

py::dict molecule_set(const datasets::MoleculeSet& set) {
  py::dict d;
  d["samples"] = to_list(set.samples);
  d["target_names"] = set.target_names;
  d["target_units"] = set.target_units;
  d["force_unit"] = set.force_unit;
  return d;
}

py::dict graph_set(const datasets::GraphDataset& set) {
  py::dict d;
  d["samples"] = to_list(set.samples);
  d["num_classes"] = set.num_classes;
  d["class_names"] = set.class_names;
  d["node_label_values"] = set.node_label_values;
  return d;
}

}  // namespace

void bind_datasets(py::module_& m) {
  m.def(
      "read_extended_xyz",
      [](const std::string& path, const std::vector<std::string>& target_keys,
         const std::string& target_unit, const std::string& force_unit,
         const std::string& forces_key, const std::string& stress_key) {
        return molecule_set(datasets::read_extended_xyz(path, target_keys, target_unit, force_unit,
                                                        forces_key, stress_key));
      },
      py::arg("path"), py::arg("target_keys") = std::vector<std::string>{},
      py::arg("target_unit") = "", py::arg("force_unit") = "", py::arg("forces_key") = "forces",
      py::arg("stress_key") = "stress");
  m.def(
      "read_sdf",
      [](const std::string& path, const std::vector<std::string>& target_keys) {
        return molecule_set(datasets::read_sdf(path, target_keys));
      },
      py::arg("path"), py::arg("target_keys") = std::vector<std::string>{});
  m.def(
      "read_qm9", [](const std::string& path) { return molecule_set(datasets::read_qm9(path)); },
      py::arg("path"));
  m.def(
      "read_md17_npz",
      [](const std::string& path) { return molecule_set(datasets::read_md17_npz(path)); },
      py::arg("path"));
  m.def(
      "read_mnist",
      [](const std::string& images, const std::string& labels, int64_t threshold, bool centre) {
        return to_list(datasets::read_mnist(images, labels, threshold, centre));
      },
      py::arg("images"), py::arg("labels"), py::arg("threshold") = 127, py::arg("centre") = true);
  m.def(
      "read_point_cloud",
      [](const std::string& path) { return to_dict(datasets::read_point_cloud(path)); },
      py::arg("path"));
  m.def(
      "sample_mesh",
      [](const std::string& path, int64_t num_points) {
        return to_dict(datasets::sample_mesh(path, num_points));
      },
      py::arg("path"), py::arg("num_points"));
  m.def(
      "read_modelnet",
      [](const std::string& root, const std::string& split, int64_t num_points, uint64_t seed,
         const std::string& cache_dir) {
        datasets::ModelNetOptions o;
        o.root = root;
        o.split = split;
        o.num_points = num_points;
        o.seed = seed;
        o.cache_dir = cache_dir;
        const auto set = datasets::read_modelnet(o);
        py::dict d;
        d["samples"] = to_list(set.samples);
        d["class_names"] = set.class_names;
        return d;
      },
      py::arg("root"), py::arg("split") = "train", py::arg("num_points") = 1024,
      py::arg("seed") = 0, py::arg("cache_dir") = "");
  m.def(
      "read_tu_dataset",
      [](const std::string& dir, const std::string& name) {
        return graph_set(datasets::read_tu_dataset(dir, name));
      },
      py::arg("dir"), py::arg("name"));
  m.def(
      "read_citation_graph",
      [](const std::string& content, const std::string& cites) {
        return graph_set(datasets::read_citation_graph(content, cites));
      },
      py::arg("content"), py::arg("cites"));
}

}  // namespace topo::python
