// SPDX-License-Identifier: Apache-2.0
// A trained molecular run folder as an interatomic potential for MD engines (topoformer.ase):
// the model rebuilt from config.json and checkpoint.pt, asked for energy, forces and stress of
// one system at a time, in the dtype the engine integrates in.
#include <torch/torch.h>

#include "app/commands.h"
#include "bindings.h"
#include "common/check.h"
#include "models/molecular_transformer.h"

namespace topo::python {
namespace {

class Potential {
 public:
  Potential(const std::string& run_dir, const std::string& dtype) {
    run_ = app::load_run(run_dir);
    TOPO_CHECK_ARG(run_.config.text("task") == "molecules", "Potential", "run_dir",
                   "the folder of a `--task molecules` run",
                   c10::str(run_dir, " (a ", run_.config.text("task"), " run)"));
    model_ = std::dynamic_pointer_cast<models::MolecularTransformerImpl>(run_.model);
    TOPO_INTERNAL_ASSERT(model_ != nullptr, "a molecules run builds a MolecularTransformer");
    TOPO_CHECK_ARG(dtype == "float64" || dtype == "float32", "Potential", "dtype",
                   "\"float64\" or \"float32\"", "\"" + dtype + "\"");
    dtype_ = dtype == "float64" ? torch::kDouble : torch::kFloat;
    model_->to(dtype_);
    elements_ = run_.recorded.at("elements").get<std::vector<int64_t>>();
  }

  /// (energy, forces [N, 3], stress [3, 3] or None) of atoms `z` [N] at `pos` [N, 3] (Å) in
  /// `cell` [3, 3] with `pbc` [3] (None: an open system).
  py::tuple compute(const torch::Tensor& z, const torch::Tensor& pos,
                    const std::optional<torch::Tensor>& cell,
                    const std::optional<torch::Tensor>& pbc, bool stress) {
    ShapeChecker check("Potential.compute");
    check(z, "z", {"N"});
    check(pos, "pos", {"N", 3});
    check.dtype(z, "z", torch::kLong);
    for (int64_t a = 0; a < z.size(0); ++a) {
      const int64_t element = z[a].item<int64_t>();
      TOPO_CHECK_ARG(
          std::find(elements_.begin(), elements_.end(), element) != elements_.end(),
          "Potential.compute", c10::str("z[", a, "]"),
          c10::str("an element the model was trained on (Z in ", c10::Join(", ", elements_), ")"),
          element);
    }
    torch::Tensor c, p;
    TOPO_CHECK_ARG(!pbc || cell, "Potential.compute", "pbc", "given with a `cell`",
                   "pbc without a cell");
    if (cell) {
      check(*cell, "cell", {3, 3});
      c = cell->to(dtype_).unsqueeze(0);
      if (pbc) {
        check(*pbc, "pbc", {3});
        check.dtype(*pbc, "pbc", torch::kBool);
        p = pbc->view({1, 3});
      } else {
        p = torch::ones({1, 3}, torch::kBool);
      }
    }
    models::MolecularTransformerImpl::Prediction out;
    {
      // The autograd engine refuses to run under the GIL (it may call back into Python).
      py::gil_scoped_release no_gil;
      out = model_->predict(z.unsqueeze(0), pos.to(dtype_).unsqueeze(0), {}, c, p, stress);
    }
    return py::make_tuple(out.energy[0].item<double>(), out.forces[0],
                          stress ? py::cast(out.stress[0]) : py::none());
  }

  app::TrainedRun run_;
  std::shared_ptr<models::MolecularTransformerImpl> model_;
  torch::Dtype dtype_ = torch::kDouble;
  std::vector<int64_t> elements_;
};

}  // namespace

void bind_potential(py::module_& m) {
  py::class_<Potential>(m, "Potential",
                        "A trained `--task molecules` run folder as an interatomic potential")
      .def(py::init<const std::string&, const std::string&>(), py::arg("run_dir"),
           py::arg("dtype") = "float64")
      .def("compute", &Potential::compute, py::arg("z"), py::arg("pos"),
           py::arg("cell") = py::none(), py::arg("pbc") = py::none(), py::arg("stress") = false)
      .def_property_readonly("elements", [](const Potential& p) { return p.elements_; })
      .def_property_readonly("cutoff",
                             [](const Potential& p) { return p.model_->options.cutoff(); })
      .def_property_readonly(
          "with_forces",
          [](const Potential& p) { return p.run_.recorded.value("with_forces", false); })
      .def_property_readonly(
          "with_stress",
          [](const Potential& p) { return p.run_.recorded.value("with_stress", false); })
      .def_property_readonly("config",
                             [](const Potential& p) { return p.run_.config.to_json().dump(); });
}

}  // namespace topo::python
