// SPDX-License-Identifier: Apache-2.0
/// \file
/// 1-D relative positional encoding as a Toeplitz mask M_ij = f_h(i − j), applied by FFT in
/// O(L log L) (Luo et al., NeurIPS 2021; Choromanski et al., "From block-Toeplitz matrices to
/// differential equations on graphs", ICML 2022).
#pragma once

#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"

namespace topo::attention {

struct ToeplitzMaskOptions {
  ToeplitzMaskOptions(int64_t num_heads, int64_t max_length)
      : num_heads_(num_heads), max_length_(max_length) {}
  TORCH_ARG(int64_t, num_heads);
  /// Longest sequence; the table covers offsets −(max_length−1) … max_length−1.
  TORCH_ARG(int64_t, max_length);
  /// Zero every future offset (i − j < 0). Default: false.
  TORCH_ARG(bool, causal) = false;
  /// Default kLogitAdditive: M_ij = exp(b_h(i − j)), b initialised to 0 (M = ones).
  /// kMultiplicative: M_ij = b_h(i − j), b initialised to 1.
  TORCH_ARG(MaskSemantics, semantics) = MaskSemantics::kLogitAdditive;
};

/// Learnable per-head Toeplitz mask. Parameter `bias` [H, 2·max_length − 1]: entry
/// k + max_length − 1 belongs to offset k = i − j (query i, key j). Built over sequences of
/// any length L ≤ max_length.
class ToeplitzMaskImpl : public MaskImpl {
 public:
  explicit ToeplitzMaskImpl(const ToeplitzMaskOptions& options_);
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  void pretty_print(std::ostream& stream) const override;

  /// f_h(k) for k = −(L−1) … L−1: [H, 2L − 1], causal offsets zeroed.
  torch::Tensor offset_values(int64_t length);

  ToeplitzMaskOptions options;
  torch::Tensor bias;
};
TORCH_MODULE(ToeplitzMask);

}  // namespace topo::attention
