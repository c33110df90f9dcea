// SPDX-License-Identifier: Apache-2.0
/// \file
/// Linear attention out_i = Σ_j φ(q_i)ᵀφ(k_j) v_j / Σ_j φ(q_i)ᵀφ(k_j), bidirectional in
/// O(L·m·d) and causal by a chunked prefix-sum scan; key padding and packed sequences
/// (Katharopoulos et al., ICML 2020; Choromanski et al., "Rethinking Attention with Performers",
/// ICLR 2021). The multi-head module also takes any topological mask (masked_linear_attention.h).
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <torch/types.h>

#include <memory>

#include "attention/feature_map.h"
#include "attention/masks/mask.h"

namespace topo::attention {

/// Options for the functional `linear_attention`.
struct LinearAttentionFuncOptions {
  /// Query i attends to keys j ≤ i (needs L == S). Default: false.
  TORCH_ARG(bool, causal) = false;
  /// [B, S] bool, true = padded key: removed from numerator and denominator (its features are
  /// zeroed, not only its value).
  TORCH_ARG(torch::Tensor, key_padding_mask) = {};
  /// [B, L] int64 ids ≥ 0 of packed sequences: no attention crosses segments. Costs a factor
  /// (number of segments) in the value width.
  TORCH_ARG(torch::Tensor, segment_ids) = {};
  /// [B, S] int64 key segment ids for cross-attention. Default: `segment_ids`.
  TORCH_ARG(torch::Tensor, key_segment_ids) = {};
  /// Tokens per chunk of the causal scan. Default: 128.
  TORCH_ARG(int64_t, chunk_size) = 128;
};

/// Normalised linear attention on features.
///
/// \param phi_q [B, H, L, M] query features (non-negative for a positive normaliser).
/// \param phi_k [B, H, S, M] key features.
/// \param v     [B, H, S, D] values.
/// \return      [B, H, L, D]. A query with no attention mass (every key padded or in other
///              segments) gets zeros.
///
/// Example:
/// ```
/// auto out = linear_attention(phi_q, phi_k, v, LinearAttentionFuncOptions().causal(true));
/// ```
torch::Tensor linear_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                               const torch::Tensor& v,
                               const LinearAttentionFuncOptions& options = {});

/// Options for the `LinearAttention` module.
///
/// Example:
/// ```
/// LinearAttention attention(LinearAttentionOptions(/*embed_dim=*/256, /*num_heads=*/8)
///     .feature_map(FeatureMapOptions(0).num_features(128).redraw_interval(1000))
///     .mask(ToeplitzMask(ToeplitzMaskOptions(8, 1024)).ptr()));
/// ```
struct LinearAttentionOptions {
  LinearAttentionOptions(int64_t embed_dim, int64_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads) {}
  TORCH_ARG(int64_t, embed_dim);
  TORCH_ARG(int64_t, num_heads);
  /// Feature map settings; its head_dim and num_heads are set by the module.
  /// Default: FAVOR+ positive orthogonal features, m = 128, no redraw.
  TORCH_ARG(FeatureMapOptions, feature_map) = FeatureMapOptions(1);
  /// Causal attention without a mask (with a mask, causality is the mask's). Default: false.
  TORCH_ARG(bool, causal) = false;
  /// A topological mask applied by masked_linear_attention; registered as submodule "mask".
  TORCH_ARG(std::shared_ptr<Mask>, mask) = nullptr;
  /// Bias in the input and output projections. Default: true.
  TORCH_ARG(bool, bias) = true;
  /// Tokens per chunk of the causal scan. Default: 128.
  TORCH_ARG(int64_t, chunk_size) = 128;
};

/// Multi-head linear attention with input/output projections, batch-first [B, L, E] tensors.
/// In training mode each forward counts one step of the feature map's redraw schedule.
class LinearAttentionImpl : public torch::nn::Cloneable<LinearAttentionImpl> {
 public:
  explicit LinearAttentionImpl(const LinearAttentionOptions& options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;

  /// query [B, L, E], key and value [B, S, E]; key_padding_mask [B, S] bool (true = padded);
  /// segment_ids [B, L] int64 (self-attention packing; not with a mask). Returns [B, L, E].
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& key,
                        const torch::Tensor& value, const torch::Tensor& key_padding_mask = {},
                        const torch::Tensor& segment_ids = {});

  LinearAttentionOptions options;
  FeatureMap feature_map = nullptr;
  torch::nn::Linear q_proj = nullptr, k_proj = nullptr, v_proj = nullptr, out_proj = nullptr;
  std::shared_ptr<Mask> mask;
};
TORCH_MODULE(LinearAttention);

}  // namespace topo::attention
