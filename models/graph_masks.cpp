// SPDX-License-Identifier: Apache-2.0
#include "models/graph_masks.h"

#include <torch/torch.h>

#include "attention/masks/graph_kernel_mask.h"
#include "attention/masks/graph_random_feature_mask.h"
#include "attention/masks/sparse_mask.h"
#include "attention/masks/tree_exp_mask.h"
#include "graph/graph.h"

namespace topo::models {

const char* graph_mask_parameter_name(GraphMaskKind kind) {
  switch (kind) {
    case GraphMaskKind::kDiffusion: return "diffusion_time";
    case GraphMaskKind::kRandomWalkKernel: return "alpha";
    case GraphMaskKind::kGraphRandomFeatures: return "modulation_logits";
    case GraphMaskKind::kSpanningTree: return "lambda";
    default: return "";
  }
}

torch::Tensor initial_graph_mask_parameter(GraphMaskKind kind, const GraphMaskSettings& s) {
  const auto steps = torch::arange(s.num_steps + 1, torch::kFloat);
  switch (kind) {
    case GraphMaskKind::kDiffusion: return torch::ones({s.num_heads});
    case GraphMaskKind::kRandomWalkKernel: return torch::pow(0.5, steps).repeat({s.num_heads, 1});
    case GraphMaskKind::kGraphRandomFeatures:
      return torch::log(torch::expm1(torch::exp(-0.5 * steps))).repeat({s.num_heads, 1});
    case GraphMaskKind::kSpanningTree: return torch::full({s.num_heads}, -1.0);
    default: return {};
  }
}

std::vector<torch::Tensor> register_graph_mask_parameters(torch::nn::Module& module, GraphMaskKind kind,
                                                          const GraphMaskSettings& settings, int64_t layers) {
  std::vector<torch::Tensor> parameters;
  for (int64_t i = 0; i < layers; ++i) {
    auto initial = initial_graph_mask_parameter(kind, settings);
    parameters.push_back(initial.defined()
                             ? module.register_parameter(c10::str("graph_mask_", i, "_", graph_mask_parameter_name(kind)), initial)
                             : torch::Tensor());
  }
  return parameters;
}

std::shared_ptr<attention::Mask> make_graph_mask(GraphMaskKind kind, const GraphMaskSettings& s,
                                                 const graph::Graph& g, int64_t length,
                                                 const torch::Tensor& parameter, const torch::Device& device,
                                                 torch::Dtype dtype) {
  std::shared_ptr<attention::Mask> mask;
  const int64_t h = s.num_heads;
  // The masks own their parameter tensors; swapping in the caller's makes gradients reach it.
  switch (kind) {
    case GraphMaskKind::kNone: return nullptr;
    case GraphMaskKind::kAdjacency: {
      const auto tokens = graph::node_to_token(g, length);
      const auto loops = torch::arange(g.num_nodes(), torch::kLong);
      const auto edges = torch::cat({g.edge_index(), torch::stack({loops, loops})}, 1);
      const auto weights = torch::cat({g.weight(), torch::ones({g.num_nodes()}, torch::kDouble)}).to(dtype).unsqueeze(0);
      mask = std::make_shared<attention::SparseMaskImpl>(tokens.index({edges}), weights, g.num_graphs(), length);
      break;
    }
    case GraphMaskKind::kDiffusion: {
      auto m = std::make_shared<attention::DiffusionMaskImpl>(attention::DiffusionMaskOptions(h).tolerance(1e-6), g, length);
      m->time = parameter;
      mask = m;
      break;
    }
    case GraphMaskKind::kRandomWalkKernel: {
      auto m = std::make_shared<attention::RandomWalkKernelMaskImpl>(
          attention::RandomWalkKernelMaskOptions(h, s.num_steps), g, length);
      m->alpha = parameter;
      mask = m;
      break;
    }
    case GraphMaskKind::kGraphRandomFeatures: {
      auto m = std::make_shared<attention::GraphRandomFeatureMaskImpl>(
          attention::GraphRandomFeatureMaskOptions(h).max_length(s.num_steps).walks_per_node(s.walks_per_node), g, length);
      m->modulation_logits = parameter;
      mask = m;
      break;
    }
    case GraphMaskKind::kSpanningTree: {
      auto m = std::make_shared<attention::SpanningTreeMaskImpl>(
          attention::SpanningTreeMaskOptions(h).num_trees(s.num_trees), g, length);
      m->lambda = parameter;
      mask = m;
      break;
    }
  }
  mask->to(device, dtype);
  return mask;
}

}  // namespace topo::models
