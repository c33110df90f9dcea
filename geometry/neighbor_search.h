// SPDX-License-Identifier: Apache-2.0
/// \file
/// Internal (not installed): the per-cloud loop shared by knn and radius.
#pragma once

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "geometry/kd_tree.h"

namespace topo::geometry::detail {

/// Validated, CPU, contiguous inputs of a batched neighbour search.
struct CloudPairs {
  torch::Tensor x, y;                       // [N, d], [M, d] in a common float dtype
  std::vector<int64_t> x_splits, y_splits;  // [B + 1] each
  int64_t num_clouds() const { return static_cast<int64_t>(x_splits.size()) - 1; }
};

CloudPairs prepare_cloud_pairs(const char* function, const torch::Tensor& x, const torch::Tensor& y,
                               const torch::Tensor& batch_x, const torch::Tensor& batch_y);

/// Runs `search(tree, y_cloud, x_offset, y_offset)` → [2, E_b] global (y, x) edges for every
/// cloud with points on both sides (in parallel over clouds) and concatenates them in cloud
/// order. The result is on `device`.
template <typename Search>
torch::Tensor search_clouds(const CloudPairs& pairs, const torch::Device& device, Search&& search) {
  const int64_t clouds = pairs.num_clouds();
  std::vector<torch::Tensor> parts(clouds);
  const auto search_range = [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t xs = pairs.x_splits[b], xn = pairs.x_splits[b + 1] - xs;
      const int64_t ys = pairs.y_splits[b], yn = pairs.y_splits[b + 1] - ys;
      if (xn == 0 || yn == 0) continue;
      const KdTree tree(pairs.x.narrow(0, xs, xn));
      parts[b] = search(tree, pairs.y.narrow(0, ys, yn), xs, ys);
    }
  };
  // One cloud searches its queries in parallel itself; inside an outer at::parallel_for that
  // inner loop would run serially (ATen does not nest parallel regions).
  if (clouds == 1)
    search_range(0, 1);
  else
    at::parallel_for(0, clouds, 1, search_range);
  std::vector<torch::Tensor> present;
  for (auto& part : parts) {
    if (part.defined()) present.push_back(std::move(part));
  }
  if (present.empty()) return torch::empty({2, 0}, torch::dtype(torch::kLong).device(device));
  return torch::cat(present, 1).to(device);
}

/// Orients a graph built as (centre, neighbour) rows for `flow`.
torch::Tensor orient_graph(const char* function, torch::Tensor centre_neighbour,
                           const std::string& flow);

}  // namespace topo::geometry::detail
