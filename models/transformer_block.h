// SPDX-License-Identifier: Apache-2.0
/// \file
/// A pre-norm transformer encoder block whose attention is topologically masked linear
/// attention: any feature map, an optional FLT spectral RPE over token positions, and an
/// optional external mask (graph masks, local RPE) applied by Alg. 1.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "attention/combiner_attention.h"
#include "attention/feature_map.h"
#include "attention/masks/mask.h"
#include "geometry/spectral_rpe.h"

namespace topo::models {

struct TransformerBlockOptions {
  TransformerBlockOptions(int64_t embed_dim, int64_t num_heads) : embed_dim_(embed_dim), num_heads_(num_heads) {}
  TORCH_ARG(int64_t, embed_dim);
  TORCH_ARG(int64_t, num_heads);
  /// Hidden width of the MLP as a multiple of embed_dim.
  TORCH_ARG(int64_t, mlp_ratio) = 2;
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(attention::FeatureMapKind, feature_map) = attention::FeatureMapKind::kSoftmaxPositive;
  TORCH_ARG(int64_t, num_features) = 64;
  TORCH_ARG(int64_t, redraw_interval) = 0;
  TORCH_ARG(int64_t, layer_id) = 0;
  /// FLT spectral RPE over positions of this dimension (0: none). With the softmax kernels it
  /// is a logit bias (FLT's concatenated form); with ReLU / elu+1 a multiplicative mask.
  TORCH_ARG(int64_t, rpe_dim) = 0;
  TORCH_ARG(int64_t, rpe_features) = 16;
  TORCH_ARG(geometry::SpectralFamily, rpe_family) = geometry::SpectralFamily::kGaussianMixture;
  TORCH_ARG(double, rpe_length_scale) = 0.5;
  /// Use Combiner attention (full attention capability, sub-quadratic) instead of masked
  /// linear attention; the RPE and extra masks do not apply then.
  TORCH_ARG(bool, combiner) = false;
  TORCH_ARG(attention::CombinerVariant, combiner_variant) = attention::CombinerVariant::kFixed;
};

class TransformerBlockImpl : public torch::nn::Cloneable<TransformerBlockImpl> {
 public:
  explicit TransformerBlockImpl(const TransformerBlockOptions& options_);
  void reset() override;

  /// `x` [B, L, E]; `key_padding_mask` [B, L] (true = padding); `pos` [B, L, rpe_dim] when the
  /// block has an RPE; `mask` an optional extra mask (multiplied with the RPE's). → [B, L, E].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask = {},
                        const torch::Tensor& pos = {}, attention::Mask* mask = nullptr);
  /// forward()'s attention when not Combiner: feature maps, RPE and masks → [B, H, L, D].
  torch::Tensor masked_linear(torch::Tensor q, torch::Tensor k, const torch::Tensor& v,
                              const torch::Tensor& key_padding_mask, const torch::Tensor& pos,
                              attention::Mask* mask);

  TransformerBlockOptions options;
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Linear qkv{nullptr}, out{nullptr};
  torch::nn::Sequential mlp{nullptr};
  torch::nn::Dropout dropout{nullptr};
  attention::FeatureMap phi{nullptr};
  geometry::SpectralRPE rpe{nullptr};
};
TORCH_MODULE(TransformerBlock);

}  // namespace topo::models
