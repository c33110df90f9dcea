// SPDX-License-Identifier: Apache-2.0
#include "attention/feature_map.h"

#include <torch/nn/functional/activation.h>

#include <cmath>

#include "common/check.h"

namespace topo::attention {
namespace {

const char* kind_name(FeatureMapKind kind) {
  switch (kind) {
    case FeatureMapKind::kSoftmaxPositive:
      return "softmax_positive";
    case FeatureMapKind::kSoftmaxHyperbolic:
      return "softmax_hyperbolic";
    case FeatureMapKind::kReluRandom:
      return "relu_random";
    case FeatureMapKind::kRelu:
      return "relu";
    case FeatureMapKind::kEluPlusOne:
      return "elu_plus_one";
    case FeatureMapKind::kSoftmaxExact:
      return "softmax_exact";
  }
  return "?";
}

bool kind_is_random(FeatureMapKind kind) {
  return kind == FeatureMapKind::kSoftmaxPositive || kind == FeatureMapKind::kSoftmaxHyperbolic ||
         kind == FeatureMapKind::kReluRandom;
}

double default_epsilon(FeatureMapKind kind) {
  return kind == FeatureMapKind::kReluRandom || kind == FeatureMapKind::kRelu ? 1e-3 : 0.0;
}

// Exponents a = ±Wx̃ − |x̃|²/2, stabilised by the role's constant, then exp.
torch::Tensor softmax_features(const torch::Tensor& x_scaled, const torch::Tensor& projection,
                               bool hyperbolic, FeatureRole role,
                               const torch::Tensor& key_padding_mask) {
  const auto u = torch::matmul(x_scaled, projection.transpose(-1, -2).unsqueeze(0));  // [B,H,L,m]
  const auto half_norm = x_scaled.pow(2).sum(-1, true) / 2;
  auto exponent = hyperbolic ? torch::cat({u, -u}, -1) - half_norm : u - half_norm;
  torch::Tensor stabiliser;
  switch (role) {
    case FeatureRole::kQuery:
      stabiliser = std::get<0>(exponent.max(-1, true));
      break;
    case FeatureRole::kKey: {
      auto masked = exponent;
      if (key_padding_mask.defined()) {
        masked = exponent.masked_fill(key_padding_mask.unsqueeze(1).unsqueeze(-1),
                                      -std::numeric_limits<double>::infinity());
      }
      stabiliser =
          std::get<0>(masked.flatten(2).max(-1)).view({exponent.size(0), exponent.size(1), 1, 1});
      // All keys padded: nothing to stabilise, avoid -inf.
      stabiliser = stabiliser.clamp_min(std::numeric_limits<float>::lowest());
      break;
    }
    case FeatureRole::kCausalKey:
      // ±w·x̃ − |x̃|²/2 ≤ |w|²/2 for every x̃, so this bound depends on the projection only.
      stabiliser = (std::get<0>(projection.pow(2).sum(-1).max(-1)) / 2).view({1, -1, 1, 1});
      break;
  }
  // The stabiliser cancels between numerator and denominator; no gradient flows through it.
  const double features = static_cast<double>(exponent.size(-1));
  return torch::exp(exponent - stabiliser.detach()) / std::sqrt(features);
}

}  // namespace

torch::Tensor feature_map(const torch::Tensor& x, FeatureMapKind kind,
                          const torch::Tensor& projection, FeatureRole role,
                          const torch::Tensor& key_padding_mask, std::optional<double> epsilon,
                          bool normalize_inputs) {
  ShapeChecker check("feature_map");
  check(x, "x", {"B", "H", "L", "D"}).floating(x, "x");
  check.optional(key_padding_mask, "key_padding_mask", {"B", "L"});
  if (key_padding_mask.defined()) check.dtype(key_padding_mask, "key_padding_mask", torch::kBool);
  const double eps = epsilon.value_or(default_epsilon(kind));
  TOPO_CHECK_ARG(eps >= 0, "feature_map", "epsilon", "non-negative", eps);

  if (!kind_is_random(kind)) {
    if (kind == FeatureMapKind::kRelu) return torch::relu(x) + eps;
    if (kind == FeatureMapKind::kSoftmaxExact) {  // the attention exponentiates per edge
      return normalize_inputs ? x * std::pow(static_cast<double>(x.size(-1)), -0.25) : x;
    }
    return torch::elu(x) + 1 + eps;
  }
  check(projection, "projection", {"H", "M", "D"})
      .same_dtype({{x, "x"}, {projection, "projection"}});
  check.same_device({{x, "x"}, {projection, "projection"}, {key_padding_mask, "key_padding_mask"}});
  const double d = static_cast<double>(x.size(-1));
  const auto x_scaled = normalize_inputs ? x * std::pow(d, -0.25) : x;
  torch::Tensor phi;
  if (kind == FeatureMapKind::kReluRandom) {
    const double m = static_cast<double>(projection.size(1));
    phi = torch::relu(torch::matmul(x_scaled, projection.transpose(-1, -2).unsqueeze(0))) /
          std::sqrt(m);
  } else {
    phi = softmax_features(x_scaled, projection, kind == FeatureMapKind::kSoftmaxHyperbolic, role,
                           key_padding_mask);
  }
  return eps > 0 ? phi + eps : phi;
}

FeatureMapImpl::FeatureMapImpl(const FeatureMapOptions& options_) : options(options_) { reset(); }

void FeatureMapImpl::reset() {
  TOPO_CHECK_ARG(options.head_dim() > 0, "FeatureMap", "head_dim", "positive", options.head_dim());
  TOPO_CHECK_ARG(options.num_heads() > 0, "FeatureMap", "num_heads", "positive",
                 options.num_heads());
  TOPO_CHECK_ARG(options.num_features() > 0, "FeatureMap", "num_features", "positive",
                 options.num_features());
  TOPO_CHECK_ARG(options.redraw_interval() >= 0, "FeatureMap", "redraw_interval",
                 "non-negative (0 = never)", options.redraw_interval());
  redraw_count = register_buffer("redraw_count", torch::zeros({}, torch::kInt64));
  steps_since_redraw = register_buffer("steps_since_redraw", torch::zeros({}, torch::kInt64));
  if (is_random()) {
    projection = register_buffer(
        "projection",
        torch::empty({options.num_heads(), options.num_features(), options.head_dim()}));
    redraw();
  }
}

void FeatureMapImpl::redraw() {
  if (!is_random()) return;
  const int64_t count = redraw_count.item<int64_t>();
  std::vector<torch::Tensor> heads;
  for (int64_t head = 0; head < options.num_heads(); ++head) {
    heads.push_back(random_projection(
        RandomProjectionOptions(options.num_features(), options.head_dim())
            .orthogonal(options.orthogonal())
            .norm(options.norm())
            .seed(projection_seed(options.seed(), count, options.layer_id(), head))
            .dtype(torch::kFloat64)));
  }
  torch::NoGradGuard no_grad;
  projection.copy_(torch::stack(heads));
}

bool FeatureMapImpl::step() {
  if (!is_training() || options.redraw_interval() == 0 || !is_random()) return false;
  torch::NoGradGuard no_grad;
  steps_since_redraw.add_(1);
  if (steps_since_redraw.item<int64_t>() < options.redraw_interval()) return false;
  steps_since_redraw.zero_();
  redraw_count.add_(1);
  redraw();
  return true;
}

int64_t FeatureMapImpl::feature_dim() const {
  switch (options.kind()) {
    case FeatureMapKind::kSoftmaxHyperbolic:
      return 2 * options.num_features();
    case FeatureMapKind::kSoftmaxPositive:
    case FeatureMapKind::kReluRandom:
      return options.num_features();
    default:
      return options.head_dim();
  }
}

bool FeatureMapImpl::is_random() const { return kind_is_random(options.kind()); }

torch::Tensor FeatureMapImpl::forward(const torch::Tensor& x, FeatureRole role,
                                      const torch::Tensor& key_padding_mask) {
  TORCH_CHECK_VALUE(
      x.dim() == 4 && x.size(1) == options.num_heads() && x.size(3) == options.head_dim(),
      "FeatureMap: `x` has shape ", x.sizes(), ", expected [B, H=", options.num_heads(),
      ", L, D=", options.head_dim(), "]");
  const auto w = projection.defined() ? projection.to(x.scalar_type()) : projection;
  return feature_map(x, options.kind(), w, role, key_padding_mask, options.epsilon(),
                     options.normalize_inputs());
}

void FeatureMapImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::FeatureMap(kind=" << kind_name(options.kind())
         << ", head_dim=" << options.head_dim() << ", num_heads=" << options.num_heads();
  if (is_random()) {
    stream << ", num_features=" << options.num_features() << ", orthogonal=" << options.orthogonal()
           << ", redraw_interval=" << options.redraw_interval();
  }
  stream << ")";
}

}  // namespace topo::attention
