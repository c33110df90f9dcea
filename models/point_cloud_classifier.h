// SPDX-License-Identifier: Apache-2.0
/// \file
/// Point-cloud classification with topologically masked linear attention: points (any
/// dimension: 2-D digits, 3-D shapes) are embedded from their coordinates and features, pass
/// through transformer blocks whose attention carries an FLT spectral RPE over the points'
/// positions and, optionally, a graph mask over their kNN graph (any masks of the registry that
/// positions or a graph define; each block its own mask parameters). Optionally hierarchical: the
/// blocks form stages, and between stages farthest point sampling keeps a fraction of the points,
/// whose features are max-pooled from their nearest points of the previous stage (PointNet++'s set
/// abstraction). The last stage's points are pooled (masked mean and max) into class logits.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <tuple>
#include <vector>

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
  TORCH_ARG(double, dropout) = 0.1;
  /// Random Fourier features of the absolute positions added to the input embedding:
  /// [sin(2π B r), cos(2π B r)] with B ~ N(0, scale²) fixed at construction (0: none).
  TORCH_ARG(int64_t, position_frequencies) = 16;
  TORCH_ARG(double, position_frequency_scale) = 1.0;
  /// Masks of every block, by registry name: over the points' positions (flt, local-rpe) and
  /// over each stage's kNN graph (adjacency, diffusion, …); each block has its own parameters.
  /// Default: the FLT spectral RPE with 16 frequencies and length scale 0.3.
  TORCH_ARG(std::vector<attention::MaskSpec>, masks) = {
      {"flt", attention::MaskSettings{{"features", int64_t{16}}, {"length_scale", 0.3}}}};
  /// Neighbours of the kNN graph (graph masks) and of the pooling neighbourhoods (stages).
  TORCH_ARG(int64_t, knn) = 16;
  /// Voxel tokens instead of point tokens: a grid of n_1 × … × n_d cells (d = pos_dim) over
  /// [−1, 1]^d (positions are clamped into it; normalised clouds lie inside), each cell the mean
  /// of its points' embeddings, empty cells padded. Grid masks then apply (`block-toeplitz`:
  /// the d-dimensional RPE by FFT, its grid_shape filled in), as do `flt` and `local-rpe` over
  /// the cell centres. Not with graph masks or stages. Default: empty (point tokens).
  TORCH_ARG(std::vector<int64_t>, voxels) = {};
  /// Stages of blocks (num_layers split evenly, earlier stages take the remainder); between
  /// two stages every cloud keeps ceil(downsample_ratio · n) points by farthest point sampling
  /// (random first point in training, the first point in eval).
  TORCH_ARG(int64_t, num_stages) = 1;
  TORCH_ARG(double, downsample_ratio) = 0.25;
};

class PointCloudClassifierImpl : public torch::nn::Cloneable<PointCloudClassifierImpl> {
 public:
  explicit PointCloudClassifierImpl(const PointCloudClassifierOptions& options_);
  void reset() override;
  /// `pos` [B, L, pos_dim], `x` [B, L, feature_dim] (or undefined), `key_padding_mask` [B, L]
  /// → logits [B, num_classes].
  torch::Tensor forward(const torch::Tensor& pos, const torch::Tensor& x = {},
                        const torch::Tensor& key_padding_mask = {});

  /// Index of the first block of each stage, and num_layers at the end.
  std::vector<int64_t> stage_starts() const;
  /// Set abstraction between stages: (features, positions, batch) of the points kept by FPS.
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> downsample_points(
      int64_t transition, const torch::Tensor& h, const torch::Tensor& pos,
      const torch::Tensor& batch);
  /// Voxel tokens: (cell features [B, C, E], empty cells [B, C], cell centres [B, C, d]).
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> voxelise(
      const torch::Tensor& h, const torch::Tensor& pos, const torch::Tensor& key_padding_mask);
  /// Final norm, masked mean + max pooling and the head → logits.
  torch::Tensor pool(torch::Tensor h, const torch::Tensor& key_padding_mask);

  PointCloudClassifierOptions options;
  torch::nn::Sequential embed{nullptr};
  /// Per stage transition: the set-abstraction MLP on [feature, relative position].
  torch::nn::ModuleList downsample{nullptr};
  torch::Tensor position_frequencies;  ///< buffer [pos_dim, F]
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Sequential head{nullptr};
};
TORCH_MODULE(PointCloudClassifier);

}  // namespace topo::models
