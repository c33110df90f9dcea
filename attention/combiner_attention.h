// SPDX-License-Identifier: Apache-2.0
/// \file
/// Combiner attention (Ren et al., "Combiner: Full attention transformer with sparse computation
/// cost", NeurIPS 2021): full attention capability at sub-quadratic cost. Every query i attends to
/// every allowed key, directly inside its own part Ω⁰_i and through region summaries elsewhere:
///
///   out_i = [Σ_{j∈Ω⁰_i} e^{s_ij} v_j + Σ_r e^{q_i·k̄_r/√d} v̄_r] / Z_i   (one joint softmax)
///   k̄_r = maxpool_{j∈Ω_r} k_j,  q̄_r = maxpool_{j∈Ω_r} q_j,
///   v̄_r = Σ_{j∈Ω_r} softmax_j(q̄_r·k_j/√d) v_j,
///
/// so the implied attention q(j|i) is a distribution with full support (every allowed key
/// gets non-zero weight), rank one inside each region.
///
/// Variants (T = tokens, s = block size, grid n × m):
///   - kFixed: Ω⁰ = own block of s tokens (causal: up to i); regions = the other blocks
///     (causal: earlier blocks). O(T·(s + T/s)), O(T√T) at s = √T. Unlike the official code,
///     a query's own block is never counted twice in bidirectional mode.
///   - kLogsparse: Ω⁰ = {i}; regions = the aligned dyadic blocks that tile [0, i) (one per set
///     bit of i) and, bidirectional, (i, T) (tokens padded to a power of two). O(T log T).
///   - kAxialVertical (tokens on an n × m grid, row-major): Ω⁰ = own row (causal: left of i)
///     and own column (other rows; causal: above); regions = the other columns, restricted to
///     rows above i (causal) or to rows ≠ row(i). O(T√T).
///   - kAxialHorizontal: same Ω⁰; regions = the other rows (causal: the rows above) without
///     column(i).
///   - kAxialMixture: the average of the vertical and horizontal outputs (the paper's
///     definition; the official code instead merges them into one softmax).
/// Any length works: blocks and grids are padded internally with masked tokens.
#pragma once

#include <torch/arg.h>
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <vector>

namespace topo::attention {

enum class CombinerVariant { kFixed, kLogsparse, kAxialVertical, kAxialHorizontal, kAxialMixture };

struct CombinerFuncOptions {
  TORCH_ARG(CombinerVariant, variant) = CombinerVariant::kFixed;
  /// Query i sees only keys j ≤ i.
  TORCH_ARG(bool, causal) = false;
  /// [B, S] bool, true where a key is padding (never attended to, never summarised).
  TORCH_ARG(torch::Tensor, key_padding_mask) = {};
  /// kFixed: tokens per block; 0 means ceil(√T).
  TORCH_ARG(int64_t, block_size) = 0;
  /// Axial variants: {n, m} with n·m ≥ T (images: n·m = T); empty means m = ceil(√T),
  /// n = ceil(T / m).
  TORCH_ARG(std::vector<int64_t>, grid_shape) = {};
};

/// `q`, `k`, `v` [B, H, T, D] (self-attention: one sequence) → [B, H, T, D]. Outputs of
/// padded query positions are unspecified (zero where a row has nothing to attend to).
torch::Tensor combiner_attention(const torch::Tensor& q, const torch::Tensor& k,
                                 const torch::Tensor& v, const CombinerFuncOptions& options = {});

struct CombinerAttentionOptions {
  CombinerAttentionOptions(int64_t embed_dim, int64_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads) {}
  TORCH_ARG(int64_t, embed_dim);
  TORCH_ARG(int64_t, num_heads);
  TORCH_ARG(CombinerVariant, variant) = CombinerVariant::kFixed;
  TORCH_ARG(bool, causal) = false;
  TORCH_ARG(int64_t, block_size) = 0;
  TORCH_ARG(std::vector<int64_t>, grid_shape) = {};
  TORCH_ARG(bool, bias) = true;
};

/// Multi-head Combiner self-attention with input and output projections; batch-first
/// [B, T, E] like LinearAttention.
class CombinerAttentionImpl : public torch::nn::Cloneable<CombinerAttentionImpl> {
 public:
  explicit CombinerAttentionImpl(const CombinerAttentionOptions& options_);
  void reset() override;
  void pretty_print(std::ostream& stream) const override;
  /// `x` [B, T, E], `key_padding_mask` [B, T] bool (true = pad) → [B, T, E].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask = {});

  CombinerAttentionOptions options;
  torch::nn::Linear qkv_proj{nullptr};
  torch::nn::Linear out_proj{nullptr};
};
TORCH_MODULE(CombinerAttention);

}  // namespace topo::attention
