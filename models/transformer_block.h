// SPDX-License-Identifier: Apache-2.0
/// \file
/// A pre-norm transformer encoder block whose attention is topologically masked linear
/// attention (attention::LinearAttention, which it holds as LibTorch's encoder layer holds
/// MultiheadAttention): any feature map and any masks from the registry (FLT spectral RPE over
/// token positions, graph masks, local RPE, sequence masks), or Combiner attention instead.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "attention/combiner_attention.h"
#include "attention/feature_map.h"
#include "attention/linear_attention.h"
#include "attention/masks/registry.h"

namespace topo::models {

/// "softmax" (FAVOR+ positive) | "softmax-hyperbolic" | "relu-random" | "relu" | "elu" (elu+1) |
/// "softmax-exact" (exact softmax along a sparse mask's edges),
/// and back.
attention::FeatureMapKind feature_map_kind_from_string(const std::string& name);
std::string to_string(attention::FeatureMapKind kind);
/// The names above, in that order.
std::vector<std::string> feature_map_names();

struct TransformerBlockOptions {
  TransformerBlockOptions(int64_t embed_dim, int64_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads) {}
  TORCH_ARG(int64_t, embed_dim);
  TORCH_ARG(int64_t, num_heads);
  /// Hidden width of the MLP as a multiple of embed_dim; 0: no MLP (and no second norm), the
  /// block is x + Attention(LayerNorm(x)).
  TORCH_ARG(int64_t, mlp_ratio) = 2;
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(attention::FeatureMapKind, feature_map) = attention::FeatureMapKind::kSoftmaxPositive;
  TORCH_ARG(int64_t, num_features) = 64;
  TORCH_ARG(int64_t, redraw_interval) = 0;
  TORCH_ARG(int64_t, layer_id) = 0;
  /// Masks by registry name with their settings (made by attention::make_mask, one set per
  /// block); see LinearAttentionOptions::masks for how they combine.
  TORCH_ARG(std::vector<attention::MaskSpec>, masks) = {};
  /// Use Combiner attention (full attention capability, sub-quadratic) instead of masked
  /// linear attention; masks do not apply then.
  TORCH_ARG(bool, combiner) = false;
  TORCH_ARG(attention::CombinerVariant, combiner_variant) = attention::CombinerVariant::kFixed;
};

class TransformerBlockImpl : public torch::nn::Cloneable<TransformerBlockImpl> {
 public:
  explicit TransformerBlockImpl(const TransformerBlockOptions& options_);
  void reset() override;

  /// `x` [B, L, E]; `key_padding_mask` [B, L] (true = padding); `context` the batch's structure
  /// the masks are built from (positions, graph; shared by every block). → [B, L, E].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask = {},
                        const attention::MaskContext* context = nullptr);

  TransformerBlockOptions options;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};  ///< norm2: null with mlp_ratio 0
  attention::LinearAttention self_attn{nullptr};
  torch::nn::Sequential mlp{nullptr};  ///< null with mlp_ratio 0
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(TransformerBlock);

/// `masks` checked for a model whose tokens carry `inputs` (e.g. positions and a graph), with
/// the settings the model knows filled in where the user gave none: the FLT mask's `dim`
/// (= pos_dim) and its semantics (logit-additive for softmax feature maps, multiplicative
/// otherwise). Throws naming `model` and the mask whose input the tokens lack.
std::vector<attention::MaskSpec> model_masks(const std::vector<attention::MaskSpec>& masks,
                                             const char* model,
                                             const std::vector<attention::MaskInput>& inputs,
                                             int64_t pos_dim,
                                             attention::FeatureMapKind feature_map);
/// True when a mask of `masks` is built from a graph.
bool needs_graph(const std::vector<attention::MaskSpec>& masks);

}  // namespace topo::models
