// SPDX-License-Identifier: Apache-2.0
/// \file
/// A kd-tree over a tensor of points (nanoflann, kept out of this header). Zero-copy for
/// contiguous CPU float32/float64 data; the tree holds a reference to the tensor so the data
/// outlives it. Fast paths for d = 2 and 3, a general path for any d. Queries run in parallel
/// (at::parallel_for) and are deterministic: neighbours are ordered by (distance, index).
#pragma once

#include <torch/types.h>

#include <memory>
#include <tuple>
#include <utility>

namespace topo::geometry {

class KdTree {
 public:
  /// Builds the tree over `points` [N, d] (CPU, float32 or float64, finite). N may be 0.
  explicit KdTree(torch::Tensor points, int64_t leaf_size = 10);
  ~KdTree();
  KdTree(KdTree&&) noexcept;
  KdTree& operator=(KdTree&&) noexcept;

  int64_t size() const;
  int64_t dim() const;
  /// The indexed points (the tensor the tree refers to).
  const torch::Tensor& points() const;

  /// The k nearest points to every row of `queries` [Q, d]: (indices [Q, k] int64,
  /// squared distances [Q, k] in the points' dtype), ordered by (distance, index). Rows with
  /// fewer than k candidates are filled with index −1 and distance +inf. `exclude` [Q] int64
  /// optionally names one point per query that must not be returned (−1: none), e.g. the query
  /// itself in a kNN graph without loops.
  std::pair<torch::Tensor, torch::Tensor> knn(const torch::Tensor& queries, int64_t k,
                                              const torch::Tensor& exclude = {}) const;

  /// Points strictly closer than `radius` to every query (as torch-cluster), keeping the
  /// `max_neighbours` nearest (−1: all), ordered by (distance, index). Returns CSR-style
  /// (row_splits [Q + 1], indices [E], squared distances [E]).
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> radius(
      const torch::Tensor& queries, double radius, int64_t max_neighbours = -1,
      const torch::Tensor& exclude = {}) const;

  struct Backend;

 private:
  torch::Tensor points_;
  std::unique_ptr<Backend> backend_;
};

}  // namespace topo::geometry
