// SPDX-License-Identifier: Apache-2.0
#include "models/graph_attention.h"

#include <torch/torch.h>

#include <memory>

#include "attention/masks/graph_kernel_mask.h"
#include "attention/masks/graph_random_feature_mask.h"
#include "attention/masks/sparse_mask.h"
#include "attention/masks/tree_exp_mask.h"
#include "common/check.h"
#include "geometry/point_cloud.h"
#include "graph/graph.h"

namespace topo::models {

GraphAttentionLayerImpl::GraphAttentionLayerImpl(const GraphAttentionLayerOptions& options_) : options(options_) { reset(); }

void GraphAttentionLayerImpl::reset() {
  const auto& o = options;
  block = register_module("block", TransformerBlock(TransformerBlockOptions(o.embed_dim(), o.num_heads())
                                                        .feature_map(o.feature_map())
                                                        .num_features(o.num_features())
                                                        .dropout(o.dropout())
                                                        .layer_id(o.layer_id())));
  const int64_t h = o.num_heads();
  switch (o.mask()) {
    case GraphMaskKind::kDiffusion: mask_parameter = register_parameter("diffusion_time", torch::ones({h})); break;
    case GraphMaskKind::kRandomWalkKernel:
      mask_parameter = register_parameter("alpha", torch::pow(0.5, torch::arange(o.num_steps() + 1, torch::kFloat)).repeat({h, 1}));
      break;
    case GraphMaskKind::kGraphRandomFeatures:
      mask_parameter = register_parameter(
          "modulation_logits",
          torch::log(torch::expm1(torch::exp(-0.5 * torch::arange(o.num_steps() + 1, torch::kFloat)))).repeat({h, 1}));
      break;
    case GraphMaskKind::kSpanningTree: mask_parameter = register_parameter("lambda", torch::full({h}, -1.0)); break;
    default: break;
  }
}

torch::Tensor GraphAttentionLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                                               const torch::Tensor& batch, const torch::Tensor& edge_weight) {
  TOPO_CHECK_ARG(x.dim() == 2 && x.size(1) == options.embed_dim(), "GraphAttentionLayer", "x",
                 c10::str("[N, ", options.embed_dim(), "]"), shape_string(x));
  const auto ids = batch.defined() ? batch : torch::zeros({x.size(0)}, torch::dtype(torch::kLong).device(x.device()));
  const graph::Graph g(edge_index.cpu(), edge_weight, x.size(0), ids.cpu());
  auto [padded, padding] = geometry::to_padded(x, ids, g.num_graphs());
  const int64_t length = padded.size(1), graphs = g.num_graphs();
  std::shared_ptr<attention::Mask> mask;
  const int64_t h = options.num_heads();
  switch (options.mask()) {
    case GraphMaskKind::kNone: break;
    case GraphMaskKind::kAdjacency: {
      const auto tokens = graph::node_to_token(g, length);
      const auto loops = torch::arange(x.size(0), torch::kLong);
      const auto edges = torch::cat({g.edge_index(), torch::stack({loops, loops})}, 1);
      const auto weights = torch::cat({g.weight(), torch::ones({x.size(0)}, torch::kDouble)}).to(x.scalar_type()).unsqueeze(0);
      mask = std::make_shared<attention::SparseMaskImpl>(tokens.index({edges}), weights, graphs, length);
      break;
    }
    case GraphMaskKind::kDiffusion: {
      auto m = std::make_shared<attention::DiffusionMaskImpl>(attention::DiffusionMaskOptions(h).tolerance(1e-6), g, length);
      m->time = mask_parameter;  // gradients reach the layer's parameter
      mask = m;
      break;
    }
    case GraphMaskKind::kRandomWalkKernel: {
      auto m = std::make_shared<attention::RandomWalkKernelMaskImpl>(attention::RandomWalkKernelMaskOptions(h, options.num_steps()), g, length);
      m->alpha = mask_parameter;
      mask = m;
      break;
    }
    case GraphMaskKind::kGraphRandomFeatures: {
      auto m = std::make_shared<attention::GraphRandomFeatureMaskImpl>(
          attention::GraphRandomFeatureMaskOptions(h).max_length(options.num_steps()).walks_per_node(options.walks_per_node()), g, length);
      m->modulation_logits = mask_parameter;
      mask = m;
      break;
    }
    case GraphMaskKind::kSpanningTree: {
      auto m = std::make_shared<attention::SpanningTreeMaskImpl>(attention::SpanningTreeMaskOptions(h).num_trees(options.num_trees()), g, length);
      m->lambda = mask_parameter;
      mask = m;
      break;
    }
  }
  if (mask) mask->to(x.device(), x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
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
