// SPDX-License-Identifier: Apache-2.0
/// \file
/// Classic graph algorithms on topo::graph::Graph, computed with Boost.Graph (kept out of this
/// header). Spanning "trees" of disconnected graphs are spanning forests, one tree per
/// connected component.
#pragma once

#include <torch/types.h>

#include <utility>

#include "graph/graph.h"

namespace topo::graph {

/// Hop distances from every source [S] (int64 node ids) to every node: [S, N] int64, −1 where
/// unreachable (breadth-first search).
torch::Tensor bfs_distances(const Graph& graph, const torch::Tensor& sources);

/// Weighted shortest-path distances [S, N] float64, +inf where unreachable (Dijkstra).
torch::Tensor dijkstra_distances(const Graph& graph, const torch::Tensor& sources);

/// Connected component of every node [N] int64, numbered in order of their smallest node.
/// Undirected graphs only.
torch::Tensor connected_components(const Graph& graph);

/// Minimum spanning forest (Kruskal): (edge_index [2, N − C], one column per tree edge with
/// the smaller node first, weights [N − C] float64). Undirected graphs only.
std::pair<torch::Tensor, torch::Tensor> minimum_spanning_tree(const Graph& graph);

/// A spanning forest drawn uniformly at random among all spanning forests with one tree per
/// component (Wilson's algorithm), random numbers from torch's generator (reproducible under
/// torch::manual_seed). Same format as minimum_spanning_tree.
std::pair<torch::Tensor, torch::Tensor> random_spanning_tree(const Graph& graph);

}  // namespace topo::graph
