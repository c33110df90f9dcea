// SPDX-License-Identifier: Apache-2.0
/// \file
/// Graph masks for models: which mask a layer puts on its graph, the mask's learnable
/// parameter (owned by the layer, since graphs — and so masks — change with every batch) and
/// the per-batch construction of the mask over a padded [B, H, length, C] token layout.
#pragma once

#include <memory>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "attention/masks/mask.h"

namespace topo::graph {
class Graph;
}

namespace topo::models {

enum class GraphMaskKind {
  kNone,                 ///< plain linear attention over each graph (no topology)
  kAdjacency,            ///< M = A + I (exact, sparse): attention along edges, as GAT
  kDiffusion,            ///< M = exp(t_h W), learnable t
  kRandomWalkKernel,     ///< M = Σ_k α_{h,k} W^k, learnable α
  kGraphRandomFeatures,  ///< M ≈ Φ_Q Φ_Kᵀ (GRFs), learnable modulation, O(N)
  kSpanningTree,         ///< mean of exp(λ_h dist_T) over random spanning trees
};

/// The mask's settings besides its kind.
struct GraphMaskSettings {
  int64_t num_heads = 1;
  /// Random-walk kernel steps / GRF walk length.
  int64_t num_steps = 4;
  int64_t walks_per_node = 8;
  int64_t num_trees = 2;
};

/// The name under which layers register the parameter of `kind` ("" when it has none).
const char* graph_mask_parameter_name(GraphMaskKind kind);

/// The initial value of the learnable parameter of `kind` (undefined for kNone and
/// kAdjacency): diffusion times [H] (1), random-walk coefficients [H, K+1] (2^-k), GRF
/// modulation logits [H, K+1] (softplus⁻¹(e^{-k/2})), spanning-tree decay rates [H] (−1).
torch::Tensor initial_graph_mask_parameter(GraphMaskKind kind, const GraphMaskSettings& settings);

/// Registers on `module` one such parameter per layer, named "graph_mask_<i>_<name>", and
/// returns them ([layers] entries, undefined for kinds without a parameter).
std::vector<torch::Tensor> register_graph_mask_parameters(torch::nn::Module& module, GraphMaskKind kind,
                                                          const GraphMaskSettings& settings, int64_t layers);

/// The mask of `kind` over `graph` (graph b on the first n_b of `length` tokens of batch
/// element b), using `parameter` (from initial_graph_mask_parameter, registered by the
/// caller) so that gradients reach it; moved to `device` and `dtype`. nullptr for kNone.
std::shared_ptr<attention::Mask> make_graph_mask(GraphMaskKind kind, const GraphMaskSettings& settings,
                                                 const graph::Graph& graph, int64_t length,
                                                 const torch::Tensor& parameter, const torch::Device& device,
                                                 torch::Dtype dtype);

}  // namespace topo::models
