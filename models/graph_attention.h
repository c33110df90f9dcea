// SPDX-License-Identifier: Apache-2.0
/// \file
/// Graph-masked linear attention as a layer for custom GNNs, in PyTorch Geometric's calling
/// convention (x [N, F], edge_index [2, E], batch [N]), and a GraphTransformer built from it
/// for graph classification (pooled per graph) or node classification.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "models/transformer_block.h"

namespace topo::models {

/// One batch of graphs in the padded token layout the masks use (graph b on the first n_b
/// tokens of element b), built once and shared by every layer: the graph structure (token
/// operators, walks, trees) is then computed once per batch.
struct GraphBatch {
  attention::MaskContext context;
  torch::Tensor batch;  ///< [N] graph id of every node
};

/// `x` [N, F] (dtype and device of the activations), `edge_index` [2, E] (undirected: either or
/// both directions), `batch` [N] sorted (undefined: one graph), `edge_weight` [E] optional.
GraphBatch make_graph_batch(const torch::Tensor& x, const torch::Tensor& edge_index,
                            const torch::Tensor& batch = {}, const torch::Tensor& edge_weight = {});

struct GraphAttentionLayerOptions {
  GraphAttentionLayerOptions(int64_t embed_dim, int64_t num_heads)
      : embed_dim_(embed_dim), num_heads_(num_heads) {}
  TORCH_ARG(int64_t, embed_dim);
  TORCH_ARG(int64_t, num_heads);
  /// Masks over the graph, by registry name (graph and tree masks): default diffusion.
  TORCH_ARG(std::vector<attention::MaskSpec>, masks) = {{"diffusion", {}}};
  TORCH_ARG(attention::FeatureMapKind, feature_map) = attention::FeatureMapKind::kEluPlusOne;
  TORCH_ARG(int64_t, num_features) = 32;
  TORCH_ARG(double, dropout) = 0.0;
  /// The block's MLP width as a multiple of embed_dim; 0: no MLP, x + Attention(LayerNorm(x))
  /// (TransformerBlockOptions::mlp_ratio; measured on Cora and MUTAG in BENCHMARKS.md).
  TORCH_ARG(int64_t, mlp_ratio) = 2;
  TORCH_ARG(int64_t, layer_id) = 0;
};

class GraphAttentionLayerImpl : public torch::nn::Cloneable<GraphAttentionLayerImpl> {
 public:
  explicit GraphAttentionLayerImpl(const GraphAttentionLayerOptions& options_);
  void reset() override;
  /// `x` [N, E], `edge_index` [2, E] (undirected: either or both directions), `batch` [N]
  /// sorted (undefined: one graph), `edge_weight` [E] optional → [N, E].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                        const torch::Tensor& batch = {}, const torch::Tensor& edge_weight = {});
  /// The same over a batch made once by make_graph_batch (several layers, one structure).
  torch::Tensor forward_batch(const torch::Tensor& x, const GraphBatch& graphs);

  GraphAttentionLayerOptions options;
  TransformerBlock block{nullptr};
};
TORCH_MODULE(GraphAttentionLayer);

struct GraphTransformerOptions {
  GraphTransformerOptions(int64_t in_features, int64_t num_classes)
      : in_features_(in_features), num_classes_(num_classes) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, num_classes);
  TORCH_ARG(int64_t, embed_dim) = 64;
  TORCH_ARG(int64_t, num_heads) = 4;
  TORCH_ARG(int64_t, num_layers) = 3;
  TORCH_ARG(std::vector<attention::MaskSpec>, masks) = {{"diffusion", {}}};
  TORCH_ARG(attention::FeatureMapKind, feature_map) = attention::FeatureMapKind::kEluPlusOne;
  TORCH_ARG(int64_t, num_features) = 32;
  TORCH_ARG(double, dropout) = 0.1;
  /// Graph-level (pooled) predictions; false: one prediction per node.
  TORCH_ARG(bool, graph_level) = true;
};

class GraphTransformerImpl : public torch::nn::Cloneable<GraphTransformerImpl> {
 public:
  explicit GraphTransformerImpl(const GraphTransformerOptions& options_);
  void reset() override;
  /// → logits [G, C] (graph level) or [N, C] (node level).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                        const torch::Tensor& batch = {});

  GraphTransformerOptions options;
  torch::nn::Linear input{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Sequential head{nullptr};
};
TORCH_MODULE(GraphTransformer);

}  // namespace topo::models
