// SPDX-License-Identifier: Apache-2.0
// topoformer._C.Potential: app::Potential (a trained molecular run folder as an interatomic
// potential) for topoformer.ase.
#include "app/potential.h"

#include <torch/torch.h>

#include "bindings.h"

namespace topo::python {

void bind_potential(py::module_& m) {
  using app::Potential;
  py::class_<Potential>(m, "Potential",
                        "A trained `--task molecules` run folder as an interatomic potential")
      .def(py::init<const std::string&, const std::string&>(), py::arg("run_dir"),
           py::arg("dtype") = "float64")
      .def(
          "compute",
          [](const Potential& p, const torch::Tensor& z, const torch::Tensor& pos,
             const std::optional<torch::Tensor>& cell, const std::optional<torch::Tensor>& pbc,
             bool stress) {
            Potential::Result out;
            {
              // The autograd engine refuses to run under the GIL (it may call back into Python).
              py::gil_scoped_release no_gil;
              out = p.compute(z, pos, cell, pbc, stress);
            }
            return py::make_tuple(out.energy, out.forces,
                                  stress ? py::cast(out.stress) : py::none(), out.atom_energies);
          },
          "(energy, forces [N, 3], stress [3, 3] or None, per-atom energies [N] summing to the "
          "energy) of atoms `z` [N] at `pos` [N, 3] (Å) in `cell` [3, 3] with `pbc` [3] (None: "
          "an open system)",
          py::arg("z"), py::arg("pos"), py::arg("cell") = py::none(), py::arg("pbc") = py::none(),
          py::arg("stress") = false)
      .def_property_readonly("elements", &Potential::elements)
      .def_property_readonly("cutoff", &Potential::cutoff)
      .def_property_readonly(
          "with_forces",
          [](const Potential& p) { return p.run().recorded.value("with_forces", false); })
      .def_property_readonly(
          "with_stress",
          [](const Potential& p) { return p.run().recorded.value("with_stress", false); })
      .def_property_readonly("config",
                             [](const Potential& p) { return p.run().config.to_json().dump(); });
}

}  // namespace topo::python
