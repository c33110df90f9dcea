// SPDX-License-Identifier: Apache-2.0
/// \file
/// The causal mask M_ij = [j ≤ i], applied by prefix sums in O(L·C).
#pragma once

#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"

namespace topo::attention {

class CausalMaskImpl : public Mask {
 public:
  CausalMaskImpl() = default;
  torch::Tensor apply(const torch::Tensor& x) override;
  torch::Tensor dense(int64_t length, const torch::TensorOptions& options) override;
  bool is_causal() const override { return true; }
  void pretty_print(std::ostream& stream) const override;
};
TORCH_MODULE(CausalMask);

}  // namespace topo::attention
