// SPDX-License-Identifier: Apache-2.0
/// \file
/// Stochastic Positional Encoding (Liutkus et al., "Relative positional encoding for
/// Transformers with linear complexity", ICML 2021): relative positional encodings for linear
/// attention. Queries and keys are filtered by R realisations of Gaussian processes whose
/// cross-covariance is the learned RPE P_d(m − n), so that
///   E[q̂_m · k̂_n] = √(R/D) · Σ_d q_{m,d} k_{n,d} P̃_d(m − n),
/// and any feature map then runs on the R-dimensional q̂, k̂ (its usual R^(-1/4) input
/// scaling turns √(R/D) into the familiar 1/√D temperature). Causal attention works
/// unchanged. Fresh noise is drawn at every forward pass from torch's generator.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <utility>

namespace topo::attention {

struct SineSPEOptions {
  SineSPEOptions(int64_t num_heads, int64_t head_dim)
      : num_heads_(num_heads), head_dim_(head_dim) {}
  TORCH_ARG(int64_t, num_heads);
  /// D, the query/key dimension per head.
  TORCH_ARG(int64_t, head_dim);
  /// R, the dimension of q̂ and k̂.
  TORCH_ARG(int64_t, num_realizations) = 64;
  /// K sinusoids per (head, dimension).
  TORCH_ARG(int64_t, num_sines) = 1;
  /// Mix in a position-independent component shared by queries and keys, with a learnable
  /// gate g per (head, dimension): P̃ = (1 − g)·P + g.
  TORCH_ARG(bool, gated) = true;
};

/// sineSPE: P_d(δ) = Σ_k λ_dk²/(2K) · cos(2π f_dk δ + θ_dk) with learnable frequencies
/// f ∈ (0, ½), phases θ and gains λ = softplus(γ).
class SineSPEImpl : public torch::nn::Cloneable<SineSPEImpl> {
 public:
  explicit SineSPEImpl(const SineSPEOptions& options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// `q` [B, H, L, D], `k` [B, H, S, D] → (q̂ [B, H, L, R], k̂ [B, H, S, R]).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& q, const torch::Tensor& k);
  /// The expected cross-covariance P̃_d(m − n) [H, D, L, L] (gate included), the test oracle.
  torch::Tensor positional_attention(int64_t length);

  SineSPEOptions options;
  torch::Tensor frequencies;  ///< [H, D, K], f = sigmoid(·)/2
  torch::Tensor offsets;      ///< [H, D, K], θ
  torch::Tensor gains;        ///< [H, D, K], λ = softplus(·)
  torch::Tensor gate;         ///< [H, D], g = sigmoid(·) (gated only)
};
TORCH_MODULE(SineSPE);

struct ConvSPEOptions {
  ConvSPEOptions(int64_t num_heads, int64_t head_dim)
      : num_heads_(num_heads), head_dim_(head_dim) {}
  TORCH_ARG(int64_t, num_heads);
  TORCH_ARG(int64_t, head_dim);
  TORCH_ARG(int64_t, num_realizations) = 64;
  /// P: the filters' length; the RPE has support |m − n| < P.
  TORCH_ARG(int64_t, kernel_size) = 64;
  TORCH_ARG(bool, gated) = true;
};

/// convSPE (1-D sequences): white noise filtered by two learnable filters per (head,
/// dimension); P_d = φ^Q_d ⋆ φ^K_d, their cross-correlation: P_d(δ) = Σ_t φ^Q_d[t] φ^K_d[t + δ].
class ConvSPEImpl : public torch::nn::Cloneable<ConvSPEImpl> {
 public:
  explicit ConvSPEImpl(const ConvSPEOptions& options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// `q` [B, H, L, D], `k` [B, H, L, D] (same length: the codes are positional) → (q̂, k̂).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& q, const torch::Tensor& k);
  torch::Tensor positional_attention(int64_t length);

  ConvSPEOptions options;
  torch::Tensor query_filters;  ///< [H, D, P]
  torch::Tensor key_filters;    ///< [H, D, P]
  torch::Tensor gate;           ///< [H, D]
};
TORCH_MODULE(ConvSPE);

}  // namespace topo::attention
