// SPDX-License-Identifier: Apache-2.0
#include "app/potential.h"

#include <torch/torch.h>

#include <algorithm>

#include "common/check.h"
#include "models/molecular_transformer.h"

namespace topo::app {

Potential::Potential(const std::string& run_dir, const std::string& dtype) {
  TOPO_CHECK_ARG(dtype == "float64" || dtype == "float32", "Potential", "dtype",
                 "\"float64\" or \"float32\"", "\"" + dtype + "\"");
  run_ = load_run(run_dir);
  TOPO_CHECK_ARG(run_.config.text("task") == "molecules", "Potential", "run_dir",
                 "the folder of a `--task molecules` run",
                 c10::str(run_dir, " (a ", run_.config.text("task"), " run)"));
  model_ = std::dynamic_pointer_cast<models::MolecularTransformerImpl>(run_.model);
  TOPO_INTERNAL_ASSERT(model_ != nullptr, "a molecules run builds a MolecularTransformer");
  TOPO_CHECK_ARG(model_->options.readout() == models::Readout::kSum, "Potential", "run_dir",
                 "a run with --readout sum (an energy whose derivatives are forces)",
                 c10::str(run_dir, " (--readout ", run_.config.text("readout"), ")"));
  dtype_ = dtype == "float64" ? torch::kDouble : torch::kFloat;
  model_->to(dtype_);
  elements_ = run_.recorded.at("elements").get<std::vector<int64_t>>();
  std::sort(elements_.begin(), elements_.end());
}

double Potential::cutoff() const { return model_->options.cutoff(); }

Potential::Result Potential::compute(const at::Tensor& z, const at::Tensor& pos,
                                     const std::optional<at::Tensor>& cell,
                                     const std::optional<at::Tensor>& pbc, bool stress,
                                     const std::string& caller) const {
  ShapeChecker check(caller);
  check(z, "z", {"N"});
  check(pos, "pos", {"N", 3});
  check.dtype(z, "z", torch::kLong);
  const auto z_cpu = z.cpu();
  const auto z_a = z_cpu.accessor<int64_t, 1>();
  for (int64_t a = 0; a < z.size(0); ++a) {
    TOPO_CHECK_ARG(
        std::binary_search(elements_.begin(), elements_.end(), z_a[a]), caller,
        c10::str("z[", a, "]"),
        c10::str("an element the model was trained on (Z in ", c10::Join(", ", elements_), ")"),
        z_a[a]);
  }
  TOPO_CHECK_ARG(!pbc || cell, caller, "pbc", "given with a `cell`", "pbc without a cell");
  torch::Tensor c, p;
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
  auto out = model_->predict(z.unsqueeze(0), pos.to(dtype_).unsqueeze(0), {}, c, p, stress);
  Result result;
  result.energy = out.energy[0].item<double>();
  result.atom_energies = out.atom_energies[0];
  result.forces = out.forces[0];
  if (stress) result.stress = out.stress[0];
  return result;
}

}  // namespace topo::app
