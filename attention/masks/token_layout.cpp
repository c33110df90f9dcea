// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/token_layout.h"

#include <torch/torch.h>

#include "common/check.h"

namespace topo::attention {

graph::SparseOperator token_operator(const graph::Graph& graph, int64_t length,
                                     graph::Normalization normalization) {
  auto op = graph::adjacency_operator(graph, normalization);
  const auto tokens = graph::node_to_token(graph, length);
  op.edge_index = tokens.index({op.edge_index});
  op.num_nodes = graph.num_graphs() * length;
  return op;
}

graph::Normalization normalization_from_string(const std::string& name) {
  if (name == "none") return graph::Normalization::kNone;
  if (name == "symmetric") return graph::Normalization::kSymmetric;
  if (name == "random-walk") return graph::Normalization::kRandomWalk;
  TOPO_CHECK_ARG(false, "normalization_from_string", "name",
                 "\"none\", \"symmetric\" or \"random-walk\"", "\"" + name + "\"");
  return graph::Normalization::kNone;
}

std::string to_string(graph::Normalization normalization) {
  switch (normalization) {
    case graph::Normalization::kNone:
      return "none";
    case graph::Normalization::kSymmetric:
      return "symmetric";
    case graph::Normalization::kRandomWalk:
      return "random-walk";
  }
  return "?";
}

namespace detail {

torch::Tensor tokens_to_nodes(const torch::Tensor& x) {
  return x.transpose(0, 1).reshape({x.size(1), x.size(0) * x.size(2), x.size(3)});
}

torch::Tensor nodes_to_tokens(const torch::Tensor& y, int64_t batch_size, int64_t length) {
  return y.view({y.size(0), batch_size, length, y.size(2)}).transpose(0, 1);
}

torch::Tensor diagonal_blocks(const torch::Tensor& m, int64_t batch_size, int64_t length) {
  const auto blocks = m.view({m.size(0), batch_size, length, batch_size, length});
  const auto b = torch::arange(batch_size, torch::kLong);
  return blocks.index({torch::indexing::Slice(), b, torch::indexing::Slice(), b});
}

const graph::Graph& context_graph(const MaskContext& context, const char* mask) {
  check_context(context, mask, false, true);
  const auto& g = *context.graph;
  TOPO_CHECK_ARG(g.num_graphs() == context.batch_size, mask, "context.graph",
                 c10::str("one graph per batch element (", context.batch_size, ")"),
                 c10::str(g.num_graphs(), " graphs"));
  return g;
}

const graph::SparseOperator& cached_token_operator(const MaskContext& context,
                                                   graph::Normalization normalization,
                                                   const char* mask) {
  const auto& g = context_graph(context, mask);
  return context.cache->get<graph::SparseOperator>(
      "token_operator/" + to_string(normalization),
      [&] { return token_operator(g, context.length, normalization); });
}

}  // namespace detail

}  // namespace topo::attention
