// SPDX-License-Identifier: Apache-2.0
#include "graph/random_walks.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/check.h"

namespace topo::graph {
namespace {

void check_options(const char* fn, const RandomWalkOptions& o) {
  TOPO_CHECK_ARG(o.walks_per_node() >= 1, fn, "walks_per_node", ">= 1", o.walks_per_node());
  TOPO_CHECK_ARG(o.max_length() >= 0, fn, "max_length", ">= 0", o.max_length());
  TOPO_CHECK_ARG(o.halt_probability() >= 0 && o.halt_probability() < 1, fn, "halt_probability",
                 "in [0, 1)", o.halt_probability());
  TOPO_CHECK_ARG(!o.antithetic() || o.walks_per_node() % 2 == 0, fn, "walks_per_node",
                 "even with antithetic termination", o.walks_per_node());
}

}  // namespace

RandomWalks sample_random_walks(const Graph& graph, const RandomWalkOptions& options,
                                const torch::Tensor& starts_in) {
  check_options("sample_random_walks", options);
  torch::Tensor starts = starts_in.defined() ? starts_in.cpu().contiguous()
                                             : torch::arange(graph.num_nodes(), torch::kLong);
  TOPO_CHECK_ARG(starts.dim() == 1 && starts.scalar_type() == torch::kLong, "sample_random_walks",
                 "starts", "a 1-D int64 tensor", shape_string(starts));
  if (starts.numel() > 0) {
    TOPO_CHECK_ARG(
        starts.min().item<int64_t>() >= 0 && starts.max().item<int64_t>() < graph.num_nodes(),
        "sample_random_walks", "starts", c10::str("node ids in [0, ", graph.num_nodes(), ")"),
        value_range(starts));
  }
  const int64_t per = options.walks_per_node(), steps = options.max_length();
  const int64_t walks = starts.size(0) * per;
  // All randomness up front, in a fixed order: [W, steps] halting and choice uniforms.
  auto halt = torch::rand({walks, std::max<int64_t>(steps, 1)}, torch::kDouble);
  if (options.antithetic()) {
    auto pairs = halt.view({-1, 2, halt.size(1)});
    pairs.select(1, 1).copy_(torch::frac(pairs.select(1, 0) + 0.5));
  }
  const auto choice = torch::rand({walks, std::max<int64_t>(steps, 1)}, torch::kDouble);
  RandomWalks out;
  out.nodes = torch::full({walks, steps + 1}, -1, torch::kLong);
  out.length = torch::zeros({walks}, torch::kLong);
  out.start = starts.repeat_interleave(per);
  const auto* rp = graph.row_ptr().data_ptr<int64_t>();
  const auto* col = graph.col().data_ptr<int64_t>();
  const auto* weight = graph.weight().data_ptr<double>();
  const auto* h = halt.data_ptr<double>();
  const auto* c = choice.data_ptr<double>();
  const auto* s = out.start.data_ptr<int64_t>();
  auto* nodes = out.nodes.data_ptr<int64_t>();
  auto* length = out.length.data_ptr<int64_t>();
  const int64_t stride = halt.size(1);
  const double p_halt = options.halt_probability();
  const bool weighted = options.weighted();
  at::parallel_for(0, walks, 256, [&](int64_t begin, int64_t end) {
    for (int64_t wk = begin; wk < end; ++wk) {
      int64_t u = s[wk];
      nodes[wk * (steps + 1)] = u;
      int64_t t = 0;
      for (; t < steps; ++t) {
        if (h[wk * stride + t] < p_halt) break;
        const int64_t first = rp[u], degree = rp[u + 1] - first;
        if (degree == 0) break;
        int64_t pick;
        if (weighted) {
          double total = 0;
          for (int64_t a = first; a < first + degree; ++a) total += weight[a];
          if (total <= 0) break;
          double target = c[wk * stride + t] * total;
          pick = first + degree - 1;
          for (int64_t a = first; a < first + degree; ++a) {
            target -= weight[a];
            if (target < 0) {
              pick = a;
              break;
            }
          }
        } else {
          pick = first +
                 std::min<int64_t>(degree - 1, static_cast<int64_t>(c[wk * stride + t] * degree));
        }
        u = col[pick];
        nodes[wk * (steps + 1) + t + 1] = u;
      }
      length[wk] = t;
    }
  });
  return out;
}

torch::Tensor SparseFeatures::dense() const {
  const auto e = edge_index.cpu();
  if (values.dim() == 1) {
    return torch::zeros({num_rows, num_cols}, torch::kDouble)
        .index_put_({e[0], e[1]}, values.cpu().to(torch::kDouble), true);
  }
  auto out = torch::zeros({values.size(1), num_rows, num_cols}, torch::kDouble);
  for (int64_t k = 0; k < values.size(1); ++k) {
    out[k].index_put_({e[0], e[1]}, values.select(1, k).cpu().to(torch::kDouble), true);
  }
  return out;
}

namespace {

/// Sums values of repeated (row, col) keys: keys [M], values [M, K] → coalesced COO.
SparseFeatures coalesce(const torch::Tensor& rows, const torch::Tensor& cols,
                        const torch::Tensor& values, int64_t n) {
  const auto keys = rows * n + cols;
  const auto [unique, inverse] = [&] {
    auto result = torch::_unique2(keys, /*sorted=*/true, /*return_inverse=*/true);
    return std::make_pair(std::get<0>(result), std::get<1>(result));
  }();
  SparseFeatures out;
  out.values = torch::zeros({unique.size(0), values.size(1)}, values.options())
                   .index_add_(0, inverse, values);
  out.edge_index = torch::stack({unique.div(n, "floor"), unique.remainder(n)});
  out.num_rows = out.num_cols = n;
  return out;
}

}  // namespace

SparseFeatures gkat_frequency_matrix(const Graph& graph, const RandomWalkOptions& options) {
  check_options("gkat_frequency_matrix", options);
  const auto walks = sample_random_walks(graph, options);
  const auto visited = walks.nodes >= 0;
  const auto rows = walks.start.unsqueeze(1).expand_as(walks.nodes).masked_select(visited);
  const auto cols = walks.nodes.masked_select(visited);
  auto result =
      coalesce(rows, cols, torch::ones({rows.size(0), 1}, torch::kDouble), graph.num_nodes());
  result.values = result.values.squeeze(1) / static_cast<double>(options.walks_per_node());
  return result;
}

SparseFeatures graph_random_features(const Graph& graph, const SparseOperator& w,
                                     const RandomWalkOptions& options) {
  check_options("graph_random_features", options);
  TOPO_CHECK_ARG(w.num_nodes == graph.num_nodes() && w.values.size(0) == graph.num_arcs(),
                 "graph_random_features", "w",
                 c10::str("one value per arc of the graph (", graph.num_arcs(), ")"),
                 c10::str(w.values.size(0), " values"));
  TOPO_CHECK_ARG(!options.weighted(), "graph_random_features", "options.weighted",
                 "false (the importance weights assume uniform neighbour choice)", "true");
  const auto walks = sample_random_walks(graph, options);
  const int64_t steps = options.max_length(), count = walks.nodes.size(0);
  // Load of every prefix: Π_t W[ω_t, ω_{t+1}] · deg(ω_t) / (1 − p_halt), via the arc taken.
  const auto* rp = graph.row_ptr().data_ptr<int64_t>();
  const auto* col = graph.col().data_ptr<int64_t>();
  const auto values = w.values.cpu().to(torch::kDouble).contiguous();
  const auto* wv = values.data_ptr<double>();
  const auto* nodes = walks.nodes.data_ptr<int64_t>();
  auto loads = torch::zeros({count, steps + 1}, torch::kDouble);
  auto* load = loads.data_ptr<double>();
  const double keep = 1.0 - options.halt_probability();
  at::parallel_for(0, count, 256, [&](int64_t begin, int64_t end) {
    for (int64_t wk = begin; wk < end; ++wk) {
      double value = 1.0;
      load[wk * (steps + 1)] = 1.0;
      for (int64_t t = 0; t < steps; ++t) {
        const int64_t u = nodes[wk * (steps + 1) + t], v = nodes[wk * (steps + 1) + t + 1];
        if (v < 0) break;
        // The arc u → v (CSR rows are sorted by target).
        const auto* arc = std::lower_bound(col + rp[u], col + rp[u + 1], v);
        value *= wv[arc - col] * static_cast<double>(rp[u + 1] - rp[u]) / keep;
        load[wk * (steps + 1) + t + 1] = value;
      }
    }
  });
  // One COO entry per (walk, prefix length): row = start, col = node reached, one-hot in k.
  const auto visited = walks.nodes >= 0;
  const auto rows = walks.start.unsqueeze(1).expand_as(walks.nodes).masked_select(visited);
  const auto cols = walks.nodes.masked_select(visited);
  const auto k =
      torch::arange(steps + 1, torch::kLong).expand_as(walks.nodes).masked_select(visited);
  const auto onehot = torch::zeros({rows.size(0), steps + 1}, torch::kDouble)
                          .scatter_(1, k.unsqueeze(1), loads.masked_select(visited).unsqueeze(1));
  auto result = coalesce(rows, cols, onehot, graph.num_nodes());
  result.values /= static_cast<double>(options.walks_per_node());
  return result;
}

torch::Tensor self_convolution(const torch::Tensor& f) {
  TOPO_CHECK_ARG(f.dim() >= 1 && f.size(-1) >= 1, "self_convolution", "f", "[..., K + 1]",
                 shape_string(f));
  const int64_t k = f.size(-1);
  std::vector<torch::Tensor> alpha;
  for (int64_t n = 0; n <= 2 * (k - 1); ++n) {
    // α_n = Σ_{p+q=n} f_p f_q with 0 ≤ p, q ≤ K.
    const int64_t low = std::max<int64_t>(0, n - (k - 1)), high = std::min<int64_t>(n, k - 1);
    const int64_t count = high - low + 1;
    alpha.push_back((f.narrow(-1, low, count) * f.narrow(-1, n - high, count).flip(-1)).sum(-1));
  }
  return torch::stack(alpha, -1);
}

}  // namespace topo::graph
