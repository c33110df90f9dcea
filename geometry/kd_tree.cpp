// SPDX-License-Identifier: Apache-2.0
#include "geometry/kd_tree.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nanoflann.hpp>
#include <vector>

#include "common/check.h"

namespace topo::geometry {
namespace {

using Index = uint32_t;
constexpr Index kNoSkip = std::numeric_limits<Index>::max();

/// nanoflann dataset adaptor over a row-major [N, d] buffer (no copy).
template <typename scalar_t>
struct TensorAdaptor {
  const scalar_t* data;
  size_t count;
  size_t dim;
  size_t kdtree_get_point_count() const { return count; }
  scalar_t kdtree_get_pt(size_t i, size_t axis) const { return data[i * dim + axis]; }
  template <class BBox>
  bool kdtree_get_bbox(BBox& /*unused*/) const {
    return false;
  }
};

/// Result set ordered by (distance, index), so ties resolve to the smaller index whatever the
/// traversal order. nanoflann only offers points with dist < worstDist(), so once full we
/// report the next float above the current worst: equal distances still reach addPoint.
template <typename D>
class OrderedResultSet {
 public:
  struct Item {
    D dist;
    Index index;
    bool operator<(const Item& other) const {
      return dist < other.dist || (dist == other.dist && index < other.index);
    }
  };

  OrderedResultSet(size_t capacity, D bound, Index skip)
      : capacity_(capacity), bound_(bound), worst_(bound), skip_(skip) {
    if (capacity_ > 0) items_.reserve(capacity_ + 1);
  }

  bool addPoint(D dist, Index index) {
    if (index == skip_) return true;
    const Item item{dist, index};
    if (capacity_ == 0) {
      items_.push_back(item);
      return true;
    }
    if (items_.size() == capacity_) {
      if (!(item < items_.back())) return true;
      items_.pop_back();
    }
    items_.insert(std::upper_bound(items_.begin(), items_.end(), item), item);
    // nanoflann asks for worstDist() at every node it visits: keep it ready rather than call
    // nextafter each time (knn_graph of 10^6 points: BENCHMARKS.md, "Geometry").
    if (full())
      worst_ =
          std::min(bound_, std::nextafter(items_.back().dist, std::numeric_limits<D>::infinity()));
    return true;
  }
  D worstDist() const { return worst_; }
  bool full() const { return capacity_ > 0 && items_.size() == capacity_; }
  std::vector<Item>& sorted_items() {
    if (capacity_ == 0) std::sort(items_.begin(), items_.end());
    return items_;
  }

 private:
  size_t capacity_;
  D bound_, worst_;
  Index skip_;
  std::vector<Item> items_;
};

/// The k nearest of one query written straight into its output rows (no allocation per query),
/// ordered by (distance, index) by insertion as nanoflann's own KNNResultSet; the same tie and
/// worst-distance rules as OrderedResultSet.
template <typename D>
class KnnRowResultSet {
 public:
  KnnRowResultSet(int64_t k, Index skip, int64_t* indices, D* distances)
      : k_(k), skip_(skip), indices_(indices), distances_(distances) {}

  bool addPoint(D dist, Index index) {
    if (index == skip_) return true;
    int64_t i = count_;
    if (count_ == k_) {
      if (!before(dist, index, k_ - 1)) return true;
      i = k_ - 1;
    } else {
      ++count_;
    }
    for (; i > 0 && before(dist, index, i - 1); --i) {
      distances_[i] = distances_[i - 1];
      indices_[i] = indices_[i - 1];
    }
    distances_[i] = dist;
    indices_[i] = static_cast<int64_t>(index);
    if (count_ == k_)
      worst_ = std::nextafter(distances_[k_ - 1], std::numeric_limits<D>::infinity());
    return true;
  }
  D worstDist() const { return worst_; }
  bool full() const { return count_ == k_; }
  /// Marks the rows not filled (fewer than k candidates) with −1 and +inf.
  void finish() {
    for (int64_t j = count_; j < k_; ++j) {
      indices_[j] = -1;
      distances_[j] = std::numeric_limits<D>::infinity();
    }
  }

 private:
  bool before(D dist, Index index, int64_t j) const {
    return dist < distances_[j] ||
           (dist == distances_[j] && static_cast<int64_t>(index) < indices_[j]);
  }
  int64_t k_, count_ = 0;
  Index skip_;
  int64_t* indices_;
  D* distances_;
  D worst_ = std::numeric_limits<D>::infinity();
};

}  // namespace

/// Type-erased nanoflann index (float/double × d = 2, 3, any).
struct KdTree::Backend {
  virtual ~Backend() = default;
  virtual void knn(const torch::Tensor& queries, int64_t k, const int64_t* exclude,
                   int64_t* indices, void* distances) const = 0;
  virtual void radius(const torch::Tensor& queries, double radius, int64_t max_neighbours,
                      const int64_t* exclude,
                      std::vector<std::vector<std::pair<double, Index>>>& out) const = 0;
};

namespace {

template <typename scalar_t, int32_t Dim>
class NanoflannBackend final : public KdTree::Backend {
  using Adaptor = TensorAdaptor<scalar_t>;
  using Tree = nanoflann::KDTreeSingleIndexAdaptor<
      nanoflann::L2_Simple_Adaptor<scalar_t, Adaptor, scalar_t, Index>, Adaptor, Dim, Index>;
  using ResultSet = OrderedResultSet<scalar_t>;

 public:
  NanoflannBackend(const torch::Tensor& points, int64_t leaf_size)
      : adaptor_{points.data_ptr<scalar_t>(), static_cast<size_t>(points.size(0)),
                 static_cast<size_t>(points.size(1))},
        tree_(static_cast<int>(points.size(1)), adaptor_,
              nanoflann::KDTreeSingleIndexAdaptorParams(static_cast<size_t>(leaf_size))) {}

  void knn(const torch::Tensor& queries, int64_t k, const int64_t* exclude, int64_t* indices,
           void* distances_out) const override {
    auto* distances = static_cast<scalar_t*>(distances_out);
    const scalar_t* q = queries.data_ptr<scalar_t>();
    const int64_t dim = queries.size(1);
    at::parallel_for(0, queries.size(0), 64, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        KnnRowResultSet<scalar_t> result(k, skip(exclude, i), indices + i * k, distances + i * k);
        if (adaptor_.count > 0) tree_.findNeighbors(result, q + i * dim, nanoflann::SearchParams());
        result.finish();
      }
    });
  }

  void radius(const torch::Tensor& queries, double radius, int64_t max_neighbours,
              const int64_t* exclude,
              std::vector<std::vector<std::pair<double, Index>>>& out) const override {
    const scalar_t* q = queries.data_ptr<scalar_t>();
    const int64_t dim = queries.size(1);
    const auto bound = static_cast<scalar_t>(radius * radius);
    const size_t capacity = max_neighbours < 0 ? 0 : static_cast<size_t>(max_neighbours);
    at::parallel_for(0, queries.size(0), 64, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        auto& row = out[i];
        row.clear();
        if (max_neighbours == 0 || adaptor_.count == 0) continue;
        ResultSet result(capacity, bound, skip(exclude, i));
        tree_.findNeighbors(result, q + i * dim, nanoflann::SearchParams());
        for (const auto& item : result.sorted_items()) row.emplace_back(item.dist, item.index);
      }
    });
  }

 private:
  static Index skip(const int64_t* exclude, int64_t i) {
    return exclude == nullptr || exclude[i] < 0 ? kNoSkip : static_cast<Index>(exclude[i]);
  }

  Adaptor adaptor_;
  Tree tree_;
};

template <typename scalar_t>
std::unique_ptr<KdTree::Backend> make_backend(const torch::Tensor& points, int64_t leaf_size) {
  switch (points.size(1)) {
    case 2:
      return std::make_unique<NanoflannBackend<scalar_t, 2>>(points, leaf_size);
    case 3:
      return std::make_unique<NanoflannBackend<scalar_t, 3>>(points, leaf_size);
    default:
      return std::make_unique<NanoflannBackend<scalar_t, -1>>(points, leaf_size);
  }
}

torch::Tensor prepare_queries(const char* function, const torch::Tensor& queries,
                              const torch::Tensor& points) {
  TOPO_CHECK_ARG(queries.dim() == 2 && queries.size(1) == points.size(1), function, "queries",
                 "of shape [Q, " + std::to_string(points.size(1)) + "]", shape_string(queries));
  TOPO_CHECK_ARG(queries.device().is_cpu(), function, "queries", "a CPU tensor",
                 queries.device().str());
  ShapeChecker(function).floating(queries, "queries");
  TOPO_CHECK_ARG(queries.numel() == 0 || torch::isfinite(queries).all().item<bool>(), function,
                 "queries", "finite", "NaN or infinite coordinates");
  return queries.to(points.scalar_type()).contiguous();
}

torch::Tensor prepare_exclude(const char* function, const torch::Tensor& exclude,
                              int64_t num_queries) {
  if (!exclude.defined()) return exclude;
  TOPO_CHECK_ARG(
      exclude.dim() == 1 && exclude.size(0) == num_queries && exclude.scalar_type() == torch::kLong,
      function, "exclude", "an int64 tensor [" + std::to_string(num_queries) + "]",
      shape_string(exclude));
  return exclude.cpu().contiguous();
}

}  // namespace

KdTree::KdTree(torch::Tensor points, int64_t leaf_size) {
  TOPO_CHECK_ARG(points.dim() == 2 && points.size(1) >= 1, "KdTree", "points",
                 "of shape [N, d] with d >= 1", shape_string(points));
  TOPO_CHECK_ARG(points.device().is_cpu(), "KdTree", "points", "a CPU tensor",
                 points.device().str());
  TOPO_CHECK_ARG(points.scalar_type() == torch::kFloat || points.scalar_type() == torch::kDouble,
                 "KdTree", "points", "float32 or float64", c10::toString(points.scalar_type()));
  TOPO_CHECK_ARG(points.size(0) < static_cast<int64_t>(kNoSkip), "KdTree", "points",
                 "fewer than 2^32 - 1 rows", points.size(0));
  TOPO_CHECK_ARG(leaf_size >= 1, "KdTree", "leaf_size", ">= 1", leaf_size);
  TOPO_CHECK_ARG(points.numel() == 0 || torch::isfinite(points).all().item<bool>(), "KdTree",
                 "points", "finite", "NaN or infinite coordinates");
  points_ = points.contiguous();  // no copy when already contiguous
  if (points_.scalar_type() == torch::kFloat) {
    backend_ = make_backend<float>(points_, leaf_size);
  } else {
    backend_ = make_backend<double>(points_, leaf_size);
  }
}

KdTree::~KdTree() = default;
KdTree::KdTree(KdTree&&) noexcept = default;
KdTree& KdTree::operator=(KdTree&&) noexcept = default;

int64_t KdTree::size() const { return points_.size(0); }
int64_t KdTree::dim() const { return points_.size(1); }
const torch::Tensor& KdTree::points() const { return points_; }

std::pair<torch::Tensor, torch::Tensor> KdTree::knn(const torch::Tensor& queries, int64_t k,
                                                    const torch::Tensor& exclude) const {
  TOPO_CHECK_ARG(k >= 1, "KdTree::knn", "k", ">= 1", k);
  const auto q = prepare_queries("KdTree::knn", queries, points_);
  const auto skip = prepare_exclude("KdTree::knn", exclude, q.size(0));
  auto indices = torch::empty({q.size(0), k}, torch::kLong);
  auto distances = torch::empty({q.size(0), k}, points_.options());
  if (q.size(0) > 0) {
    backend_->knn(q, k, skip.defined() ? skip.data_ptr<int64_t>() : nullptr,
                  indices.data_ptr<int64_t>(), distances.data_ptr());
  }
  return {indices, distances};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> KdTree::radius(
    const torch::Tensor& queries, double radius, int64_t max_neighbours,
    const torch::Tensor& exclude) const {
  TOPO_CHECK_ARG(std::isfinite(radius) && radius >= 0, "KdTree::radius", "radius",
                 "finite and >= 0", radius);
  TOPO_CHECK_ARG(max_neighbours >= -1, "KdTree::radius", "max_neighbours", ">= 0 or -1 (all)",
                 max_neighbours);
  const auto q = prepare_queries("KdTree::radius", queries, points_);
  const auto skip = prepare_exclude("KdTree::radius", exclude, q.size(0));
  std::vector<std::vector<std::pair<double, Index>>> rows(q.size(0));
  if (q.size(0) > 0) {
    backend_->radius(q, radius, max_neighbours, skip.defined() ? skip.data_ptr<int64_t>() : nullptr,
                     rows);
  }
  auto row_splits = torch::empty({q.size(0) + 1}, torch::kLong);
  auto* splits = row_splits.data_ptr<int64_t>();
  splits[0] = 0;
  for (size_t i = 0; i < rows.size(); ++i) splits[i + 1] = splits[i] + rows[i].size();
  const int64_t total = splits[q.size(0)];
  auto indices = torch::empty({total}, torch::kLong);
  auto distances = torch::empty({total}, torch::kDouble);
  auto* index_out = indices.data_ptr<int64_t>();
  auto* distance_out = distances.data_ptr<double>();
  at::parallel_for(0, static_cast<int64_t>(rows.size()), 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t at = splits[i];
      for (const auto& [dist, index] : rows[i]) {
        index_out[at] = index;
        distance_out[at++] = dist;
      }
    }
  });
  return {row_splits, indices, distances.to(points_.scalar_type())};
}

}  // namespace topo::geometry
