// SPDX-License-Identifier: Apache-2.0
#include "geometry/radius.h"

#include <torch/torch.h>

#include <cmath>

#include "common/check.h"
#include "geometry/neighbor_search.h"

namespace topo::geometry {
namespace {

torch::Tensor radius_impl(const char* function, const torch::Tensor& x, const torch::Tensor& y,
                          double r, const torch::Tensor& batch_x, const torch::Tensor& batch_y,
                          int64_t max_neighbours, bool exclude_self) {
  TOPO_CHECK_ARG(std::isfinite(r) && r >= 0, function, "r", "finite and >= 0", r);
  TOPO_CHECK_ARG(max_neighbours >= -1, function, "max_neighbours", ">= 0 or -1 (all)",
                 max_neighbours);
  const auto pairs = detail::prepare_cloud_pairs(function, x, y, batch_x, batch_y);
  return detail::search_clouds(
      pairs, x.device(),
      [&](const KdTree& tree, const torch::Tensor& queries, int64_t x_offset, int64_t y_offset) {
        const int64_t n = queries.size(0);
        const auto exclude = exclude_self ? torch::arange(n, torch::kLong) : torch::Tensor();
        const auto [splits, indices, distances] = tree.radius(queries, r, max_neighbours, exclude);
        const auto counts = splits.slice(0, 1) - splits.slice(0, 0, -1);
        const auto rows = torch::repeat_interleave(torch::arange(n, torch::kLong), counts);
        return torch::stack({rows + y_offset, indices + x_offset});
      });
}

}  // namespace

torch::Tensor radius(const torch::Tensor& x, const torch::Tensor& y, double r,
                     const torch::Tensor& batch_x, const torch::Tensor& batch_y,
                     int64_t max_neighbours) {
  return radius_impl("radius", x, y, r, batch_x, batch_y, max_neighbours, false);
}

torch::Tensor radius_graph(const torch::Tensor& x, double r, const torch::Tensor& batch, bool loop,
                           int64_t max_neighbours, const std::string& flow) {
  auto edges = radius_impl("radius_graph", x, x, r, batch, batch, max_neighbours, !loop);
  return detail::orient_graph("radius_graph", std::move(edges), flow);
}

}  // namespace topo::geometry
