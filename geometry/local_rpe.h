// SPDX-License-Identifier: Apache-2.0
/// \file
/// Local exact relative positional encoding: M_ij = f_h(|r_i − r_j|) for |r_i − r_j| < radius
/// and 0 beyond, with a learnable profile f_h per head. No approximation: the mask is sparse
/// (radius neighbourhoods from the kd-tree) and is applied as a sparse product in O(N·k)
/// (attention::SparseMask over the returned edges).
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace topo::geometry {

struct LocalRPEOptions {
  LocalRPEOptions(int64_t num_heads, double radius) : num_heads_(num_heads), radius_(radius) {}
  TORCH_ARG(int64_t, num_heads);
  /// Neighbourhood radius (strict: pairs at distance < radius).
  TORCH_ARG(double, radius);
  /// The profile has num_bins + 1 knots at distances radius·k/num_bins, interpolated by a C¹
  /// cubic (Hermite with central-difference slopes), so its derivative (forces) is continuous.
  TORCH_ARG(int64_t, num_bins) = 8;
  /// Keep at most this many nearest neighbours per point (−1: all).
  TORCH_ARG(int64_t, max_neighbours) = -1;
  /// Multiply f by the cosine envelope ½(cos(π d / radius) + 1), so the mask goes to zero
  /// smoothly at the radius (needed when forces are derivatives of the output).
  TORCH_ARG(bool, smooth_cutoff) = false;
};

/// The non-zeros of the mask over flattened tokens (b·L + i): row 0 queries, row 1 keys.
struct LocalRPEMask {
  torch::Tensor edge_index;  ///< [2, E] int64
  torch::Tensor values;      ///< [H, E] = f_h(|r_i − r_j|) (periodic: of the edge's image)
  int64_t batch_size = 0;
  int64_t length = 0;
};

class LocalRPEImpl : public torch::nn::Cloneable<LocalRPEImpl> {
 public:
  explicit LocalRPEImpl(const LocalRPEOptions& options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// `pos` [B, L, d], `key_padding_mask` [B, L] bool (true = padding, never a neighbour) →
  /// the mask's non-zeros, differentiable in `pos` and the profile. Self pairs are included.
  /// Periodic systems (d = 3): element b in cell `cell`[b] [B, 3, 3] with periodic axes
  /// `pbc`[b] [B, 3] bool (geometry/periodic.h): every image j + n·cell within the radius is
  /// an edge (i, j) of value f_h(|r_j + n·cell − r_i|), so pairs seen through several images
  /// sum them: M_ij = Σ_n f_h(…); the values are differentiable in `cell` too (stress).
  LocalRPEMask forward(const torch::Tensor& pos, const torch::Tensor& key_padding_mask = {},
                       const torch::Tensor& cell = {}, const torch::Tensor& pbc = {});

  /// f_h(distance) = exp(log_profile_h interpolated at distance) (× the envelope with
  /// smooth_cutoff) → [H, ...].
  torch::Tensor profile(const torch::Tensor& distance);

  LocalRPEOptions options;
  /// Learnable log f at the knots [H, num_bins + 1]; starts at 0 (f = 1 inside the radius).
  torch::Tensor log_profile;
};
TORCH_MODULE(LocalRPE);

}  // namespace topo::geometry
