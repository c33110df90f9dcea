// SPDX-License-Identifier: Apache-2.0
/// \file
/// Point-cloud classification with topologically masked linear attention: points (any
/// dimension: 2-D digits, 3-D shapes) are embedded from their coordinates and features, pass
/// through transformer blocks whose attention carries an FLT spectral RPE over the points'
/// positions (and, optionally, a graph random-feature mask over their kNN graph), and are
/// pooled (masked mean and max) into class logits.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "models/transformer_block.h"

namespace topo::models {

struct PointCloudClassifierOptions {
  PointCloudClassifierOptions(int64_t pos_dim, int64_t feature_dim, int64_t num_classes)
      : pos_dim_(pos_dim), feature_dim_(feature_dim), num_classes_(num_classes) {}
  TORCH_ARG(int64_t, pos_dim);
  /// Per-point input features (0: positions only).
  TORCH_ARG(int64_t, feature_dim);
  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(int64_t, embed_dim) = 64;
  TORCH_ARG(int64_t, num_heads) = 4;
  TORCH_ARG(int64_t, num_layers) = 3;
  TORCH_ARG(int64_t, num_features) = 32;
  TORCH_ARG(attention::FeatureMapKind, feature_map) = attention::FeatureMapKind::kSoftmaxPositive;
  /// FLT spectral RPE frequencies per layer (0: no RPE).
  TORCH_ARG(int64_t, rpe_features) = 16;
  TORCH_ARG(double, rpe_length_scale) = 0.3;
  TORCH_ARG(double, dropout) = 0.1;
  /// Random Fourier features of the absolute positions added to the input embedding:
  /// [sin(2π B r), cos(2π B r)] with B ~ N(0, scale²) fixed at construction (0: none).
  TORCH_ARG(int64_t, position_frequencies) = 16;
  TORCH_ARG(double, position_frequency_scale) = 1.0;
};

class PointCloudClassifierImpl : public torch::nn::Cloneable<PointCloudClassifierImpl> {
 public:
  explicit PointCloudClassifierImpl(const PointCloudClassifierOptions& options_);
  void reset() override;
  /// `pos` [B, L, pos_dim], `x` [B, L, feature_dim] (or undefined), `key_padding_mask` [B, L]
  /// → logits [B, num_classes].
  torch::Tensor forward(const torch::Tensor& pos, const torch::Tensor& x = {},
                        const torch::Tensor& key_padding_mask = {});

  PointCloudClassifierOptions options;
  torch::nn::Sequential embed{nullptr};
  torch::Tensor position_frequencies;  ///< buffer [pos_dim, F]
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Sequential head{nullptr};
};
TORCH_MODULE(PointCloudClassifier);

}  // namespace topo::models
