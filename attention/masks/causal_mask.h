// SPDX-License-Identifier: Apache-2.0
/// \file
/// The causal mask M_ij = [j ≤ i]: prefix sums in O(L·C), and for the whole attention the
/// chunked causal scan of linear_attention (same result, O(L·(m + d)) memory).
#pragma once

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"

namespace topo::attention {

struct CausalMaskOptions {
  /// Tokens per chunk of the causal scan. Default: 128.
  TORCH_ARG(int64_t, chunk_size) = 128;
};

class CausalMaskImpl : public MaskImpl {
 public:
  explicit CausalMaskImpl(const CausalMaskOptions& options_ = {});
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  void pretty_print(std::ostream& stream) const override;

  CausalMaskOptions options;
};
TORCH_MODULE(CausalMask);

}  // namespace topo::attention
