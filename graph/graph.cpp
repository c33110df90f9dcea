// SPDX-License-Identifier: Apache-2.0
#include "graph/graph.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

#include "common/check.h"

namespace topo::graph {

Graph::Graph(const torch::Tensor& edge_index_in, const torch::Tensor& edge_weight_in,
             int64_t num_nodes, const torch::Tensor& batch_in, const GraphOptions& options)
    : directed_(options.directed()) {
  const char* fn = "Graph";
  TOPO_CHECK_ARG(edge_index_in.defined() && edge_index_in.dim() == 2 &&
                     edge_index_in.size(0) == 2 && edge_index_in.scalar_type() == torch::kLong,
                 fn, "edge_index", "an int64 tensor [2, E]",
                 edge_index_in.defined() ? shape_string(edge_index_in) : "undefined");
  const auto edges = edge_index_in.cpu().contiguous();
  const int64_t e = edges.size(1);
  torch::Tensor weights;
  if (edge_weight_in.defined()) {
    TOPO_CHECK_ARG(edge_weight_in.dim() == 1 && edge_weight_in.size(0) == e, fn, "edge_weight",
                   "of shape [" + std::to_string(e) + "] (one weight per edge)",
                   shape_string(edge_weight_in));
    TOPO_CHECK_ARG(edge_weight_in.is_floating_point(), fn, "edge_weight", "floating point",
                   c10::toString(edge_weight_in.scalar_type()));
    weights = edge_weight_in.detach().cpu().to(torch::kDouble).contiguous();
  } else {
    weights = torch::ones({e}, torch::kDouble);
  }
  const auto* w = weights.data_ptr<double>();
  for (int64_t i = 0; i < e; ++i) {
    TOPO_CHECK_ARG(std::isfinite(w[i]) && w[i] >= 0, fn, "edge_weight", "finite and >= 0",
                   c10::str(w[i], " at edge ", i));
  }
  if (batch_in.defined()) {
    TOPO_CHECK_ARG(batch_in.dim() == 1 && batch_in.scalar_type() == torch::kLong, fn, "batch",
                   "a 1-D int64 tensor", shape_string(batch_in));
    batch_ = batch_in.cpu().contiguous();
    TOPO_CHECK_ARG(num_nodes < 0 || num_nodes == batch_.size(0), fn, "num_nodes",
                   c10::str("the length of `batch` (", batch_.size(0), ")"), num_nodes);
    num_nodes = batch_.size(0);
  }
  const auto* ei = edges.data_ptr<int64_t>();
  if (num_nodes < 0) {
    num_nodes = 0;
    for (int64_t i = 0; i < 2 * e; ++i) num_nodes = std::max(num_nodes, ei[i] + 1);
  }
  num_nodes_ = num_nodes;
  for (int64_t i = 0; i < e; ++i) {
    for (int side = 0; side < 2; ++side) {
      const int64_t node = ei[side * e + i];
      TOPO_CHECK_ARG(node >= 0 && node < num_nodes, fn,
                     side == 0 ? "edge_index[0]" : "edge_index[1]",
                     c10::str("node ids in [0, ", num_nodes, ")"), c10::str(node, " at edge ", i));
    }
  }
  if (!batch_.defined()) batch_ = torch::zeros({num_nodes}, torch::kLong);
  const auto* b = batch_.data_ptr<int64_t>();
  for (int64_t i = 0; i < num_nodes; ++i) {
    TOPO_CHECK_ARG(b[i] >= 0 && (i == 0 || b[i] >= b[i - 1]), fn, "batch",
                   "sorted non-negative graph ids", c10::str("batch[", i, "] = ", b[i]));
  }
  for (int64_t i = 0; i < e; ++i) {
    TOPO_CHECK_ARG(b[ei[i]] == b[ei[e + i]], fn, "edge_index",
                   "edges inside one graph of the batch",
                   c10::str("edge ", i, " joins graphs ", b[ei[i]], " and ", b[ei[e + i]]));
  }
  const int64_t graphs = num_nodes == 0 ? 0 : b[num_nodes - 1] + 1;
  node_offsets_ = torch::zeros({graphs + 1}, torch::kLong);
  if (graphs > 0) {
    node_offsets_.slice(0, 1).copy_(torch::bincount(batch_, {}, graphs).cumsum(0));
  }

  // Arcs (source, target, weight): coalesce repeats by summing, then symmetrise.
  std::vector<std::tuple<int64_t, int64_t, double>> arcs;
  arcs.reserve(2 * e + num_nodes);
  for (int64_t i = 0; i < e; ++i) {
    if (options.self_loops() == SelfLoops::kRemove && ei[i] == ei[e + i]) continue;
    arcs.emplace_back(ei[i], ei[e + i], w[i]);
  }
  const auto coalesce = [](std::vector<std::tuple<int64_t, int64_t, double>>& list) {
    std::sort(list.begin(), list.end());
    size_t out = 0;
    for (size_t i = 0; i < list.size(); ++i) {
      if (out > 0 && std::get<0>(list[out - 1]) == std::get<0>(list[i]) &&
          std::get<1>(list[out - 1]) == std::get<1>(list[i])) {
        std::get<2>(list[out - 1]) += std::get<2>(list[i]);
      } else {
        list[out++] = list[i];
      }
    }
    list.resize(out);
  };
  coalesce(arcs);
  if (!directed_) {
    std::vector<std::tuple<int64_t, int64_t, double>> reversed;
    for (const auto& [s, t, weight] : arcs) {
      if (s == t) continue;
      const auto it = std::lower_bound(arcs.begin(), arcs.end(), std::make_tuple(t, s, -1.0));
      if (it != arcs.end() && std::get<0>(*it) == t && std::get<1>(*it) == s) {
        TOPO_CHECK_ARG(std::get<2>(*it) == weight, fn, "edge_weight",
                       "equal in both directions of an undirected edge",
                       c10::str(weight, " for (", s, ", ", t, ") and ", std::get<2>(*it), " for (",
                                t, ", ", s, ")"));
      } else {
        reversed.emplace_back(t, s, weight);
      }
    }
    arcs.insert(arcs.end(), reversed.begin(), reversed.end());
  }
  if (options.self_loops() == SelfLoops::kAdd) {
    std::vector<char> has_loop(num_nodes, 0);
    for (const auto& [s, t, weight] : arcs) {
      if (s == t) has_loop[s] = 1;
    }
    for (int64_t i = 0; i < num_nodes; ++i) {
      if (!has_loop[i]) arcs.emplace_back(i, i, options.self_loop_weight());
    }
  }
  std::sort(arcs.begin(), arcs.end());
  row_ptr_ = torch::zeros({num_nodes + 1}, torch::kLong);
  col_ = torch::empty({static_cast<int64_t>(arcs.size())}, torch::kLong);
  weight_ = torch::empty({static_cast<int64_t>(arcs.size())}, torch::kDouble);
  auto* rp = row_ptr_.data_ptr<int64_t>();
  auto* c = col_.data_ptr<int64_t>();
  auto* wt = weight_.data_ptr<double>();
  for (size_t i = 0; i < arcs.size(); ++i) {
    rp[std::get<0>(arcs[i]) + 1]++;
    c[i] = std::get<1>(arcs[i]);
    wt[i] = std::get<2>(arcs[i]);
  }
  for (int64_t i = 0; i < num_nodes; ++i) rp[i + 1] += rp[i];
}

torch::Tensor Graph::edge_index() const {
  const auto counts = row_ptr_.slice(0, 1) - row_ptr_.slice(0, 0, -1);
  const auto rows = torch::repeat_interleave(torch::arange(num_nodes_, torch::kLong), counts);
  return torch::stack({rows, col_});
}

torch::Tensor Graph::degree() const {
  return torch::zeros({num_nodes_}, torch::kDouble).index_add_(0, edge_index()[0], weight_);
}

torch::Tensor node_to_token(const Graph& graph, int64_t length) {
  const auto offsets = graph.node_offsets();
  if (graph.num_graphs() > 0) {
    const auto sizes = offsets.slice(0, 1) - offsets.slice(0, 0, -1);
    const int64_t largest = sizes.max().item<int64_t>();
    TOPO_CHECK_ARG(length >= largest, "node_to_token", "length",
                   c10::str(">= the largest graph (", largest, " nodes)"), length);
  }
  const auto batch = graph.batch();
  const auto local =
      torch::arange(graph.num_nodes(), torch::kLong) - offsets.index_select(0, batch);
  return batch * length + local;
}

}  // namespace topo::graph
