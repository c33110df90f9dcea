// SPDX-License-Identifier: Apache-2.0
#include "attention/stochastic_positional_encoding.h"

#include <torch/torch.h>

#include <cmath>

#include "common/check.h"

namespace topo::attention {
namespace {

constexpr double kPi = 3.14159265358979323846;

void check_options(const char* function, int64_t heads, int64_t dim, int64_t realizations) {
  TOPO_CHECK_ARG(heads >= 1, function, "num_heads", ">= 1", heads);
  TOPO_CHECK_ARG(dim >= 1, function, "head_dim", ">= 1", dim);
  TOPO_CHECK_ARG(realizations >= 1, function, "num_realizations", ">= 1", realizations);
}

void check_inputs(const char* function, const torch::Tensor& q, const torch::Tensor& k,
                  int64_t heads, int64_t dim) {
  ShapeChecker check(function);
  check.bind("H", heads, "the module").bind("D", dim, "the module");
  check(q, "q", {"B", "H", "L", "D"});
  check(k, "k", {"B", "H", "S", "D"});
  check.floating(q, "q").same_dtype({{q, "q"}, {k, "k"}}).same_device({{q, "q"}, {k, "k"}});
}

/// Gating and filtering shared by both SPEs. `q_codes` [H, D, L, R], `k_codes` [H, D, S, R].
std::pair<torch::Tensor, torch::Tensor> filter(const torch::Tensor& q, const torch::Tensor& k,
                                               torch::Tensor q_codes, torch::Tensor k_codes,
                                               const torch::Tensor& gate, bool gated) {
  if (gated) {
    const int64_t heads = q_codes.size(0), dim = q_codes.size(1), r = q_codes.size(3);
    // One noise vector per (head, dimension), shared by every position and by q and k.
    const auto noise = torch::randn({heads, dim, 1, r}, q_codes.options()) /
                       std::pow(static_cast<double>(dim * r), 0.25);
    const auto g = torch::sigmoid(gate).to(q_codes.scalar_type()).unsqueeze(-1).unsqueeze(-1);
    q_codes = torch::sqrt(1 - g) * q_codes + torch::sqrt(g) * noise;
    k_codes = torch::sqrt(1 - g) * k_codes + torch::sqrt(g) * noise;
  }
  return {torch::einsum("bhld,hdlr->bhlr", {q, q_codes}),
          torch::einsum("bhsd,hdsr->bhsr", {k, k_codes})};
}

/// P̃ = (1 − g)·P + g for a [H, D, L, L] P.
torch::Tensor apply_gate(const torch::Tensor& p, const torch::Tensor& gate, bool gated) {
  if (!gated) return p;
  const auto g = torch::sigmoid(gate).to(p.scalar_type()).unsqueeze(-1).unsqueeze(-1);
  return (1 - g) * p + g;
}

}  // namespace

SineSPEImpl::SineSPEImpl(const SineSPEOptions& options_) : options(options_) { reset(); }

void SineSPEImpl::reset() {
  check_options("SineSPE", options.num_heads(), options.head_dim(), options.num_realizations());
  TOPO_CHECK_ARG(options.num_sines() >= 1, "SineSPE", "num_sines", ">= 1", options.num_sines());
  const std::vector<int64_t> shape = {options.num_heads(), options.head_dim(), options.num_sines()};
  // Initialisation of the reference implementation (aliutkus/spe): low frequencies,
  // gains normalised so the PE starts at a moderate scale.
  frequencies = register_parameter("frequencies", torch::randn(shape) - 4.0);
  offsets = register_parameter("offsets", torch::randn(shape));
  auto initial_gains = torch::randn(shape);
  initial_gains = initial_gains / (torch::sqrt(initial_gains.norm()) / 2.0);
  gains = register_parameter("gains", initial_gains);
  if (options.gated()) {
    gate = register_parameter("gate", torch::randn({options.num_heads(), options.head_dim()}));
  }
}

std::pair<torch::Tensor, torch::Tensor> SineSPEImpl::forward(const torch::Tensor& q,
                                                             const torch::Tensor& k) {
  check_inputs("SineSPE", q, k, options.num_heads(), options.head_dim());
  const auto dtype = q.scalar_type();
  const int64_t heads = options.num_heads(), dim = options.head_dim();
  const int64_t sines = options.num_sines(), r = options.num_realizations();
  const auto f = (torch::sigmoid(frequencies) / 2).to(dtype).unsqueeze(2);  // [H, D, 1, K]
  const auto theta = offsets.to(dtype).unsqueeze(2);
  const auto lambda = torch::nn::functional::softplus(gains).to(dtype);  // [H, D, K]
  const auto positions = [&](int64_t n) {
    return torch::arange(n, q.options()).view({1, 1, n, 1});
  };
  const auto q_angle = 2 * kPi * f * positions(q.size(2)) + theta;  // [H, D, L, K]
  const auto k_angle = 2 * kPi * f * positions(k.size(2));
  const auto q_omega = torch::cat({torch::cos(q_angle), torch::sin(q_angle)}, -1);  // [.., 2K]
  const auto k_omega = torch::cat({torch::cos(k_angle), torch::sin(k_angle)}, -1);
  const auto z = torch::randn({heads, dim, 2 * sines, r}, q.options()) /
                 std::sqrt(2.0 * static_cast<double>(sines)) *
                 torch::cat({lambda, lambda}, -1).unsqueeze(-1);
  const double scale = std::pow(static_cast<double>(r * dim), -0.25);
  return filter(q, k, torch::matmul(q_omega, z) * scale, torch::matmul(k_omega, z) * scale, gate,
                options.gated());
}

torch::Tensor SineSPEImpl::positional_attention(int64_t length) {
  TOPO_CHECK_ARG(length >= 1, "SineSPE::positional_attention", "length", ">= 1", length);
  const auto m = torch::arange(length, torch::kDouble);
  const auto delta = (m.unsqueeze(1) - m.unsqueeze(0)).view({1, 1, length, length, 1});
  const auto f = (torch::sigmoid(frequencies) / 2)
                     .to(torch::kDouble)
                     .view({options.num_heads(), options.head_dim(), 1, 1, -1});
  const auto theta = offsets.to(torch::kDouble).view_as(f);
  const auto lambda = torch::nn::functional::softplus(gains).to(torch::kDouble).view_as(f);
  const auto p = (lambda.pow(2) / (2.0 * static_cast<double>(options.num_sines())) *
                  torch::cos(2 * kPi * f * delta + theta))
                     .sum(-1);
  return apply_gate(p, gate, options.gated());
}

void SineSPEImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::SineSPE(heads=" << options.num_heads()
         << ", head_dim=" << options.head_dim() << ", realizations=" << options.num_realizations()
         << ", sines=" << options.num_sines() << ", gated=" << options.gated() << ")";
}

ConvSPEImpl::ConvSPEImpl(const ConvSPEOptions& options_) : options(options_) { reset(); }

void ConvSPEImpl::reset() {
  check_options("ConvSPE", options.num_heads(), options.head_dim(), options.num_realizations());
  TOPO_CHECK_ARG(options.kernel_size() >= 1, "ConvSPE", "kernel_size", ">= 1",
                 options.kernel_size());
  const std::vector<int64_t> shape = {options.num_heads(), options.head_dim(),
                                      options.kernel_size()};
  const double init = 1.0 / std::sqrt(static_cast<double>(options.kernel_size()) / 2.0);
  query_filters = register_parameter("query_filters", torch::rand(shape) * init);
  key_filters = register_parameter("key_filters", torch::rand(shape) * init);
  if (options.gated()) {
    gate = register_parameter("gate", torch::randn({options.num_heads(), options.head_dim()}));
  }
}

std::pair<torch::Tensor, torch::Tensor> ConvSPEImpl::forward(const torch::Tensor& q,
                                                             const torch::Tensor& k) {
  check_inputs("ConvSPE", q, k, options.num_heads(), options.head_dim());
  const int64_t heads = options.num_heads(), dim = options.head_dim();
  const int64_t taps = options.kernel_size(), r = options.num_realizations();
  const int64_t length = std::max(q.size(2), k.size(2));
  // Realisations as the conv batch, (head, dimension) as depthwise channels.
  const auto noise = torch::randn({r, heads * dim, length + taps - 1}, q.options());
  const auto codes = [&](const torch::Tensor& filters, int64_t n) {
    const auto weight = filters.to(q.scalar_type()).reshape({heads * dim, 1, taps});
    const auto out = torch::nn::functional::conv1d(
        noise, weight,
        torch::nn::functional::Conv1dFuncOptions().groups(heads * dim));  // [R, H·D, length]
    return out.slice(2, 0, n).view({r, heads, dim, n}).permute({1, 2, 3, 0}) *
           std::pow(static_cast<double>(r * dim), -0.25);
  };
  return filter(q, k, codes(query_filters, q.size(2)), codes(key_filters, k.size(2)), gate,
                options.gated());
}

torch::Tensor ConvSPEImpl::positional_attention(int64_t length) {
  TOPO_CHECK_ARG(length >= 1, "ConvSPE::positional_attention", "length", ">= 1", length);
  const int64_t taps = options.kernel_size();
  const auto wq = query_filters.to(torch::kDouble);
  const auto wk = key_filters.to(torch::kDouble);
  // P(δ) = Σ_t wq[t]·wk[t + δ] for δ = −(P−1) … P−1.
  std::vector<torch::Tensor> by_offset;
  for (int64_t delta = -(taps - 1); delta < taps; ++delta) {
    by_offset.push_back(delta >= 0
                            ? (wq.slice(2, 0, taps - delta) * wk.slice(2, delta, taps)).sum(-1)
                            : (wq.slice(2, -delta, taps) * wk.slice(2, 0, taps + delta)).sum(-1));
  }
  by_offset.push_back(torch::zeros_like(by_offset.front()));  // offsets beyond the support
  const auto table = torch::stack(by_offset, -1);             // [H, D, 2P]
  const auto m = torch::arange(length, torch::kLong);
  auto offset = m.unsqueeze(1) - m.unsqueeze(0) + (taps - 1);
  offset = torch::where((offset < 0) | (offset > 2 * taps - 2),
                        torch::full_like(offset, 2 * taps - 1), offset);
  const auto p = table.index_select(2, offset.flatten())
                     .view({options.num_heads(), options.head_dim(), length, length});
  return apply_gate(p, gate, options.gated());
}

void ConvSPEImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::ConvSPE(heads=" << options.num_heads()
         << ", head_dim=" << options.head_dim() << ", realizations=" << options.num_realizations()
         << ", kernel_size=" << options.kernel_size() << ", gated=" << options.gated() << ")";
}

}  // namespace topo::attention
