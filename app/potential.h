// SPDX-License-Identifier: Apache-2.0
/// \file
/// A trained `--task molecules` run folder as an interatomic potential: the one object MD engines
/// talk to (the ASE calculator through topoformer._C.Potential, LAMMPS's pair_style topoformer).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/commands.h"

namespace topo::models {
class MolecularTransformerImpl;
}

namespace topo::app {

class Potential {
 public:
  struct Result {
    double energy = 0;
    at::Tensor atom_energies;  ///< [N], summing to `energy` (MolecularTransformer::atom_energies)
    at::Tensor forces;         ///< [N, 3] = −∂E/∂pos, in the potential's dtype
    at::Tensor stress;  ///< [3, 3] = (1/V) ∂E/∂ε (ASE's sign, eV/Å³); undefined unless asked
  };

  /// Loads the run in `run_dir` (config.json + checkpoint.pt); `dtype` is "float64" (default:
  /// energy conservation in MD) or "float32". Errors name the folder or the setting.
  explicit Potential(const std::string& run_dir, const std::string& dtype = "float64");

  /// Energy, forces and (when `stress`) the stress of atoms `z` [N] (long) at `pos` [N, 3] (Å).
  /// `cell` [3, 3] (rows are lattice vectors) and `pbc` [3] (bool; default all periodic) make the
  /// system periodic; without a cell it is open. `caller` names the API in error messages.
  Result compute(const at::Tensor& z, const at::Tensor& pos,
                 const std::optional<at::Tensor>& cell = std::nullopt,
                 const std::optional<at::Tensor>& pbc = std::nullopt, bool stress = false,
                 const std::string& caller = "Potential.compute") const;

  /// Atomic numbers the model was trained on, ascending.
  const std::vector<int64_t>& elements() const { return elements_; }
  /// The model's neighbour cutoff (Å): the reach of each layer's local terms (local RPE, density
  /// channels, graph masks). Stacked layers, and global masks, reach further.
  double cutoff() const;
  const TrainedRun& run() const { return run_; }

 private:
  TrainedRun run_;
  std::shared_ptr<models::MolecularTransformerImpl> model_;
  c10::ScalarType dtype_ = c10::kDouble;
  std::vector<int64_t> elements_;
};

}  // namespace topo::app
