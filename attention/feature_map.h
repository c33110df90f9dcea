// SPDX-License-Identifier: Apache-2.0
/// \file
/// Feature maps φ for linear attention, K(q, k) ≈ φ(q)ᵀφ(k):
/// FAVOR+ positive and hyperbolic random features for the softmax kernel and ReLU random
/// features (Choromanski et al., "Rethinking Attention with Performers", ICLR 2021), and the
/// deterministic maps relu and elu+1 (Katharopoulos et al., ICML 2020).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <optional>

#include "attention/random_projection.h"

namespace topo::attention {

enum class FeatureMapKind {
  /// φ(x) = exp(Wx̃ − |x̃|²/2)/√m, x̃ = x·d^(-1/4): unbiased for exp(q·k/√d). m features.
  kSoftmaxPositive,
  /// φ(x) = exp(−|x̃|²/2)/√(2m)·[exp(Wx̃), exp(−Wx̃)]: lower variance. 2m features.
  kSoftmaxHyperbolic,
  /// φ(x) = relu(Wx̃)/√m + ε (the Performer's generalised ReLU kernel). m features.
  kReluRandom,
  /// φ(x) = relu(x) + ε (deterministic). d features.
  kRelu,
  /// φ(x) = elu(x) + 1 (deterministic, linear transformer). d features.
  kEluPlusOne,
  /// Exact softmax on a sparse mask's edges: φ(x) = x̃ = x·d^(-1/4), and attention weighs edge
  /// (i, j) by M_ij exp(φ(q_i)·φ(k_j)) = M_ij exp(q_i·k_j/√d) (SparseMaskOperator::
  /// softmax_attend; GAT-style local attention, Veličković et al. 2018; Shi et al. 2021). Only
  /// with one sparse mask (adjacency, local-rpe) and logit-additive low-rank masks. d features.
  kSoftmaxExact,
};

/// Kinds whose kernel is exp(q·k/√d) (estimated or exact): logit-additive masks apply to them.
inline bool is_softmax_kernel(FeatureMapKind kind) {
  return kind == FeatureMapKind::kSoftmaxPositive || kind == FeatureMapKind::kSoftmaxHyperbolic ||
         kind == FeatureMapKind::kSoftmaxExact;
}

/// Which side of attention a feature map is applied to; it selects the stabiliser.
enum class FeatureRole {
  kQuery,      ///< per-row max subtracted (cancels in the normaliser)
  kKey,        ///< one max over features and all (unpadded) keys of each (batch, head)
  kCausalKey,  ///< a data-independent bound max_r |w_r|²/2: no future key can influence an
               ///< earlier output (a global key max would, once ε > 0)
};

/// Options for `FeatureMap`.
///
/// Example:
/// ```
/// FeatureMap phi(FeatureMapOptions(/*head_dim=*/64, /*num_heads=*/4).num_features(128)
///                    .redraw_interval(1000).layer_id(3));
/// ```
struct FeatureMapOptions {
  FeatureMapOptions(int64_t head_dim, int64_t num_heads = 1)
      : head_dim_(head_dim), num_heads_(num_heads) {}
  /// Input dimension d per head.
  TORCH_ARG(int64_t, head_dim);
  /// Heads; random kinds draw one projection per head.
  TORCH_ARG(int64_t, num_heads);
  /// Default: kSoftmaxPositive.
  TORCH_ARG(FeatureMapKind, kind) = FeatureMapKind::kSoftmaxPositive;
  /// Random features m per head (random kinds). Default: 128.
  TORCH_ARG(int64_t, num_features) = 128;
  /// Orthogonal random features (block QR) or i.i.d. Gaussian rows. Default: true.
  TORCH_ARG(bool, orthogonal) = true;
  /// Row-length convention of the projection. Default: kChi.
  TORCH_ARG(ProjectionNorm, norm) = ProjectionNorm::kChi;
  /// Training forward passes between redraws (counted by `step()`); 0 never redraws. Default: 0.
  TORCH_ARG(int64_t, redraw_interval) = 0;
  /// Layer index mixed into the seed so layers draw different matrices. Default: 0.
  TORCH_ARG(int64_t, layer_id) = 0;
  /// Base seed; the projection of head h after r redraws is drawn from
  /// projection_seed(seed, r, layer_id, h). Default: 0.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Added to every feature. Default: 0 for the softmax kinds (so stabilisers cancel exactly;
  /// the normaliser is guarded instead), 1e-3 for the ReLU kinds, 0 for elu+1.
  TORCH_ARG(std::optional<double>, epsilon) = std::nullopt;
  /// Scale inputs by d^(-1/4) (random kinds) so φ(q)ᵀφ(k) estimates exp(q·k/√d). Turn off when
  /// the caller has scaled already (e.g. logit-additive low-rank masks). Default: true.
  TORCH_ARG(bool, normalize_inputs) = true;
};

/// Applies φ to [B, H, L, d] inputs, giving [B, H, L, F] features (F = `feature_dim()`).
///
/// The projection is a buffer (`projection`, [H, m, d]) so checkpoints reload it; the redraw
/// counters are buffers too. Redraws happen only in `step()`, only in training mode.
class FeatureMapImpl : public torch::nn::Cloneable<FeatureMapImpl> {
 public:
  explicit FeatureMapImpl(const FeatureMapOptions& options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// φ(x). `key_padding_mask` ([B, L] bool, true = padded) keeps padded keys out of the key
  /// stabiliser; their features are NOT zeroed here (attention does that).
  torch::Tensor forward(const torch::Tensor& x, FeatureRole role = FeatureRole::kQuery,
                        const torch::Tensor& key_padding_mask = {});

  /// Counts one training forward pass and redraws when `redraw_interval` passes are done.
  /// Does nothing in eval mode. Returns whether it redrew.
  bool step();
  /// Draws the projection for the current redraw count (deterministic).
  void redraw();

  int64_t feature_dim() const;
  bool is_random() const;

  FeatureMapOptions options;
  torch::Tensor projection;          ///< [H, m, d] buffer (undefined for deterministic kinds)
  torch::Tensor redraw_count;        ///< int64 scalar buffer: redraws so far
  torch::Tensor steps_since_redraw;  ///< int64 scalar buffer
};
TORCH_MODULE(FeatureMap);

/// Functional φ with an explicit projection ([H, m, d], or undefined for deterministic kinds).
torch::Tensor feature_map(const torch::Tensor& x, FeatureMapKind kind,
                          const torch::Tensor& projection, FeatureRole role,
                          const torch::Tensor& key_padding_mask = {},
                          std::optional<double> epsilon = std::nullopt,
                          bool normalize_inputs = true);

}  // namespace topo::attention
