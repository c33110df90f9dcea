// SPDX-License-Identifier: Apache-2.0
/// \file
/// FLT spectral relative positional encoding (FourierLearner-Transformers, Choromanski et al.,
/// AISTATS 2024) for points anywhere in R^d.
///
/// The mask M_ij = f(r_i − r_j) is learned through its spectral density g (Bochner):
/// f(Δ) = ∫ g(ξ) cos(2π ξ·Δ) dξ. R random frequencies turn it into low-rank factors,
///   φ(r) = R^(-1/2) · √ρ_k · [cos(2π ξ_k·r), sin(2π ξ_k·r)]_k     (2R columns),
/// with E[φ_Q(r_i)·φ_K(r_j)] = f(r_i − r_j). Use them as
///   - a multiplicative mask with any feature map: attention::LowRankMask(query, key), or the
///     row-wise Kronecker product of the features (rank m·2R);
///   - a logit bias for the softmax kernel, softmax(q·k/√d + f(r_i − r_j)):
///     attention::logit_additive_inputs(q, k, query, key) (FLT's concatenated form, rank m).
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

#include <utility>

namespace topo::geometry {

enum class SpectralFamily {
  /// g(ξ) = Σ_b w_b exp(−|ξ − μ_b|² / σ_b²) per head; f(Δ) = Σ_b w_b (π σ_b²)^(d/2)
  /// exp(−π² σ_b² |Δ|²) cos(2π μ_b·Δ). Weights, means and widths learnable; frequencies
  /// importance-sampled from a Gaussian proposal.
  kGaussianMixture,
  /// f(Δ) = a · exp(−|Δ|² / (2ℓ²)); frequencies drawn from g itself.
  kGaussian,
  /// f(Δ) = a · Matérn_ν(|Δ| / ℓ), ν ∈ {1/2 (Laplace kernel e^(−|Δ|/ℓ)), 3/2, 5/2}; g is a
  /// multivariate Student-t.
  kMatern,
  /// f(Δ) = a · Π_axes 1 / (1 + Δ_a² / ℓ²) (Cauchy kernel); g is a product of Laplace laws.
  kCauchy,
  /// Local RPE: f(Δ) = a · Π_axes box_v(Δ_a) with a learnable half-width v. The hard box's
  /// estimator has infinite variance (its transform, a sinc, is not square-integrable against
  /// any proposal), so the box edges are smoothed by a Gaussian of width τ = `edge_width`:
  /// box_v(x) = ½[erf((v − x)/(√2 τ)) + erf((v + x)/(√2 τ))], transform
  /// sin(2π v ξ)/(π ξ) · exp(−2π² τ² ξ²) (a signed sinc, importance-sampled).
  kLocalBox,
};

struct SpectralRPEOptions {
  SpectralRPEOptions(int64_t dim, int64_t num_heads) : dim_(dim), num_heads_(num_heads) {}
  /// Dimension d of the positions.
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(int64_t, num_heads);
  /// R random frequencies; the factors have 2R columns.
  TORCH_ARG(int64_t, num_features) = 64;
  TORCH_ARG(SpectralFamily, family) = SpectralFamily::kGaussianMixture;
  /// Mixture components per head (kGaussianMixture).
  TORCH_ARG(int64_t, num_components) = 4;
  /// Smoothness of kMatern: 0.5, 1.5 or 2.5.
  TORCH_ARG(double, matern_nu) = 1.5;
  /// Initial length scale ℓ (kernels, mixture widths) or half-width v (kLocalBox), in the
  /// units of the positions.
  TORCH_ARG(double, length_scale) = 1.0;
  /// Initial f(0) (kernels, box) or total mixture mass Σ_b f_b(0).
  TORCH_ARG(double, amplitude) = 1.0;
  /// Edge smoothing τ of kLocalBox; ≤ 0 means length_scale / 4.
  TORCH_ARG(double, edge_width) = -1.0;
  /// Standard deviation of the Gaussian proposal of the mixture; ≤ 0 means 1.5 × the initial
  /// components' spectral width, 1.5 / (2π ℓ).
  TORCH_ARG(double, proposal_scale) = -1.0;
  /// Draw fresh frequencies at every forward pass in training mode (torch's generator);
  /// otherwise they are drawn once and stored in the module state.
  TORCH_ARG(bool, redraw) = false;
};

class SpectralRPEImpl : public torch::nn::Cloneable<SpectralRPEImpl> {
 public:
  explicit SpectralRPEImpl(const SpectralRPEOptions& options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// `pos` [B, L, d] or [L, d] → (query factors, key factors), each [B, H, L, 2R] (B = 1 for
  /// unbatched positions), in pos's dtype. Differentiable in the positions and the spectral
  /// parameters.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& pos);

  /// The mask the factors estimate, in closed form: `delta` [..., d] → f(delta) [H, ...].
  torch::Tensor exact(const torch::Tensor& delta);
  /// Closed-form mask between two sets of positions: [B, L, d], [B, S, d] → [B, H, L, S].
  torch::Tensor exact_mask(const torch::Tensor& pos_query, const torch::Tensor& pos_key);

  /// Draws new standardised frequencies (called by forward when `redraw`).
  void redraw_frequencies();
  /// Frequencies ξ [H, R, d] (cycles per unit length) and signed importance weights ρ [H, R]
  /// of the current draw: f̂(Δ) = (1/R) Σ_k ρ_k cos(2π ξ_k·Δ).
  std::pair<torch::Tensor, torch::Tensor> spectral_sample();

  SpectralRPEOptions options;
  /// Standardised draws [H, R, d] (the family's base distribution), a buffer.
  torch::Tensor frequencies;
  // Learnable parameters (those of the chosen family are registered):
  torch::Tensor log_amplitude;     // [H]
  torch::Tensor log_length_scale;  // [H] (ℓ or v)
  torch::Tensor log_weights;       // [H, B] mixture
  torch::Tensor means;             // [H, B, d] mixture (cycles per unit length)
  torch::Tensor log_widths;        // [H, B] mixture, log σ²
};
TORCH_MODULE(SpectralRPE);

}  // namespace topo::geometry
