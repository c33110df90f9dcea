// SPDX-License-Identifier: Apache-2.0
#include "graph/sparse_operator.h"

#include <torch/torch.h>

#include <algorithm>

#include "common/check.h"
#include "graph/sparse_matmul.h"

namespace topo::graph {

torch::Tensor SparseOperator::apply(const torch::Tensor& x) const {
  TOPO_CHECK_ARG((x.dim() == 2 || x.dim() == 3) && x.size(-2) == num_nodes, "SparseOperator::apply",
                 "x", c10::str("[", num_nodes, ", C] or [H, ", num_nodes, ", C]"), shape_string(x));
  const auto batched = x.dim() == 2 ? x.unsqueeze(0) : x;
  const auto out =
      sparse_matmul(edge_index.to(x.device()), values.to(x.device(), x.scalar_type()).unsqueeze(0),
                    batched, num_nodes);
  return x.dim() == 2 ? out.squeeze(0) : out;
}

double SparseOperator::infinity_norm() const {
  if (values.numel() == 0) return 0.0;
  return torch::zeros({num_nodes}, torch::kDouble)
      .index_add_(0, edge_index[0].cpu(), values.cpu().abs())
      .max()
      .item<double>();
}

double SparseOperator::norm_estimate() const {
  const double inf = infinity_norm();
  return norm_bound > 0 ? std::min(norm_bound, inf) : inf;
}

torch::Tensor SparseOperator::dense() const {
  auto out = torch::zeros({num_nodes, num_nodes}, torch::kDouble);
  out.index_put_({edge_index[0].cpu(), edge_index[1].cpu()}, values.cpu(), /*accumulate=*/true);
  return out;
}

SparseOperator adjacency_operator(const Graph& graph, Normalization normalization) {
  SparseOperator op;
  op.edge_index = graph.edge_index();
  op.num_nodes = graph.num_nodes();
  const auto degree = graph.degree();
  const auto safe_inverse = [](const torch::Tensor& d) {
    return torch::where(d > 0, 1.0 / d, torch::zeros_like(d));
  };
  switch (normalization) {
    case Normalization::kNone:
      op.values = graph.weight().clone();
      break;
    case Normalization::kSymmetric: {
      const auto scale = safe_inverse(degree).sqrt();
      op.values = graph.weight() * scale.index_select(0, op.edge_index[0]) *
                  scale.index_select(0, op.edge_index[1]);
      // Symmetric A: D^(-1/2) A D^(-1/2) is symmetric and similar to D^(-1) A, eigenvalues in
      // [−1, 1]. (Directed graphs: no bound; a hub's column can have 2-norm √degree.)
      if (!graph.directed()) op.norm_bound = 1.0;
      break;
    }
    case Normalization::kRandomWalk:
      op.values = graph.weight() * safe_inverse(degree).index_select(0, op.edge_index[0]);
      break;
  }
  return op;
}

SparseOperator laplacian_operator(const Graph& graph, Normalization normalization) {
  auto op = adjacency_operator(graph, normalization);
  const auto nodes = torch::arange(graph.num_nodes(), torch::kLong);
  const auto diagonal = normalization == Normalization::kNone
                            ? graph.degree()
                            : torch::ones({graph.num_nodes()}, torch::kDouble);
  op.edge_index = torch::cat({op.edge_index, torch::stack({nodes, nodes})}, 1);
  op.values = torch::cat({-op.values, diagonal});
  op.norm_bound = op.norm_bound > 0 ? op.norm_bound + 1.0 : 0.0;  // I − W with ‖W‖₂ ≤ 1
  return op;
}

}  // namespace topo::graph
