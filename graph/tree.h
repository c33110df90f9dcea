// SPDX-License-Identifier: Apache-2.0
/// \file
/// Rooted forests: the structure tree masks traverse (parents before children).
#pragma once

#include <torch/types.h>

#include "graph/graph.h"

namespace topo::graph {

struct RootedForest {
  torch::Tensor parent;         ///< [N] int64, −1 for roots
  torch::Tensor parent_weight;  ///< [N] float64 weight of the edge to the parent (0 at roots)
  torch::Tensor order;          ///< [N] int64, breadth-first: every parent before its children
  torch::Tensor depth;          ///< [N] int64 hop depth below the root
  int64_t num_nodes() const { return parent.size(0); }
};

/// Roots every tree of the forest given by `edge_index` [2, E] (each edge once, either
/// direction) at its smallest node. `weight` [E] (default 1, finite, >= 0). Throws if the
/// edges contain a cycle or a repeated edge (not a forest).
RootedForest root_forest(int64_t num_nodes, const torch::Tensor& edge_index,
                         const torch::Tensor& weight = {});

/// The forest `tree_edges` [2, E] (node ids of `graph`, e.g. a spanning tree) moved onto the
/// padded token layout of masks: node n becomes token node_to_token(graph, length)[n], over
/// num_graphs · length tokens; tokens without a node are single-node trees.
RootedForest root_forest_on_tokens(const Graph& graph, const torch::Tensor& tree_edges,
                                   const torch::Tensor& tree_weight, int64_t length);

/// Pairwise tree distances [N, N] float64 (+inf between trees): the O(N²) oracle.
torch::Tensor forest_distances(const RootedForest& forest);

}  // namespace topo::graph
