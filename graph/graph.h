// SPDX-License-Identifier: Apache-2.0
/// \file
/// Compressed sparse row graphs built from PyTorch Geometric's `edge_index` [2, E] (row 0
/// source, row 1 target), with optional positive edge weights and a `batch` vector for many
/// graphs at once (a block-diagonal graph over all nodes). Graph data lives on the CPU; the
/// operators built from it run on any device.
#pragma once

#include <torch/arg.h>
#include <torch/types.h>

namespace topo::graph {

enum class SelfLoops {
  kKeep,    ///< as given
  kRemove,  ///< drop every (i, i)
  kAdd,     ///< add (i, i) with `self_loop_weight` where missing
};

struct GraphOptions {
  /// Undirected (default): every edge is usable both ways; an edge may be listed once or in
  /// both directions (with equal weights; different weights are an error).
  TORCH_ARG(bool, directed) = false;
  TORCH_ARG(SelfLoops, self_loops) = SelfLoops::kKeep;
  TORCH_ARG(double, self_loop_weight) = 1.0;
};

class Graph {
 public:
  Graph() = default;
  /// `edge_index` [2, E] int64; `edge_weight` [E] (finite, >= 0; default 1); `num_nodes`
  /// (−1: the length of `batch`, else max index + 1); `batch` [N] sorted graph ids. Repeated
  /// arcs are multi-edges: their weights add up. Every edge must stay inside one graph.
  Graph(const torch::Tensor& edge_index, const torch::Tensor& edge_weight = {},
        int64_t num_nodes = -1, const torch::Tensor& batch = {}, const GraphOptions& options = {});

  int64_t num_nodes() const { return num_nodes_; }
  /// Stored arcs (an undirected edge counts twice, a self loop once).
  int64_t num_arcs() const { return col_.size(0); }
  bool directed() const { return directed_; }
  /// CSR arrays (CPU): row_ptr [N + 1], col [A] int64, weight [A] float64, sorted by (row, col).
  const torch::Tensor& row_ptr() const { return row_ptr_; }
  const torch::Tensor& col() const { return col_; }
  const torch::Tensor& weight() const { return weight_; }
  /// The arcs as edge_index [2, A] (source, target) in CSR order.
  torch::Tensor edge_index() const;
  /// Graph id of every node [N] and node offsets of each graph [G + 1].
  const torch::Tensor& batch() const { return batch_; }
  const torch::Tensor& node_offsets() const { return node_offsets_; }
  int64_t num_graphs() const { return node_offsets_.size(0) - 1; }
  /// Weighted out-degree [N] (float64).
  torch::Tensor degree() const;

 private:
  int64_t num_nodes_ = 0;
  bool directed_ = false;
  torch::Tensor row_ptr_, col_, weight_, batch_, node_offsets_;
};

/// Flattened token index (b·length + position in graph b) of every node [N], for masks that
/// act on padded [B, H, length, C] tensors whose graph b fills the first n_b tokens.
torch::Tensor node_to_token(const Graph& graph, int64_t length);

}  // namespace topo::graph
