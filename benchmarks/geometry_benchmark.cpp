// SPDX-License-Identifier: Apache-2.0
// Geometry: kNN graphs on the kd-tree against the same queries issued to nanoflann directly and
// against brute force (cdist + topk), and attention with
// point-cloud RPEs (FLT spectral RPE via the low-rank mask, local exact RPE via the sparse
// mask) against exact softmax attention with the dense RPE, over N points in 3-D (batch 1,
// 4 heads, head dim 32, 64 random features, 16 spectral frequencies). Forward only.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>
#include <nanoflann.hpp>
#include <vector>

#include "attention/feature_map.h"
#include "attention/masked_linear_attention.h"
#include "attention/masks/low_rank_mask.h"
#include "attention/masks/sparse_mask.h"
#include "geometry/knn.h"
#include "geometry/local_rpe.h"
#include "geometry/spectral_rpe.h"

namespace {

using namespace topo;

constexpr int64_t kHeads = 4, kHeadDim = 32, kFeatures = 64, kNeighbours = 16;

torch::Tensor cloud(int64_t n) {
  torch::manual_seed(0);
  return torch::rand({n, 3}) * std::cbrt(static_cast<double>(n) / 1000.0);  // density 1000/unit³
}

void BM_KnnGraphKdTree(benchmark::State& state) {
  const auto pos = cloud(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(geometry::knn_graph(pos, kNeighbours));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_KnnGraphKdTree)
    ->Arg(1 << 10)
    ->Arg(1 << 13)
    ->Arg(1 << 16)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond);

/// The same work issued to nanoflann directly (issue 16's yardstick for knn_graph): build the
/// tree over the same float32 points (leaf size 10, as KdTree), then k + 1 nearest (the point
/// itself included) for every point with nanoflann's own result set, in parallel on the same
/// threads, into a preallocated buffer.
struct RawCloud {
  const float* data;
  size_t count;
  size_t kdtree_get_point_count() const { return count; }
  float kdtree_get_pt(size_t i, size_t axis) const { return data[i * 3 + axis]; }
  template <class BBox>
  bool kdtree_get_bbox(BBox& /*unused*/) const {
    return false;
  }
};

void BM_KnnRawNanoflann(benchmark::State& state) {
  const auto pos = cloud(state.range(0));
  const RawCloud adaptor{pos.data_ptr<float>(), static_cast<size_t>(pos.size(0))};
  using Tree = nanoflann::KDTreeSingleIndexAdaptor<
      nanoflann::L2_Simple_Adaptor<float, RawCloud, float, uint32_t>, RawCloud, 3, uint32_t>;
  const int64_t n = pos.size(0), k = kNeighbours + 1;
  std::vector<uint32_t> indices(static_cast<size_t>(n * k));
  std::vector<float> distances(static_cast<size_t>(n * k));
  for (auto _ : state) {
    Tree tree(3, adaptor, nanoflann::KDTreeSingleIndexAdaptorParams(10));
    at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        nanoflann::KNNResultSet<float, uint32_t, uint32_t> result(static_cast<uint32_t>(k));
        result.init(&indices[i * k], &distances[i * k]);
        tree.findNeighbors(result, adaptor.data + i * 3, nanoflann::SearchParams());
      }
    });
    benchmark::DoNotOptimize(indices.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_KnnRawNanoflann)
    ->Arg(1 << 10)
    ->Arg(1 << 13)
    ->Arg(1 << 16)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond);

void BM_KnnGraphBruteForce(benchmark::State& state) {
  const auto pos = cloud(state.range(0));
  torch::NoGradGuard guard;
  for (auto _ : state) {
    const auto distances = torch::cdist(pos, pos);
    benchmark::DoNotOptimize(std::get<1>(distances.topk(kNeighbours + 1, 1, false)));
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_KnnGraphBruteForce)
    ->Arg(1 << 10)
    ->Arg(1 << 13)
    ->Arg(1 << 15)
    ->Unit(benchmark::kMillisecond);

struct AttentionInputs {
  torch::Tensor pos, q, k, v;
};

AttentionInputs attention_inputs(int64_t n) {
  torch::manual_seed(1);
  return {cloud(n).unsqueeze(0), torch::randn({1, kHeads, n, kHeadDim}) * 0.5,
          torch::randn({1, kHeads, n, kHeadDim}) * 0.5, torch::randn({1, kHeads, n, kHeadDim})};
}

void BM_FltSpectralRpeAttention(benchmark::State& state) {
  const auto in = attention_inputs(state.range(0));
  geometry::SpectralRPE rpe(geometry::SpectralRPEOptions(3, kHeads).num_features(16));
  attention::FeatureMap phi(
      attention::FeatureMapOptions(kHeadDim).num_heads(kHeads).num_features(kFeatures));
  torch::NoGradGuard guard;
  for (auto _ : state) {
    const auto [fq, fk] = rpe(in.pos);
    const attention::LowRankMaskOperator mask(fq, fk);
    benchmark::DoNotOptimize(
        attention::masked_linear_attention(phi(in.q, attention::FeatureRole::kQuery),
                                           phi(in.k, attention::FeatureRole::kKey), in.v, mask));
  }
}
BENCHMARK(BM_FltSpectralRpeAttention)
    ->RangeMultiplier(4)
    ->Range(1 << 10, 1 << 16)
    ->Unit(benchmark::kMillisecond);

void BM_LocalRpeAttention(benchmark::State& state) {
  const auto in = attention_inputs(state.range(0));
  geometry::LocalRPE rpe(geometry::LocalRPEOptions(kHeads, 0.12));  // ~7 neighbours
  attention::FeatureMap phi(
      attention::FeatureMapOptions(kHeadDim).num_heads(kHeads).num_features(kFeatures));
  torch::NoGradGuard guard;
  for (auto _ : state) {
    const auto local = rpe(in.pos);
    const attention::SparseMaskOperator mask(local.edge_index, local.values, 1, state.range(0));
    benchmark::DoNotOptimize(
        attention::masked_linear_attention(phi(in.q, attention::FeatureRole::kQuery),
                                           phi(in.k, attention::FeatureRole::kKey), in.v, mask));
  }
}
BENCHMARK(BM_LocalRpeAttention)
    ->RangeMultiplier(4)
    ->Range(1 << 10, 1 << 16)
    ->Unit(benchmark::kMillisecond);

void BM_ExactSoftmaxWithDenseRpe(benchmark::State& state) {
  const auto in = attention_inputs(state.range(0));
  geometry::SpectralRPE rpe(
      geometry::SpectralRPEOptions(3, kHeads).family(geometry::SpectralFamily::kGaussian));
  torch::NoGradGuard guard;
  for (auto _ : state) {
    const auto bias = rpe->exact_mask(in.pos, in.pos);  // [1, H, N, N]
    const auto logits =
        torch::matmul(in.q, in.k.transpose(-1, -2)) / std::sqrt(double(kHeadDim)) + bias;
    benchmark::DoNotOptimize(torch::matmul(torch::softmax(logits, -1), in.v));
  }
}
BENCHMARK(BM_ExactSoftmaxWithDenseRpe)
    ->RangeMultiplier(4)
    ->Range(1 << 10, 1 << 14)
    ->Unit(benchmark::kMillisecond);

}  // namespace
