// SPDX-License-Identifier: Apache-2.0
/// \file
/// The exact local relative positional encoding as a mask over token positions:
/// M_ij = f_h(|r_i − r_j|) inside a radius, 0 beyond (geometry/local_rpe.h), applied as a sparse
/// product over the radius neighbourhoods. Smooth in the positions with `smooth_cutoff`, so
/// forces (−∂E/∂r) stay continuous.
#pragma once

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"
#include "geometry/local_rpe.h"

namespace topo::attention {

/// Submodule `rpe` (the learned profile). Built over contexts with positions.
class LocalRPEMaskImpl : public MaskImpl {
 public:
  explicit LocalRPEMaskImpl(const geometry::LocalRPEOptions& options_);
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  bool sparse() const override { return true; }
  void pretty_print(std::ostream& stream) const override;

  geometry::LocalRPEOptions options;
  geometry::LocalRPE rpe{nullptr};
};
TORCH_MODULE(LocalRPEMask);

}  // namespace topo::attention
