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
#include <optional>
#include <tuple>
#include <vector>

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
///     .masks({make_mask("toeplitz", 8, {{"max_length", int64_t{1024}}})}));
/// ```
struct LinearAttentionOptions {
  LinearAttentionOptions(int64_t embed_dim, int64_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads) {}
  TORCH_ARG(int64_t, embed_dim);
  TORCH_ARG(int64_t, num_heads);
  /// Feature map settings; its head_dim and num_heads are set by the module.
  /// Default: FAVOR+ positive orthogonal features, m = 128, no redraw.
  TORCH_ARG(FeatureMapOptions, feature_map) = FeatureMapOptions(1);
  /// Causal attention without a mask (with masks, causality is the masks'). Default: false.
  TORCH_ARG(bool, causal) = false;
  /// Topological masks (registered as submodules "mask_0", …), multiplied: low-rank masks (FLT)
  /// fold into the features, and at most one other mask is applied by Alg. 1 (or its own
  /// faster exact algorithm). Self-attention only.
  TORCH_ARG(std::vector<std::shared_ptr<MaskImpl>>, masks) = {};
  /// Bias in the input and output projections. Default: true.
  TORCH_ARG(bool, bias) = true;
  /// Tokens per chunk of the causal scan. Default: 128.
  TORCH_ARG(int64_t, chunk_size) = 128;
};

/// Multi-head linear attention with input/output projections, batch-first [B, L, E] tensors:
/// the one attention layer of topoformer (TransformerBlock holds one, as LibTorch's encoder
/// layer holds MultiheadAttention). In training mode each forward counts one step of the
/// feature map's redraw schedule.
class LinearAttentionImpl : public torch::nn::Cloneable<LinearAttentionImpl> {
 public:
  explicit LinearAttentionImpl(const LinearAttentionOptions& options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// Throws for a module with masks (mask modules are not cloneable: the copy would share them).
  std::shared_ptr<torch::nn::Module> clone(
      const c10::optional<torch::Device>& device = c10::nullopt) const override;

  /// query [B, L, E], key and value [B, S, E]; key_padding_mask [B, S] bool (true = padded);
  /// segment_ids [B, L] int64 (self-attention packing; not with masks); `context` the batch's
  /// structure the masks are built from (positions, graph, shared cache) — without one, masks
  /// that need only the length are built from the inputs' shape. Returns [B, L, E].
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& key,
                        const torch::Tensor& value, const torch::Tensor& key_padding_mask = {},
                        const torch::Tensor& segment_ids = {},
                        const MaskContext* context = nullptr);

  /// The steps of forward, for blocks that swap the attention itself (Combiner):
  /// [B, L, E] inputs → per-head q, k, v [B, H, L, E/H] …
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> project(const torch::Tensor& query,
                                                                  const torch::Tensor& key,
                                                                  const torch::Tensor& value);
  /// … masked linear attention over them → [B, H, L, E/H] …
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                       const torch::Tensor& key_padding_mask = {},
                       const torch::Tensor& segment_ids = {}, const MaskContext* context = nullptr);
  /// … and the output projection → [B, L, E].
  torch::Tensor merge(const torch::Tensor& attended);

  LinearAttentionOptions options;
  FeatureMap feature_map = nullptr;
  torch::nn::Linear q_proj = nullptr, k_proj = nullptr, v_proj = nullptr, out_proj = nullptr;
  std::vector<std::shared_ptr<MaskImpl>> masks;
};
TORCH_MODULE(LinearAttention);

}  // namespace topo::attention
