// SPDX-License-Identifier: Apache-2.0
/// \file
/// Molecular energies and forces with topologically masked linear attention: atoms are
/// embedded from their atomic numbers only and attend to each other through a mask over the
/// radius graph — an exact local RPE f_h(|r_i − r_j|) with a smooth cutoff (default), or any
/// graph mask (adjacency, diffusion, …) of the radius graph — optionally multiplied by an FLT
/// spectral RPE over the 3-D positions (masks from the registry); each atom contributes an energy
/// (plus a learnable per-element reference); E = Σ_i e_i. Forces are −∂E/∂r by autograd (double
/// backward when training on forces). Without FLT only distances enter, so E is invariant to
/// rotations and translations and F rotates with the molecule (tested); FLT depends on r_i − r_j
/// through fixed frequency vectors, so it keeps translation invariance exactly and rotation
/// invariance only in distribution over its frequency draw. Periodic systems (a cell per
/// element) take the local RPE or graph masks over periodic images (geometry/periodic.h) and
/// give the stress as well (predict).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <utility>
#include <vector>

#include "datasets/sample.h"
#include "geometry/local_rpe.h"
#include "models/transformer_block.h"

namespace topo::models {

/// How the per-atom terms become the model's output. kSum for extensive targets (energies: the
/// only readout forces and stress are defined for); kMean and kAttention (softmax weights from
/// each atom's features, Σ w_i = 1) for intensive ones (HOMO–LUMO gap, energy per atom), whose
/// value must not grow with the number of atoms.
enum class Readout { kSum, kMean, kAttention };
std::string to_string(Readout readout);
/// "sum", "mean", "attention"; throws naming the accepted values.
Readout readout_from_string(const std::string& name);

struct MolecularTransformerOptions {
  TORCH_ARG(int64_t, max_atomic_number) = 100;
  TORCH_ARG(int64_t, embed_dim) = 64;
  TORCH_ARG(int64_t, num_heads) = 4;
  TORCH_ARG(int64_t, num_layers) = 3;
  TORCH_ARG(int64_t, num_features) = 32;
  TORCH_ARG(attention::FeatureMapKind, feature_map) = attention::FeatureMapKind::kEluPlusOne;
  /// Radius (Å) of the radius graph that graph masks are built on, and the default radius of
  /// the local-rpe mask.
  TORCH_ARG(double, cutoff) = 5.0;
  TORCH_ARG(double, dropout) = 0.0;
  /// Radial density channels ρ_ik = log(1 + Σ_j g_k(|r_ij|)) over the atoms within the cutoff
  /// (periodic images included; j = i too, a constant g_k(0) per channel), added to the atom
  /// embeddings through a linear map.
  /// The profiles g_k are learnable, start as Gaussians spread over [0, cutoff] and vanish
  /// smoothly at the cutoff. Why: attention normalises its weights, so it cannot tell how many
  /// neighbours an atom has or how far they are when their values are alike — in a one-element
  /// solid every atom's values are equal and attention returns them unchanged whatever the
  /// mask, leaving energy, forces and stress blind to the geometry. These are the embedding
  /// densities of EAM/EMT (Daw & Baskes 1984; Jacobsen et al. 1996). 0: off.
  TORCH_ARG(int64_t, density_channels) = 16;
  /// Masks of every block, by registry name, over the atoms' positions (local-rpe, flt) or
  /// their radius graph (adjacency, diffusion, …). Default: the exact local RPE with a smooth
  /// cutoff (smooth in the positions, so forces are too). Graph masks of the radius graph have
  /// edges that appear and vanish at the cutoff, so energies jump there — prefer the local RPE
  /// when training on forces.
  TORCH_ARG(std::vector<attention::MaskSpec>, masks) = {{"local-rpe", {}}};
  TORCH_ARG(Readout, readout) = Readout::kSum;
};

class MolecularTransformerImpl : public torch::nn::Cloneable<MolecularTransformerImpl> {
 public:
  explicit MolecularTransformerImpl(const MolecularTransformerOptions& options_ = {});
  void reset() override;

  /// `z` [B, L] int64 atomic numbers (any value for padding), `pos` [B, L, 3] Å,
  /// `key_padding_mask` [B, L] → energies [B] (eV when trained on eV). Periodic systems:
  /// `cell` [B, 3, 3] (rows = lattice vectors, Å) and `pbc` [B, 3] bool (undefined: all
  /// periodic); atoms then interact with every periodic image within the cutoff, so E does not
  /// depend on which image of an atom `pos` holds.
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& pos,
                        const torch::Tensor& key_padding_mask = {}, const torch::Tensor& cell = {},
                        const torch::Tensor& pbc = {});
  /// The output as a sum over atoms: [B, L] (0 on padding) whose rows sum to forward(...). Each
  /// term is one atom's features after attention through the head (plus its element's
  /// reference), so it depends on all atoms; weighted by 1/n (kMean) or the pooling weights
  /// (kAttention).
  torch::Tensor atom_energies(const torch::Tensor& z, const torch::Tensor& pos,
                              const torch::Tensor& key_padding_mask = {},
                              const torch::Tensor& cell = {}, const torch::Tensor& pbc = {});

  /// What an MD engine asks of a potential.
  struct Prediction {
    torch::Tensor energy;         ///< [B]
    torch::Tensor atom_energies;  ///< [B, L], rows summing to `energy` (0 on padding; detached)
    torch::Tensor forces;         ///< [B, L, 3] = −∂E/∂pos (0 on padding)
    /// [B, 3, 3] = (1/V) ∂E/∂ε, the derivative under a symmetric strain ε of positions and
    /// cell (r → r(1 + ε)), in energy/Å³ (eV/Å³: ASE's sign and units); only with `stress`.
    torch::Tensor stress;
  };
  /// Energies, forces and (periodic systems, when `stress`) the stress in one backward pass.
  /// `create_graph` keeps the graph of forces and stress so a loss on them can be
  /// differentiated (training).
  Prediction predict(const torch::Tensor& z, const torch::Tensor& pos,
                     const torch::Tensor& key_padding_mask = {}, const torch::Tensor& cell = {},
                     const torch::Tensor& pbc = {}, bool stress = false, bool create_graph = false);
  /// (energies [B], forces [B, L, 3] = −∂E/∂pos) of open systems (predict without a cell).
  std::pair<torch::Tensor, torch::Tensor> energy_and_forces(
      const torch::Tensor& z, const torch::Tensor& pos, const torch::Tensor& key_padding_mask = {},
      bool create_graph = false);

  /// Sets the per-element energy offsets ([max_atomic_number + 1], e.g. fit_atom_references).
  void set_atom_references(const torch::Tensor& references);

  MolecularTransformerOptions options;
  torch::nn::Embedding embedding{nullptr};
  torch::nn::Embedding atom_reference{nullptr};  ///< per-element energy offsets [Z + 1, 1]
  geometry::LocalRPE density{nullptr};           ///< the density profiles g_k (or null)
  torch::nn::Linear density_projection{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Sequential head{nullptr};
  torch::nn::Linear pool{nullptr};  ///< attention-pooling logits (Readout::kAttention only)
};
TORCH_MODULE(MolecularTransformer);

/// Per-element reference energies [max_atomic_number + 1] (float64) by least squares: the energy
/// `y`[0] of each molecule ≈ Σ over its atoms of reference[z] (with `readout` kMean or
/// kAttention: the mean over its atoms, the fit at uniform weights). Solved with the
/// pseudo-inverse, since most element columns are empty (LibTorch 1.13's default lstsq driver
/// returns zeros for such rank-deficient systems). Elements absent from `molecules` get 0.
torch::Tensor fit_atom_references(const std::vector<datasets::Sample>& molecules,
                                  int64_t max_atomic_number, Readout readout = Readout::kSum);

}  // namespace topo::models
