// SPDX-License-Identifier: Apache-2.0
/// \file
/// The FLT spectral relative positional encoding (FourierLearner-Transformers, Choromanski et
/// al., AISTATS 2024) as a mask over token positions: M_ij ≈ f_h(r_i − r_j) = Φ_Q(r_i)·Φ_K(r_j)
/// from the module's learned spectral density (geometry/spectral_rpe.h). Multiplicative (any
/// feature map; a constant column adds 1, which keeps M positive while the estimate stays above
/// −1 — not guaranteed for signed families or large amplitudes) it is a low-rank mask, folded
/// into the features when another mask is present; logit-additive (softmax kernels only) it
/// widens queries and keys (FLT's concatenated form).
#pragma once

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"
#include "geometry/spectral_rpe.h"

namespace topo::attention {

struct FLTMaskOptions {
  FLTMaskOptions(int64_t num_heads, int64_t dim) : num_heads_(num_heads), dim_(dim) {}
  TORCH_ARG(int64_t, num_heads);
  /// Dimension d of the positions.
  TORCH_ARG(int64_t, dim);
  /// R random frequencies (the factors have 2R columns).
  TORCH_ARG(int64_t, num_features) = 16;
  TORCH_ARG(geometry::SpectralFamily, family) = geometry::SpectralFamily::kGaussianMixture;
  TORCH_ARG(double, length_scale) = 0.5;
  /// kLogitAdditive needs a softmax-kernel feature map.
  TORCH_ARG(MaskSemantics, semantics) = MaskSemantics::kLogitAdditive;
};

/// Submodule `rpe` (the spectral RPE and its parameters). Built over contexts with positions.
class FLTMaskImpl : public MaskImpl {
 public:
  explicit FLTMaskImpl(const FLTMaskOptions& options_);
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  int64_t extra_input_dims() const override;
  bool low_rank() const override { return true; }
  void pretty_print(std::ostream& stream) const override;

  FLTMaskOptions options;
  geometry::SpectralRPE rpe{nullptr};
};
TORCH_MODULE(FLTMask);

/// "gaussian-mixture" | "gaussian" | "matern" | "cauchy" | "local-box", and back.
geometry::SpectralFamily spectral_family_from_string(const std::string& name);
std::string to_string(geometry::SpectralFamily family);

}  // namespace topo::attention
