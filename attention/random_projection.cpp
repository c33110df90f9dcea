// SPDX-License-Identifier: Apache-2.0
#include "attention/random_projection.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/linalg.h>

#include <cmath>

#include "common/check.h"

namespace topo::attention {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t projection_seed(uint64_t base_seed, int64_t redraw_count, int64_t layer, int64_t head) {
  uint64_t seed = splitmix64(base_seed);
  seed = splitmix64(seed ^ static_cast<uint64_t>(redraw_count));
  seed = splitmix64(seed ^ static_cast<uint64_t>(layer));
  return splitmix64(seed ^ static_cast<uint64_t>(head));
}

torch::Tensor random_projection(const RandomProjectionOptions& options) {
  const int64_t m = options.num_features();
  const int64_t d = options.dim();
  TOPO_CHECK_ARG(m > 0, "random_projection", "num_features", "positive", m);
  TOPO_CHECK_ARG(d > 0, "random_projection", "dim", "positive", d);
  auto generator = at::make_generator<at::CPUGeneratorImpl>(options.seed());
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);

  torch::Tensor directions;
  if (options.orthogonal()) {
    std::vector<torch::Tensor> blocks;
    for (int64_t done = 0; done < m; done += d) {
      const auto gaussian = torch::randn({d, d}, generator, f64);
      auto [q, r] = torch::linalg::qr(gaussian);
      // Haar measure needs diag(R) > 0; LAPACK does not fix the signs.
      q = q * torch::sign(torch::diagonal(r)).unsqueeze(0);
      blocks.push_back(q.t().narrow(0, 0, std::min(d, m - done)));
    }
    directions = torch::cat(blocks, 0);  // unit rows
  } else {
    directions = torch::randn({m, d}, generator, f64);
    if (options.norm() == ProjectionNorm::kChi) return directions.to(options.dtype());
    directions = directions / directions.norm(2, 1, true);
  }

  torch::Tensor lengths;
  if (options.norm() == ProjectionNorm::kChi) {
    lengths = torch::randn({m, d}, generator, f64).norm(2, 1, true);
  } else {
    lengths = torch::full({m, 1}, std::sqrt(static_cast<double>(d)), f64);
  }
  return (directions * lengths).to(options.dtype());
}

}  // namespace topo::attention
