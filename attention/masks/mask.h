// SPDX-License-Identifier: Apache-2.0
/// \file
/// The mask interface of masked linear attention (Alg. 1 of Choromanski et al., "From
/// block-Toeplitz matrices to differential equations on graphs", ICML 2022): a mask is anything
/// that multiplies a [batch, heads, tokens, channels] tensor by M along the token axis fast.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

namespace topo::attention {

/// How a mask enters attention.
enum class MaskSemantics {
  /// out ∝ Σ_j M_ij K(q_i, k_j) v_j with M given directly (any feature map).
  kMultiplicative,
  /// the mask is a bias B added to the softmax logits: softmax(q·k/√d + B_ij), i.e. the
  /// multiplicative mask M = exp(B) for the softmax kernel.
  kLogitAdditive,
};

/// Base class of every mask. Masks are modules, so learnable masks register parameters and
/// train with the attention that owns them.
class Mask : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;

  /// Y = M·X along the token axis: `x` [B, H, S, C] (S keys) → [B, H, L, C] (L queries).
  /// Differentiable in `x` and in the mask's parameters. Never forms M.
  virtual torch::Tensor apply(const torch::Tensor& x) = 0;

  /// The dense M, [B or 1, H or 1, L, S], for tests and tiny inputs. `length` is the number of
  /// tokens for masks whose size is not fixed by their data (it is checked otherwise).
  virtual torch::Tensor dense(int64_t length, const torch::TensorOptions& options) = 0;

  /// True when M_ij = 0 for every j > i (the feature map then uses the causal key stabiliser).
  virtual bool is_causal() const { return false; }
};

}  // namespace topo::attention
