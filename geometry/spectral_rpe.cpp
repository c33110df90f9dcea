// SPDX-License-Identifier: Apache-2.0
#include "geometry/spectral_rpe.h"

#include <torch/torch.h>

#include <cmath>

#include "common/check.h"

namespace topo::geometry {
namespace {

constexpr double kPi = 3.14159265358979323846;

const char* family_name(SpectralFamily family) {
  switch (family) {
    case SpectralFamily::kGaussianMixture:
      return "gaussian_mixture";
    case SpectralFamily::kGaussian:
      return "gaussian";
    case SpectralFamily::kMatern:
      return "matern";
    case SpectralFamily::kCauchy:
      return "cauchy";
    case SpectralFamily::kLocalBox:
      return "local_box";
  }
  return "?";
}

}  // namespace

SpectralRPEImpl::SpectralRPEImpl(const SpectralRPEOptions& options_) : options(options_) {
  reset();
}

void SpectralRPEImpl::reset() {
  const auto& o = options;
  TOPO_CHECK_ARG(o.dim() >= 1, "SpectralRPE", "dim", ">= 1", o.dim());
  TOPO_CHECK_ARG(o.num_heads() >= 1, "SpectralRPE", "num_heads", ">= 1", o.num_heads());
  TOPO_CHECK_ARG(o.num_features() >= 1, "SpectralRPE", "num_features", ">= 1", o.num_features());
  TOPO_CHECK_ARG(o.length_scale() > 0 && std::isfinite(o.length_scale()), "SpectralRPE",
                 "length_scale", "finite and > 0", o.length_scale());
  TOPO_CHECK_ARG(o.amplitude() > 0 && std::isfinite(o.amplitude()), "SpectralRPE", "amplitude",
                 "finite and > 0", o.amplitude());
  if (o.family() == SpectralFamily::kMatern) {
    TOPO_CHECK_ARG(o.matern_nu() == 0.5 || o.matern_nu() == 1.5 || o.matern_nu() == 2.5,
                   "SpectralRPE", "matern_nu", "0.5, 1.5 or 2.5 (closed forms)", o.matern_nu());
  }
  if (o.family() == SpectralFamily::kGaussianMixture) {
    TOPO_CHECK_ARG(o.num_components() >= 1, "SpectralRPE", "num_components", ">= 1",
                   o.num_components());
  }
  const int64_t heads = o.num_heads(), d = o.dim();
  const double ell = o.length_scale();
  if (o.family() != SpectralFamily::kGaussianMixture) {
    log_amplitude = register_parameter(
        "log_amplitude", torch::full({heads}, std::log(o.amplitude()), torch::kFloat));
    log_length_scale =
        register_parameter("log_length_scale", torch::full({heads}, std::log(ell), torch::kFloat));
  }
  if (o.family() == SpectralFamily::kGaussianMixture) {
    const int64_t components = o.num_components();
    // Each component starts as a Gaussian kernel of length scale ℓ: σ² = 1/(2π²ℓ²).
    const double width = 1.0 / (2.0 * kPi * kPi * ell * ell);
    const double weight = o.amplitude() / (static_cast<double>(components) *
                                           std::pow(kPi * width, 0.5 * static_cast<double>(d)));
    log_weights = register_parameter(
        "log_weights", torch::full({heads, components}, std::log(weight), torch::kFloat));
    means = register_parameter("means", torch::randn({heads, components, d}) * (0.1 / ell));
    log_widths = register_parameter(
        "log_widths", torch::full({heads, components}, std::log(width), torch::kFloat));
  }
  frequencies = register_buffer("frequencies", torch::empty({heads, o.num_features(), d}));
  redraw_frequencies();
}

void SpectralRPEImpl::redraw_frequencies() {
  torch::NoGradGuard no_grad;
  const auto shape = frequencies.sizes().vec();
  torch::Tensor draw;
  switch (options.family()) {
    case SpectralFamily::kMatern: {
      // Multivariate Student-t with 2ν degrees of freedom: z · √(2ν / u), u ~ χ²(2ν).
      const double nu = options.matern_nu();
      const auto u =
          torch::_standard_gamma(torch::full({shape[0], shape[1], 1}, nu, torch::kDouble)) * 2.0;
      draw = torch::randn(shape, torch::kDouble) * torch::sqrt(2.0 * nu / u);
      break;
    }
    case SpectralFamily::kCauchy:
      // Laplace(0, 1) per axis, as a difference of two unit exponentials.
      draw = torch::empty(shape, torch::kDouble).exponential_() -
             torch::empty(shape, torch::kDouble).exponential_();
      break;
    default:
      draw = torch::randn(shape, torch::kDouble);
  }
  frequencies.copy_(draw);
}

std::pair<torch::Tensor, torch::Tensor> SpectralRPEImpl::spectral_sample() {
  const auto eps = frequencies;
  const int64_t d = options.dim();
  const bool kernel = options.family() != SpectralFamily::kGaussianMixture;
  const auto amplitude = kernel ? log_amplitude.exp().unsqueeze(1) : torch::Tensor();     // [H, 1]
  const auto scale = kernel ? log_length_scale.exp().view({-1, 1, 1}) : torch::Tensor();  // [H,1,1]
  switch (options.family()) {
    case SpectralFamily::kGaussian:
    case SpectralFamily::kMatern:
    case SpectralFamily::kCauchy: {
      // Drawn from g itself: ξ = ε / (2π ℓ), importance weight = a.
      const auto xi = eps / (2.0 * kPi * scale);
      return {xi, amplitude.expand({eps.size(0), eps.size(1)})};
    }
    case SpectralFamily::kLocalBox: {
      const double tau =
          options.edge_width() > 0 ? options.edge_width() : options.length_scale() / 4.0;
      // Proposal N(0, s²) with s = 1/(2πτ): its density cancels the smoothing factor of g.
      const double s = 1.0 / (2.0 * kPi * tau);
      const auto xi = eps * s;
      const auto half_width = scale;  // v
      // sin(2πvξ)/(πξ) = 2v·sinc(2vξ), and the proposal leaves √(2π)·s per axis.
      const auto per_axis =
          2.0 * half_width * torch::sinc(2.0 * half_width * xi) * (std::sqrt(2.0 * kPi) * s);
      return {xi, amplitude * per_axis.prod(-1)};
    }
    case SpectralFamily::kGaussianMixture: {
      const double s = options.proposal_scale() > 0 ? options.proposal_scale()
                                                    : 1.5 / (2.0 * kPi * options.length_scale());
      const auto xi = eps * s;  // [H, R, d]
      const auto log_proposal =
          -0.5 * d * std::log(2.0 * kPi * s * s) - xi.pow(2).sum(-1) / (2.0 * s * s);  // [H, R]
      const auto distance = (xi.unsqueeze(2) - means.unsqueeze(1)).pow(2).sum(-1);     // [H, R, B]
      const auto log_g =
          torch::logsumexp(log_weights.unsqueeze(1) - distance / log_widths.exp().unsqueeze(1), -1);
      return {xi, torch::exp(log_g - log_proposal)};
    }
  }
  TOPO_INTERNAL_ASSERT(false, "unknown spectral family");
  return {};
}

std::pair<torch::Tensor, torch::Tensor> SpectralRPEImpl::forward(const torch::Tensor& pos) {
  TOPO_CHECK_ARG((pos.dim() == 2 || pos.dim() == 3) && pos.size(-1) == options.dim(), "SpectralRPE",
                 "pos",
                 "of shape [B, L, " + std::to_string(options.dim()) + "] or [L, " +
                     std::to_string(options.dim()) + "]",
                 shape_string(pos));
  TOPO_CHECK_ARG(pos.is_floating_point(), "SpectralRPE", "pos", "floating point",
                 c10::toString(pos.scalar_type()));
  if (options.redraw() && is_training()) redraw_frequencies();
  const auto batched = pos.dim() == 3 ? pos : pos.unsqueeze(0);
  auto [xi, rho] = spectral_sample();
  xi = xi.to(pos.scalar_type());
  rho = rho.to(pos.scalar_type());
  const double norm = 1.0 / std::sqrt(static_cast<double>(options.num_features()));
  const auto angle = 2.0 * kPi * torch::einsum("bld,hrd->bhlr", {batched, xi});  // [B, H, L, R]
  const auto magnitude = torch::sqrt(rho.abs().clamp_min(1e-30)) * norm;         // [H, R]
  const auto key_weight = magnitude.unsqueeze(1);                                // [H, 1, R]
  const auto query_weight = (magnitude * torch::sign(rho)).unsqueeze(1);
  const auto cos = torch::cos(angle), sin = torch::sin(angle);
  return {torch::cat({cos * query_weight, sin * query_weight}, -1),
          torch::cat({cos * key_weight, sin * key_weight}, -1)};
}

torch::Tensor SpectralRPEImpl::exact(const torch::Tensor& delta) {
  TOPO_CHECK_ARG(delta.dim() >= 1 && delta.size(-1) == options.dim(), "SpectralRPE::exact", "delta",
                 "of shape [..., " + std::to_string(options.dim()) + "]", shape_string(delta));
  const int64_t heads = options.num_heads();
  const int64_t d = options.dim();
  // Head-major broadcast: parameters [H, 1, …, 1], delta [1, ..., d].
  std::vector<int64_t> head_shape(delta.dim(), 1);
  head_shape[0] = heads;
  const auto per_head = [&](const torch::Tensor& p) { return p.view(head_shape); };
  const auto x = delta.unsqueeze(0);
  const bool kernel = options.family() != SpectralFamily::kGaussianMixture;
  const auto amplitude =
      kernel ? per_head(log_amplitude.exp().to(delta.scalar_type())) : torch::Tensor();
  const auto scale =
      kernel ? per_head(log_length_scale.exp().to(delta.scalar_type())) : torch::Tensor();
  switch (options.family()) {
    case SpectralFamily::kGaussian:
      return amplitude * torch::exp(-x.pow(2).sum(-1) / (2.0 * scale.pow(2)));
    case SpectralFamily::kMatern: {
      const auto r = x.pow(2).sum(-1).sqrt() / scale;
      const double nu = options.matern_nu();
      if (nu == 0.5) return amplitude * torch::exp(-r);
      if (nu == 1.5) {
        const auto t = std::sqrt(3.0) * r;
        return amplitude * (1.0 + t) * torch::exp(-t);
      }
      const auto t = std::sqrt(5.0) * r;
      return amplitude * (1.0 + t + t.pow(2) / 3.0) * torch::exp(-t);
    }
    case SpectralFamily::kCauchy:
      return amplitude * (1.0 / (1.0 + x.pow(2) / scale.unsqueeze(-1).pow(2))).prod(-1);
    case SpectralFamily::kLocalBox: {
      const double tau =
          options.edge_width() > 0 ? options.edge_width() : options.length_scale() / 4.0;
      const auto v = scale.unsqueeze(-1);
      const double k = 1.0 / (std::sqrt(2.0) * tau);
      return amplitude * (0.5 * (torch::erf((v - x) * k) + torch::erf((v + x) * k))).prod(-1);
    }
    case SpectralFamily::kGaussianMixture: {
      // Components on a trailing axis: delta [1, ..., 1(B), d].
      const auto y = x.unsqueeze(-2);
      std::vector<int64_t> shape(delta.dim() + 1, 1);
      shape[0] = heads;
      shape[shape.size() - 1] = options.num_components();
      const auto w = log_weights.exp().to(delta.scalar_type()).view(shape);
      const auto width = log_widths.exp().to(delta.scalar_type()).view(shape);
      auto mean_shape = shape;
      mean_shape.push_back(d);
      const auto mu = means.to(delta.scalar_type()).view(mean_shape);
      const auto r2 = y.pow(2).sum(-1);
      const auto terms = w * torch::pow(kPi * width, 0.5 * static_cast<double>(d)) *
                         torch::exp(-kPi * kPi * width * r2) *
                         torch::cos(2.0 * kPi * (mu * y).sum(-1));
      return terms.sum(-1);
    }
  }
  TOPO_INTERNAL_ASSERT(false, "unknown spectral family");
  return {};
}

torch::Tensor SpectralRPEImpl::exact_mask(const torch::Tensor& pos_query,
                                          const torch::Tensor& pos_key) {
  TOPO_CHECK_ARG(pos_query.dim() == 3 && pos_key.dim() == 3 && pos_query.size(0) == pos_key.size(0),
                 "SpectralRPE::exact_mask", "pos_query, pos_key",
                 "[B, L, d] and [B, S, d] with the same B",
                 shape_string(pos_query) + " and " + shape_string(pos_key));
  const auto delta = pos_query.unsqueeze(2) - pos_key.unsqueeze(1);  // [B, L, S, d]
  return exact(delta).transpose(0, 1);                               // [B, H, L, S]
}

void SpectralRPEImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::geometry::SpectralRPE(dim=" << options.dim() << ", heads=" << options.num_heads()
         << ", features=" << options.num_features() << ", family=" << family_name(options.family())
         << ")";
}

}  // namespace topo::geometry
