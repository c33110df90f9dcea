// SPDX-License-Identifier: Apache-2.0
/// \file
/// d-dimensional relative positional encoding on a grid n_1×…×n_d (d = 1..3): the d-level
/// block-Toeplitz mask M_ij = f_h(r_i − r_j) over lattice offsets, applied by a zero-padded
/// d-dimensional FFT in O(L log L) (Choromanski et al., "From block-Toeplitz matrices to
/// differential equations on graphs", ICML 2022; TopViT's 2-D table).
#pragma once

#include <torch/nn/pimpl.h>

#include <vector>

#include "attention/masks/mask.h"

namespace topo::attention {

struct BlockToeplitzMaskOptions {
  BlockToeplitzMaskOptions(int64_t num_heads, std::vector<int64_t> grid_shape)
      : num_heads_(num_heads), grid_shape_(std::move(grid_shape)) {}
  TORCH_ARG(int64_t, num_heads);
  /// Grid sizes n_1 … n_d, row-major token order (the last axis varies fastest).
  TORCH_ARG(std::vector<int64_t>, grid_shape);
  /// A first token (CLS) that attends to and is attended by every token, unmasked (M = 1 on
  /// its row and column). Default: false.
  TORCH_ARG(bool, cls_token) = false;
  /// Default kMultiplicative: M = f, table initialised to 1 (TopViT). kLogitAdditive:
  /// M = exp(f), table initialised to 0.
  TORCH_ARG(MaskSemantics, semantics) = MaskSemantics::kMultiplicative;
};

/// Learnable per-head block-Toeplitz mask. Parameter `table` [H, 2n_1−1, …, 2n_d−1]: entry
/// (Δ_1 + n_1 − 1, …) belongs to the lattice offset Δ = r_i − r_j.
/// Built over contexts of exactly `length()` tokens.
class BlockToeplitzMaskImpl : public MaskImpl {
 public:
  explicit BlockToeplitzMaskImpl(const BlockToeplitzMaskOptions& options_);
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  void pretty_print(std::ostream& stream) const override;

  /// Tokens L = n_1·…·n_d (+1 with the CLS token).
  int64_t length() const;

  BlockToeplitzMaskOptions options;
  torch::Tensor table;
};
TORCH_MODULE(BlockToeplitzMask);

}  // namespace topo::attention
