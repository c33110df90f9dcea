// SPDX-License-Identifier: Apache-2.0
#include "datasets/transforms.h"

#include <torch/torch.h>

#include <cmath>

#include "common/check.h"

namespace topo::datasets {
namespace {

void require_pos(const char* fn, const Sample& s) {
  TOPO_CHECK_ARG(s.pos.defined() && s.pos.dim() == 2, fn, "sample.pos", "[N, d]",
                 s.pos.defined() ? shape_string(s.pos) : "undefined");
}

torch::Tensor uniform(std::vector<int64_t> shape, std::optional<at::Generator> gen) {
  return gen ? torch::rand(shape, *gen, torch::kDouble) : torch::rand(shape, torch::kDouble);
}
torch::Tensor normal(std::vector<int64_t> shape, std::optional<at::Generator> gen) {
  return gen ? torch::randn(shape, *gen, torch::kDouble) : torch::randn(shape, torch::kDouble);
}

}  // namespace

Transform center() {
  return [](Sample s, std::optional<at::Generator>) {
    require_pos("center", s);
    if (s.pos.size(0) > 0) s.pos = s.pos - s.pos.mean(0, true);
    return s;
  };
}

Transform normalize_scale() {
  return [](Sample s, std::optional<at::Generator>) {
    require_pos("normalize_scale", s);
    if (s.pos.size(0) == 0) return s;
    s.pos = s.pos - s.pos.mean(0, true);
    const auto radius = s.pos.norm(2, 1).max();
    s.pos = s.pos / radius.clamp_min(1e-12);
    return s;
  };
}

Transform random_rotate(bool about_z_only) {
  return [about_z_only](Sample s, std::optional<at::Generator> gen) {
    require_pos("random_rotate", s);
    const int64_t d = s.pos.size(1);
    torch::Tensor rotation;
    if (d == 2 || about_z_only) {
      const double angle = 2 * M_PI * uniform({1}, gen).item<double>();
      const double c = std::cos(angle), n = std::sin(angle);
      rotation = d == 2
                     ? torch::tensor({{c, -n}, {n, c}}, torch::kDouble)
                     : torch::tensor({{c, -n, 0.0}, {n, c, 0.0}, {0.0, 0.0, 1.0}}, torch::kDouble);
      TOPO_CHECK_ARG(d == 2 || d == 3, "random_rotate", "sample.pos", "2-D or 3-D points",
                     shape_string(s.pos));
    } else {
      TOPO_CHECK_ARG(d == 3, "random_rotate", "sample.pos", "3-D points for SO(3) rotations",
                     shape_string(s.pos));
      // QR of a Gaussian matrix with sign correction: Haar-uniform in O(3); flip to SO(3).
      auto [q, r] = torch::linalg_qr(normal({3, 3}, gen));
      q = q * torch::sign(torch::diagonal(r)).unsqueeze(0);
      if (torch::det(q).item<double>() < 0) q.select(1, 0).neg_();
      rotation = q;
    }
    s.pos = torch::matmul(s.pos.to(torch::kDouble), rotation.t()).to(s.pos.scalar_type());
    return s;
  };
}

Transform random_jitter(double sigma, double clip) {
  return [sigma, clip](Sample s, std::optional<at::Generator> gen) {
    require_pos("random_jitter", s);
    s.pos = s.pos +
            (normal(s.pos.sizes().vec(), gen) * sigma).clamp(-clip, clip).to(s.pos.scalar_type());
    return s;
  };
}

Transform random_scale(double low, double high) {
  TOPO_CHECK_ARG(low > 0 && high >= low, "random_scale", "low, high", "0 < low <= high",
                 c10::str(low, ", ", high));
  return [low, high](Sample s, std::optional<at::Generator> gen) {
    require_pos("random_scale", s);
    const auto factors = low + (high - low) * uniform({1, s.pos.size(1)}, gen);
    s.pos = s.pos * factors.to(s.pos.scalar_type());
    return s;
  };
}

Transform random_subsample(int64_t num_points) {
  TOPO_CHECK_ARG(num_points >= 1, "random_subsample", "num_points", ">= 1", num_points);
  return [num_points](Sample s, std::optional<at::Generator> gen) {
    require_pos("random_subsample", s);
    const int64_t n = s.pos.size(0);
    if (n <= num_points) return s;
    const auto keep = std::get<0>(std::get<1>(uniform({n}, gen).topk(num_points)).sort());
    const auto pick = [&](torch::Tensor& t) {
      if (t.defined() && t.dim() >= 1 && t.size(0) == n) t = t.index_select(0, keep);
    };
    pick(s.pos);
    pick(s.x);
    pick(s.z);
    pick(s.forces);
    s.edge_index = torch::Tensor();  // a subsampled cloud has no valid graph
    s.edge_attr = torch::Tensor();
    return s;
  };
}

Transform compose(std::vector<Transform> transforms) {
  return [transforms = std::move(transforms)](Sample s, std::optional<at::Generator> gen) {
    for (const auto& t : transforms) s = t(std::move(s), gen);
    return s;
  };
}

}  // namespace topo::datasets
