// SPDX-License-Identifier: Apache-2.0
#include "models/graph_attention.h"

#include <torch/torch.h>

#include <memory>

#include "common/check.h"
#include "geometry/point_cloud.h"
#include "graph/graph.h"

namespace topo::models {

GraphBatch make_graph_batch(const torch::Tensor& x, const torch::Tensor& edge_index,
                            const torch::Tensor& batch, const torch::Tensor& edge_weight) {
  TOPO_CHECK_ARG(x.dim() == 2, "make_graph_batch", "x", "[N, F]", shape_string(x));
  GraphBatch out;
  out.batch = batch.defined()
                  ? batch
                  : torch::zeros({x.size(0)}, torch::dtype(torch::kLong).device(x.device()));
  auto g = std::make_shared<graph::Graph>(edge_index.cpu(),
                                          edge_weight.defined() ? edge_weight.cpu() : edge_weight,
                                          x.size(0), out.batch.cpu());
  const int64_t graphs = g->num_graphs();
  const auto counts = torch::bincount(out.batch.cpu(), {}, graphs);
  const int64_t length = graphs > 0 ? counts.max().item<int64_t>() : 0;
  out.context.batch_size = graphs;
  out.context.length = length;
  out.context.key_padding_mask =
      (torch::arange(length).unsqueeze(0) >= counts.unsqueeze(1)).to(x.device());
  out.context.options = x.options();
  out.context.graph = std::move(g);
  return out;
}

GraphAttentionLayerImpl::GraphAttentionLayerImpl(const GraphAttentionLayerOptions& options_)
    : options(options_) {
  reset();
}

void GraphAttentionLayerImpl::reset() {
  const auto& o = options;
  TOPO_CHECK_ARG(o.mlp_ratio() >= 0, "GraphAttentionLayer", "mlp_ratio", ">= 0 (0: no MLP)",
                 o.mlp_ratio());
  block = register_module(
      "block", TransformerBlock(
                   TransformerBlockOptions(o.embed_dim(), o.num_heads())
                       .feature_map(o.feature_map())
                       .num_features(o.num_features())
                       .dropout(o.dropout())
                       .mlp_ratio(o.mlp_ratio())
                       .layer_id(o.layer_id())
                       .masks(model_masks(o.masks(), "GraphAttentionLayer",
                                          {attention::MaskInput::kGraph}, 0, o.feature_map()))));
}

torch::Tensor GraphAttentionLayerImpl::forward(const torch::Tensor& x,
                                               const torch::Tensor& edge_index,
                                               const torch::Tensor& batch,
                                               const torch::Tensor& edge_weight) {
  return forward_batch(x, make_graph_batch(x, edge_index, batch, edge_weight));
}

torch::Tensor GraphAttentionLayerImpl::forward_batch(const torch::Tensor& x,
                                                     const GraphBatch& graphs) {
  TOPO_CHECK_ARG(x.dim() == 2 && x.size(1) == options.embed_dim(), "GraphAttentionLayer", "x",
                 c10::str("[N, ", options.embed_dim(), "]"), shape_string(x));
  TOPO_CHECK_ARG(x.size(0) == graphs.batch.size(0), "GraphAttentionLayer", "x",
                 c10::str(graphs.batch.size(0), " rows (the batch's nodes)"), shape_string(x));
  TOPO_CHECK_ARG(x.device() == graphs.batch.device(), "GraphAttentionLayer", "x",
                 c10::str("on the device of the graph batch (", graphs.batch.device(),
                          "; make_graph_batch takes it from its x)"),
                 c10::str("a tensor on ", x.device()));
  auto [padded, padding] = geometry::to_padded(x, graphs.batch, graphs.context.batch_size);
  auto context = graphs.context;  // shares the structure cache
  context.options = x.options();
  const auto out = block->forward(padded, padding, &context);
  return geometry::from_padded(out, padding);
}

GraphTransformerImpl::GraphTransformerImpl(const GraphTransformerOptions& options_)
    : options(options_) {
  reset();
}

void GraphTransformerImpl::reset() {
  const auto& o = options;
  input = register_module("input", torch::nn::Linear(o.in_features(), o.embed_dim()));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    layers->push_back(GraphAttentionLayer(GraphAttentionLayerOptions(o.embed_dim(), o.num_heads())
                                              .masks(o.masks())
                                              .feature_map(o.feature_map())
                                              .num_features(o.num_features())
                                              .dropout(o.dropout())
                                              .layer_id(i)));
  }
  norm =
      register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_dim()})));
  head = register_module("head",
                         torch::nn::Sequential(torch::nn::Linear(o.embed_dim(), o.embed_dim()),
                                               torch::nn::GELU(), torch::nn::Dropout(o.dropout()),
                                               torch::nn::Linear(o.embed_dim(), o.num_classes())));
}

torch::Tensor GraphTransformerImpl::forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                                            const torch::Tensor& batch) {
  auto h = input(x);
  const auto graphs = make_graph_batch(h, edge_index, batch);
  for (const auto& layer : *layers) h = layer->as<GraphAttentionLayer>()->forward_batch(h, graphs);
  h = norm(h);
  if (!options.graph_level()) return head->forward(h);
  const auto& ids = graphs.batch;
  const int64_t count = graphs.context.batch_size;
  const auto sums = torch::zeros({count, h.size(1)}, h.options()).index_add(0, ids, h);
  const auto counts =
      torch::zeros({count}, h.options()).index_add(0, ids, torch::ones({ids.size(0)}, h.options()));
  return head->forward(sums / counts.clamp_min(1).unsqueeze(1));
}

}  // namespace topo::models
