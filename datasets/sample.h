// SPDX-License-Identifier: Apache-2.0
/// \file
/// One example of a dataset in PyTorch Geometric's terms (a `Data` object): nodes with
/// positions and features, optional graph, targets. Undefined tensors are absent fields.
#pragma once

#include <torch/types.h>

#include <string>

namespace topo::datasets {

struct Sample {
  torch::Tensor pos{};         ///< [N, d] positions (Å for molecules, pixels for MNIST)
  torch::Tensor x{};           ///< [N, F] node features
  torch::Tensor z{};           ///< [N] int64 atomic numbers
  torch::Tensor edge_index{};  ///< [2, E] int64
  torch::Tensor edge_attr{};   ///< [E, F_e]
  torch::Tensor y{};           ///< targets: [] class id (int64) or [T] values
  torch::Tensor forces{};      ///< [N, 3] per-atom forces
  std::string name{};          ///< file (and frame) it came from
  /// Periodic systems: the cell [3, 3] (rows = lattice vectors a₁, a₂, a₃, Å, as in ASE), its
  /// periodic axes `pbc` [3] bool, and the stress [3, 3] (energy/Å³, ASE's sign: (1/V) ∂E/∂ε).
  torch::Tensor cell{};
  torch::Tensor pbc{};
  torch::Tensor stress{};

  /// N from the first defined node-level tensor.
  int64_t num_nodes() const;
};

}  // namespace topo::datasets
