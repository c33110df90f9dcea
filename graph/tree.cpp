// SPDX-License-Identifier: Apache-2.0
#include "graph/tree.h"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/check.h"

namespace topo::graph {

RootedForest root_forest(int64_t num_nodes, const torch::Tensor& edge_index_in,
                         const torch::Tensor& weight_in) {
  const char* fn = "root_forest";
  TOPO_CHECK_ARG(num_nodes >= 0, fn, "num_nodes", ">= 0", num_nodes);
  TOPO_CHECK_ARG(edge_index_in.dim() == 2 && edge_index_in.size(0) == 2 &&
                     edge_index_in.scalar_type() == torch::kLong,
                 fn, "edge_index", "an int64 tensor [2, E]", shape_string(edge_index_in));
  const auto edges = edge_index_in.cpu().contiguous();
  const int64_t e = edges.size(1);
  const auto weights = weight_in.defined()
                           ? weight_in.detach().cpu().to(torch::kDouble).contiguous()
                           : torch::ones({e}, torch::kDouble);
  TOPO_CHECK_ARG(weights.dim() == 1 && weights.size(0) == e, fn, "weight",
                 c10::str("[", e, "] (one per edge)"), shape_string(weights));
  const auto* ei = edges.data_ptr<int64_t>();
  const auto* w = weights.data_ptr<double>();
  std::vector<std::vector<std::pair<int64_t, double>>> adjacency(num_nodes);
  for (int64_t i = 0; i < e; ++i) {
    const int64_t u = ei[i], v = ei[e + i];
    TOPO_CHECK_ARG(u >= 0 && u < num_nodes && v >= 0 && v < num_nodes && u != v, fn, "edge_index",
                   c10::str("distinct node ids in [0, ", num_nodes, ")"),
                   c10::str("(", u, ", ", v, ") at edge ", i));
    TOPO_CHECK_ARG(std::isfinite(w[i]) && w[i] >= 0, fn, "weight", "finite and >= 0",
                   c10::str(w[i], " at edge ", i));
    adjacency[u].emplace_back(v, w[i]);
    adjacency[v].emplace_back(u, w[i]);
  }
  RootedForest forest;
  forest.parent = torch::full({num_nodes}, -1, torch::kLong);
  forest.parent_weight = torch::zeros({num_nodes}, torch::kDouble);
  forest.order = torch::empty({num_nodes}, torch::kLong);
  forest.depth = torch::zeros({num_nodes}, torch::kLong);
  auto* parent = forest.parent.data_ptr<int64_t>();
  auto* parent_weight = forest.parent_weight.data_ptr<double>();
  auto* order = forest.order.data_ptr<int64_t>();
  auto* depth = forest.depth.data_ptr<int64_t>();
  std::vector<char> seen(num_nodes, 0);
  int64_t head = 0, tail = 0;
  for (int64_t root = 0; root < num_nodes; ++root) {
    if (seen[root]) continue;
    seen[root] = 1;
    order[tail++] = root;
    while (head < tail) {
      const int64_t u = order[head++];
      bool parent_edge_used = false;  // the edge back to the parent appears once
      for (const auto& [v, weight] : adjacency[u]) {
        if (v == parent[u] && !parent_edge_used) {
          parent_edge_used = true;
          continue;
        }
        TOPO_CHECK_ARG(!seen[v], fn, "edge_index", "a forest (no cycles, no repeated edges)",
                       c10::str("a cycle through nodes ", u, " and ", v));
        seen[v] = 1;
        parent[v] = u;
        parent_weight[v] = weight;
        depth[v] = depth[u] + 1;
        order[tail++] = v;
      }
    }
  }
  return forest;
}

RootedForest root_forest_on_tokens(const Graph& graph, const torch::Tensor& tree_edges,
                                   const torch::Tensor& tree_weight, int64_t length) {
  TOPO_CHECK_ARG(
      tree_edges.dim() == 2 && tree_edges.size(0) == 2 && tree_edges.scalar_type() == torch::kLong,
      "root_forest_on_tokens", "tree_edges", "an int64 tensor [2, E]", shape_string(tree_edges));
  if (tree_edges.size(1) > 0) {
    TOPO_CHECK_ARG(tree_edges.min().item<int64_t>() >= 0 &&
                       tree_edges.max().item<int64_t>() < graph.num_nodes(),
                   "root_forest_on_tokens", "tree_edges",
                   c10::str("node ids in [0, ", graph.num_nodes(), ")"), value_range(tree_edges));
  }
  const auto tokens = node_to_token(graph, length);
  const auto edges = tokens.index({tree_edges.cpu()});
  return root_forest(graph.num_graphs() * length, edges, tree_weight);
}

torch::Tensor forest_distances(const RootedForest& forest) {
  const int64_t n = forest.num_nodes();
  auto out = torch::full({n, n}, std::numeric_limits<double>::infinity(), torch::kDouble);
  const auto* parent = forest.parent.data_ptr<int64_t>();
  const auto* w = forest.parent_weight.data_ptr<double>();
  // Distance to every ancestor, then d(i, j) = min over common ancestors a of d(i,a) + d(j,a).
  std::vector<std::vector<std::pair<int64_t, double>>> ancestors(n);
  for (int64_t i = 0; i < n; ++i) {
    double d = 0;
    for (int64_t a = i; a >= 0; d += w[a], a = parent[a]) ancestors[i].emplace_back(a, d);
  }
  auto acc = out.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (const auto& [a, di] : ancestors[i]) {
        for (const auto& [b, dj] : ancestors[j]) {
          if (a == b) acc[i][j] = std::min(acc[i][j], di + dj);
        }
      }
    }
  }
  return out;
}

}  // namespace topo::graph
