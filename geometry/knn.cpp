// SPDX-License-Identifier: Apache-2.0
#include "geometry/knn.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "common/check.h"
#include "geometry/neighbor_search.h"
#include "geometry/point_cloud.h"

namespace topo::geometry {
namespace detail {

CloudPairs prepare_cloud_pairs(const char* function, const torch::Tensor& x, const torch::Tensor& y,
                               const torch::Tensor& batch_x, const torch::Tensor& batch_y) {
  check_points(function, x, "x", batch_x, "batch_x");
  check_points(function, y, "y", batch_y, "batch_y");
  TOPO_CHECK_ARG(x.size(1) == y.size(1), function, "y",
                 "points of dimension " + std::to_string(x.size(1)) + " (as `x`)", shape_string(y));
  const auto dtype = torch::promote_types(x.scalar_type(), y.scalar_type());
  CloudPairs pairs;
  pairs.x = x.to(torch::kCPU, dtype).contiguous();
  pairs.y = y.to(torch::kCPU, dtype).contiguous();
  const auto ids = [](const torch::Tensor& batch, int64_t n) {
    return batch.defined() ? batch.cpu() : torch::zeros({n}, torch::kLong);
  };
  const auto bx = ids(batch_x, x.size(0));
  const auto by = ids(batch_y, y.size(0));
  const int64_t clouds = std::max(bx.numel() ? bx.max().item<int64_t>() + 1 : 0,
                                  by.numel() ? by.max().item<int64_t>() + 1 : 0);
  const auto to_vector = [](const torch::Tensor& splits) {
    return std::vector<int64_t>(splits.data_ptr<int64_t>(),
                                splits.data_ptr<int64_t>() + splits.numel());
  };
  pairs.x_splits = to_vector(batch_to_row_splits(bx, clouds).contiguous());
  pairs.y_splits = to_vector(batch_to_row_splits(by, clouds).contiguous());
  return pairs;
}

torch::Tensor orient_graph(const char* function, torch::Tensor centre_neighbour,
                           const std::string& flow) {
  TOPO_CHECK_ARG(flow == "source_to_target" || flow == "target_to_source", function, "flow",
                 "\"source_to_target\" or \"target_to_source\"", "\"" + flow + "\"");
  return flow == "source_to_target" ? centre_neighbour.flip(0).contiguous() : centre_neighbour;
}

}  // namespace detail

namespace {

/// Edges [2, E] as (centre, neighbour) rows, or (neighbour, centre) when `neighbour_first`
/// (built in that order rather than flipped afterwards: at 10^6 points the copy costs as much
/// as a fifth of the search).
torch::Tensor knn_impl(const char* function, const torch::Tensor& x, const torch::Tensor& y,
                       int64_t k, const torch::Tensor& batch_x, const torch::Tensor& batch_y,
                       bool exclude_self, bool neighbour_first = false) {
  TOPO_CHECK_ARG(k >= 1, function, "k", ">= 1", k);
  const auto pairs = detail::prepare_cloud_pairs(function, x, y, batch_x, batch_y);
  return detail::search_clouds(
      pairs, x.device(),
      [&](const KdTree& tree, const torch::Tensor& queries, int64_t x_offset, int64_t y_offset) {
        const int64_t n = queries.size(0);
        const auto exclude = exclude_self ? torch::arange(n, torch::kLong) : torch::Tensor();
        const auto [indices, distances] = tree.knn(queries, k, exclude);
        auto edges = torch::empty({2, indices.numel()}, torch::kLong);
        auto* centre = edges.data_ptr<int64_t>() + (neighbour_first ? indices.numel() : 0);
        auto* neighbour = edges.data_ptr<int64_t>() + (neighbour_first ? 0 : indices.numel());
        const auto* found = indices.data_ptr<int64_t>();
        if (n > 0 && indices.min().item<int64_t>() >= 0) {
          // Every row is full (the common case): fill both rows in parallel.
          at::parallel_for(0, n, 4096, [&](int64_t begin, int64_t end) {
            for (int64_t i = begin; i < end; ++i) {
              for (int64_t j = 0; j < k; ++j) {
                centre[i * k + j] = i + y_offset;
                neighbour[i * k + j] = found[i * k + j] + x_offset;
              }
            }
          });
          return edges;
        }
        // Rows with fewer than k candidates end in −1: keep only what was found, in order.
        int64_t e = 0;
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t j = 0; j < k; ++j) {
            const int64_t index = found[i * k + j];
            if (index < 0) break;
            centre[e] = i + y_offset;
            neighbour[e] = index + x_offset;
            ++e;
          }
        }
        if (e == indices.numel()) return edges;
        return edges.narrow(1, 0, e).contiguous();
      });
}

}  // namespace

torch::Tensor knn(const torch::Tensor& x, const torch::Tensor& y, int64_t k,
                  const torch::Tensor& batch_x, const torch::Tensor& batch_y) {
  return knn_impl("knn", x, y, k, batch_x, batch_y, /*exclude_self=*/false);
}

torch::Tensor knn_graph(const torch::Tensor& x, int64_t k, const torch::Tensor& batch, bool loop,
                        const std::string& flow) {
  TOPO_CHECK_ARG(flow == "source_to_target" || flow == "target_to_source", "knn_graph", "flow",
                 "\"source_to_target\" or \"target_to_source\"", "\"" + flow + "\"");
  return knn_impl("knn_graph", x, x, k, batch, batch, /*exclude_self=*/!loop,
                  /*neighbour_first=*/flow == "source_to_target");
}

torch::Tensor edge_lengths(const torch::Tensor& edge_index, const torch::Tensor& pos_source,
                           const torch::Tensor& pos_target) {
  const auto& target = pos_target.defined() ? pos_target : pos_source;
  TOPO_CHECK_ARG(
      edge_index.dim() == 2 && edge_index.size(0) == 2 && edge_index.scalar_type() == torch::kLong,
      "edge_lengths", "edge_index", "an int64 tensor [2, E]", shape_string(edge_index));
  TOPO_CHECK_ARG(pos_source.dim() == 2 && target.dim() == 2 && pos_source.size(1) == target.size(1),
                 "edge_lengths", "pos_target", "[*, " + std::to_string(pos_source.size(1)) + "]",
                 shape_string(target));
  if (edge_index.size(1) > 0) {
    TOPO_CHECK_ARG(edge_index[0].min().item<int64_t>() >= 0 &&
                       edge_index[0].max().item<int64_t>() < pos_source.size(0),
                   "edge_lengths", "edge_index[0]",
                   "in [0, " + std::to_string(pos_source.size(0)) + ")",
                   value_range(edge_index[0]));
    TOPO_CHECK_ARG(edge_index[1].min().item<int64_t>() >= 0 &&
                       edge_index[1].max().item<int64_t>() < target.size(0),
                   "edge_lengths", "edge_index[1]",
                   "in [0, " + std::to_string(target.size(0)) + ")", value_range(edge_index[1]));
  }
  return vector_lengths(pos_source.index_select(0, edge_index[0]) -
                        target.index_select(0, edge_index[1]));
}

torch::Tensor vector_lengths(const torch::Tensor& vectors) {
  // sqrt has an infinite derivative at 0 (self loops, duplicates): differentiate a safe form.
  const auto squared = vectors.pow(2).sum(1);
  const auto zero = squared == 0;
  return torch::where(zero, torch::zeros_like(squared),
                      torch::sqrt(torch::where(zero, torch::ones_like(squared), squared)));
}

}  // namespace topo::geometry
