// SPDX-License-Identifier: Apache-2.0
#include "models/graph_attention.h"

#include <torch/torch.h>

#include <memory>

#include "common/check.h"
#include "geometry/point_cloud.h"
#include "graph/graph.h"

namespace topo::models {

GraphAttentionLayerImpl::GraphAttentionLayerImpl(const GraphAttentionLayerOptions& options_) : options(options_) { reset(); }

GraphMaskSettings GraphAttentionLayerImpl::mask_settings() const {
  return {options.num_heads(), options.num_steps(), options.walks_per_node(), options.num_trees()};
}

void GraphAttentionLayerImpl::reset() {
  const auto& o = options;
  block = register_module("block", TransformerBlock(TransformerBlockOptions(o.embed_dim(), o.num_heads())
                                                        .feature_map(o.feature_map())
                                                        .num_features(o.num_features())
                                                        .dropout(o.dropout())
                                                        .layer_id(o.layer_id())));
  if (auto initial = initial_graph_mask_parameter(o.mask(), mask_settings()); initial.defined()) {
    mask_parameter = register_parameter(graph_mask_parameter_name(o.mask()), initial);
  }
}

torch::Tensor GraphAttentionLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                                               const torch::Tensor& batch, const torch::Tensor& edge_weight) {
  TOPO_CHECK_ARG(x.dim() == 2 && x.size(1) == options.embed_dim(), "GraphAttentionLayer", "x",
                 c10::str("[N, ", options.embed_dim(), "]"), shape_string(x));
  const auto ids = batch.defined() ? batch : torch::zeros({x.size(0)}, torch::dtype(torch::kLong).device(x.device()));
  const graph::Graph g(edge_index.cpu(), edge_weight, x.size(0), ids.cpu());
  auto [padded, padding] = geometry::to_padded(x, ids, g.num_graphs());
  const auto mask = make_graph_mask(options.mask(), mask_settings(), g, padded.size(1), mask_parameter, x.device(),
                                    x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
  const auto out = block->forward(padded, padding, {}, mask.get());
  return geometry::from_padded(out, padding);
}

GraphTransformerImpl::GraphTransformerImpl(const GraphTransformerOptions& options_) : options(options_) { reset(); }

void GraphTransformerImpl::reset() {
  const auto& o = options;
  input = register_module("input", torch::nn::Linear(o.in_features(), o.embed_dim()));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    layers->push_back(GraphAttentionLayer(GraphAttentionLayerOptions(o.embed_dim(), o.num_heads()).mask(o.mask()).dropout(o.dropout()).layer_id(i)));
  }
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_dim()})));
  head = register_module("head", torch::nn::Sequential(torch::nn::Linear(o.embed_dim(), o.embed_dim()), torch::nn::GELU(),
                                                       torch::nn::Dropout(o.dropout()), torch::nn::Linear(o.embed_dim(), o.num_classes())));
}

torch::Tensor GraphTransformerImpl::forward(const torch::Tensor& x, const torch::Tensor& edge_index, const torch::Tensor& batch) {
  auto h = input(x);
  for (const auto& layer : *layers) h = layer->as<GraphAttentionLayer>()->forward(h, edge_index, batch);
  h = norm(h);
  if (!options.graph_level()) return head->forward(h);
  const auto ids = batch.defined() ? batch : torch::zeros({x.size(0)}, torch::dtype(torch::kLong).device(x.device()));
  const int64_t graphs = ids.numel() ? ids.max().item<int64_t>() + 1 : 0;
  const auto sums = torch::zeros({graphs, h.size(1)}, h.options()).index_add(0, ids, h);
  const auto counts = torch::zeros({graphs}, h.options()).index_add(0, ids, torch::ones({ids.size(0)}, h.options()));
  return head->forward(sums / counts.clamp_min(1).unsqueeze(1));
}

}  // namespace topo::models
