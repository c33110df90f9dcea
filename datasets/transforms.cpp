// SPDX-License-Identifier: Apache-2.0
#include "datasets/transforms.h"

#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

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

/// The sample restricted to the points `keep` (sorted indices): every node-level tensor alike.
Sample keep_points(Sample s, const torch::Tensor& keep) {
  const int64_t n = s.pos.size(0);
  if (keep.numel() == n) return s;
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

Transform random_rotate(bool about_z_only, double max_degrees) {
  TOPO_CHECK_ARG(max_degrees >= 0 && max_degrees <= 180, "random_rotate", "max_degrees",
                 "in [0, 180]", max_degrees);
  TOPO_CHECK_ARG(about_z_only || max_degrees == 180, "random_rotate", "max_degrees",
                 "180 for rotations uniform in SO(3) (about_z_only false)", max_degrees);
  return [about_z_only, max_degrees](Sample s, std::optional<at::Generator> gen) {
    require_pos("random_rotate", s);
    const int64_t d = s.pos.size(1);
    torch::Tensor rotation;
    if (d == 2 || about_z_only) {
      const double angle = (2 * uniform({1}, gen).item<double>() - 1) * max_degrees * M_PI / 180.0;
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
  TOPO_CHECK_ARG(sigma >= 0 && clip >= 0, "random_jitter", "sigma, clip", ">= 0",
                 c10::str(sigma, ", ", clip));
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
    return keep_points(std::move(s),
                       std::get<0>(std::get<1>(uniform({n}, gen).topk(num_points)).sort()));
  };
}

Transform random_point_dropout(double max_ratio) {
  TOPO_CHECK_ARG(max_ratio >= 0 && max_ratio < 1, "random_point_dropout", "max_ratio", "in [0, 1)",
                 max_ratio);
  return [max_ratio](Sample s, std::optional<at::Generator> gen) {
    require_pos("random_point_dropout", s);
    const int64_t n = s.pos.size(0);
    if (n <= 1) return s;
    const double ratio = max_ratio * uniform({1}, gen).item<double>();
    auto keep = (uniform({n}, gen) >= ratio).nonzero().view(-1);
    if (keep.numel() == 0) keep = torch::zeros({1}, torch::kLong);
    return keep_points(std::move(s), keep);
  };
}

Transform compose(std::vector<Transform> transforms) {
  return [transforms = std::move(transforms)](Sample s, std::optional<at::Generator> gen) {
    for (const auto& t : transforms) s = t(std::move(s), gen);
    return s;
  };
}

namespace {

struct Augmentation {
  const char* name;
  std::vector<std::pair<std::string, double>> settings;  ///< key, default
  const char* help;
  std::function<Transform(const std::map<std::string, double>&)> make;
};

const std::vector<Augmentation>& augmentations() {
  static const std::vector<Augmentation> all = {
      {"rotate",
       {{"degrees", 180.0}},
       "rotation about z (2-D clouds: in the plane) by an angle in [-degrees, degrees]",
       [](const auto& v) { return random_rotate(true, v.at("degrees")); }},
      {"rotate-so3",
       {},
       "rotation uniform in SO(3) (3-D clouds)",
       [](const auto&) { return random_rotate(false); }},
      {"scale",
       {{"low", 0.8}, {"high", 1.25}},
       "every axis times its own factor in [low, high]",
       [](const auto& v) { return random_scale(v.at("low"), v.at("high")); }},
      {"jitter",
       {{"sigma", 0.01}, {"clip", 0.05}},
       "Gaussian noise of deviation sigma, clipped to +-clip",
       [](const auto& v) { return random_jitter(v.at("sigma"), v.at("clip")); }},
      {"dropout",
       {{"max_ratio", 0.875}},
       "drops each point with a probability drawn per sample from [0, max_ratio]",
       [](const auto& v) { return random_point_dropout(v.at("max_ratio")); }},
  };
  return all;
}

}  // namespace

Transform parse_augmentation(const std::string& text) {
  const auto colon = text.find(':');
  const auto name = text.substr(0, colon);
  const Augmentation* found = nullptr;
  std::string names;
  for (const auto& a : augmentations()) {
    if (a.name == name) found = &a;
    names += (names.empty() ? "" : ", ") + std::string(a.name);
  }
  if (found == nullptr)
    throw std::invalid_argument("augmentation \"" + text + "\": unknown name \"" + name +
                                "\" (expected one of " + names + ")");
  std::map<std::string, double> values(found->settings.begin(), found->settings.end());
  std::string rest = colon == std::string::npos ? "" : text.substr(colon + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const auto eq = item.find('=');
    const auto key = item.substr(0, eq);
    if (eq == std::string::npos || values.count(key) == 0) {
      std::string keys;
      for (const auto& [k, d] : found->settings) keys += (keys.empty() ? "" : ", ") + k;
      throw std::invalid_argument("augmentation \"" + text + "\": \"" + item +
                                  "\" is not key=value with a key of " + name + " (" +
                                  (keys.empty() ? "it has none" : keys) + ")");
    }
    try {
      size_t used = 0;
      values[key] = std::stod(item.substr(eq + 1), &used);
      if (used != item.size() - eq - 1 || !std::isfinite(values[key]))
        throw std::invalid_argument("not a finite number");
    } catch (const std::logic_error&) {
      throw std::invalid_argument("augmentation \"" + text + "\": " + key +
                                  " must be a finite number, got \"" + item.substr(eq + 1) + "\"");
    }
  }
  try {
    return found->make(values);
  } catch (const c10::Error& e) {
    throw std::invalid_argument("augmentation \"" + text + "\": " + e.what_without_backtrace());
  }
}

std::string describe_augmentations() {
  std::string out;
  for (const auto& a : augmentations()) {
    out += std::string(a.name);
    std::string settings;
    for (const auto& [key, value] : a.settings)
      settings += (settings.empty() ? "" : ",") + key + "=" + c10::str(value);
    if (!settings.empty()) out += "[:" + settings + "]";
    out += "  " + std::string(a.help) + "\n";
  }
  return out;
}

}  // namespace topo::datasets
