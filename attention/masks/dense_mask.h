// SPDX-License-Identifier: Apache-2.0
/// \file
/// A mask given as a dense matrix: the oracle for tests and the right choice for tiny inputs.
#pragma once

#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"

namespace topo::attention {

struct DenseMaskOptions {
  /// `matrix`: [B or 1, H or 1, L, S] (or [L, S]); M itself, or the logit bias B.
  explicit DenseMaskOptions(torch::Tensor matrix) : matrix_(std::move(matrix)) {}
  TORCH_ARG(torch::Tensor, matrix);
  /// Default: kMultiplicative (M = matrix); kLogitAdditive uses M = exp(matrix).
  TORCH_ARG(MaskSemantics, semantics) = MaskSemantics::kMultiplicative;
  /// Register the matrix as a parameter. Default: false (a buffer).
  TORCH_ARG(bool, learnable) = false;
};

/// M·X by a batched matrix product, O(L·S·C). Built over contexts of L tokens (and batch
/// size B when the matrix has a batch axis). Not in the registry (it needs the matrix).
class DenseMaskImpl : public MaskImpl {
 public:
  explicit DenseMaskImpl(const DenseMaskOptions& options);
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  void pretty_print(std::ostream& stream) const override;

  MaskSemantics semantics;
  torch::Tensor matrix;  ///< [B|1, H|1, L, S]
};
TORCH_MODULE(DenseMask);

/// The operator of a dense multiplicative M [B|1, H|1, L, S] (also usable on its own).
class DenseMaskOperator : public MaskOperator {
 public:
  explicit DenseMaskOperator(torch::Tensor matrix) : matrix_(std::move(matrix)) {}
  torch::Tensor apply(const torch::Tensor& x) const override;
  torch::Tensor dense(const torch::TensorOptions& options) const override;

 private:
  torch::Tensor matrix_;
};

}  // namespace topo::attention
