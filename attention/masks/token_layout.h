// SPDX-License-Identifier: Apache-2.0
/// \file
/// Moving between the attention layout [B, H, L, C] and the node layout [H, B·L, C] used by
/// masks defined on (batches of) graphs, whose graph b occupies tokens b·L … b·L + n_b − 1, and
/// the per-batch graph structure those masks share (cached in the MaskContext).
#pragma once

#include <torch/types.h>

#include <string>

#include "attention/masks/mask.h"
#include "graph/graph.h"
#include "graph/sparse_operator.h"

namespace topo::attention {

/// W over all batch_size·length tokens (node_to_token), for the graph masks.
graph::SparseOperator token_operator(const graph::Graph& graph, int64_t length,
                                     graph::Normalization normalization);

/// "none" | "symmetric" | "random-walk", and back.
graph::Normalization normalization_from_string(const std::string& name);
std::string to_string(graph::Normalization normalization);

namespace detail {

/// [B, H, L, C] → [H, B·L, C].
torch::Tensor tokens_to_nodes(const torch::Tensor& x);
/// [H, B·L, C] → [B, H, L, C].
torch::Tensor nodes_to_tokens(const torch::Tensor& y, int64_t batch_size, int64_t length);
/// The per-batch-element diagonal blocks [B, H, L, L] of a [H, B·L, B·L] token matrix.
torch::Tensor diagonal_blocks(const torch::Tensor& m, int64_t batch_size, int64_t length);

/// Checks that `context` has a graph of batch_size graphs that fits its length; returns it.
const graph::Graph& context_graph(const MaskContext& context, const char* mask);
/// token_operator of the context's graph, computed once per context.
const graph::SparseOperator& cached_token_operator(const MaskContext& context,
                                                   graph::Normalization normalization,
                                                   const char* mask);

}  // namespace detail
}  // namespace topo::attention
