// SPDX-License-Identifier: Apache-2.0
#include "geometry/farthest_point_sampling.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "common/check.h"
#include "geometry/point_cloud.h"

namespace topo::geometry {
namespace {

template <typename scalar_t>
void sample_cloud(const scalar_t* pos, int64_t n, int64_t d, int64_t start, int64_t count,
                  int64_t offset, int64_t* out) {
  std::vector<scalar_t> nearest(n, std::numeric_limits<scalar_t>::infinity());
  int64_t current = start;
  for (int64_t s = 0; s < count; ++s) {
    out[s] = offset + current;
    nearest[current] = -1;  // never picked twice, even among duplicates
    const scalar_t* c = pos + current * d;
    int64_t best = 0;
    scalar_t best_distance = -1;
    for (int64_t i = 0; i < n; ++i) {
      scalar_t distance = 0;
      for (int64_t a = 0; a < d; ++a) {
        const scalar_t diff = pos[i * d + a] - c[a];
        distance += diff * diff;
      }
      if (distance < nearest[i]) nearest[i] = distance;  // picked points stay at −1
      if (nearest[i] > best_distance) {                  // strict: ties keep the smaller index
        best_distance = nearest[i];
        best = i;
      }
    }
    current = best;
  }
}

torch::Tensor sample(const torch::Tensor& pos_in, const torch::Tensor& batch,
                     const std::function<int64_t(int64_t)>& count_of, bool random_start) {
  check_points("farthest_point_sampling", pos_in, "pos", batch, "batch");
  const auto pos = pos_in.to(torch::kCPU).contiguous();
  const auto ids = batch.defined() ? batch.cpu() : torch::zeros({pos.size(0)}, torch::kLong);
  const auto splits_tensor = batch_to_row_splits(ids, batch.defined() ? -1 : 1).contiguous();
  const int64_t clouds = splits_tensor.size(0) - 1;
  const int64_t* splits = splits_tensor.data_ptr<int64_t>();
  std::vector<int64_t> out_splits(clouds + 1, 0);
  std::vector<int64_t> starts(clouds, 0);
  for (int64_t b = 0; b < clouds; ++b) {
    const int64_t n = splits[b + 1] - splits[b];
    out_splits[b + 1] = out_splits[b] + (n == 0 ? 0 : count_of(n));
    // Drawn here, in cloud order, so the result does not depend on the thread count.
    if (random_start && n > 0) starts[b] = torch::randint(n, {1}, torch::kLong).item<int64_t>();
  }
  auto result = torch::empty({out_splits[clouds]}, torch::kLong);
  int64_t* out = result.data_ptr<int64_t>();
  const int64_t d = pos.size(1);
  AT_DISPATCH_FLOATING_TYPES(pos.scalar_type(), "farthest_point_sampling", [&] {
    const scalar_t* data = pos.data_ptr<scalar_t>();
    at::parallel_for(0, clouds, 1, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t n = splits[b + 1] - splits[b];
        if (n == 0) continue;
        sample_cloud<scalar_t>(data + splits[b] * d, n, d, starts[b],
                               out_splits[b + 1] - out_splits[b], splits[b], out + out_splits[b]);
      }
    });
  });
  return result.to(pos_in.device());
}

}  // namespace

torch::Tensor farthest_point_sampling(const torch::Tensor& pos, const torch::Tensor& batch,
                                      double ratio, bool random_start) {
  TOPO_CHECK_ARG(ratio > 0 && ratio <= 1, "farthest_point_sampling", "ratio", "in (0, 1]", ratio);
  return sample(
      pos, batch,
      [ratio](int64_t n) {
        return std::min<int64_t>(
            n, static_cast<int64_t>(std::ceil(ratio * static_cast<double>(n) - 1e-9)));
      },
      random_start);
}

torch::Tensor farthest_point_sampling(const torch::Tensor& pos, const torch::Tensor& batch,
                                      int64_t num_samples, bool random_start) {
  TOPO_CHECK_ARG(num_samples >= 1, "farthest_point_sampling", "num_samples", ">= 1", num_samples);
  return sample(
      pos, batch, [num_samples](int64_t n) { return std::min(n, num_samples); }, random_start);
}

}  // namespace topo::geometry
