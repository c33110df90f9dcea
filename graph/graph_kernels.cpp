// SPDX-License-Identifier: Apache-2.0
#include "graph/graph_kernels.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "common/check.h"

namespace topo::graph {
namespace {

/// Per-head scalars [H] shaped to broadcast against [H, N, C].
torch::Tensor per_head(const torch::Tensor& values, const torch::Tensor& x) {
  return values.to(x.scalar_type()).reshape({-1, 1, 1});
}

/// I_0(z) … I_K(z), modified Bessel functions of the first kind, for z [H] (float64,
/// differentiable in z) by their power series Σ_m (z/2)^(2m+k) / (m! (m+k)!), which for |z| ≤ 40
/// has converged to double precision by m = 120.
torch::Tensor bessel_i(const torch::Tensor& z, int64_t terms) {
  constexpr int64_t kSeries = 120;
  auto exponents = torch::empty({terms + 1, kSeries}, torch::kDouble);
  auto coefficients = torch::empty({terms + 1, kSeries}, torch::kDouble);
  auto e = exponents.accessor<double, 2>();
  auto c = coefficients.accessor<double, 2>();
  for (int64_t k = 0; k <= terms; ++k) {
    for (int64_t m = 0; m < kSeries; ++m) {
      e[k][m] = double(2 * m + k);
      c[k][m] = std::exp(-std::lgamma(double(m + 1)) - std::lgamma(double(m + k + 1)));
    }
  }
  // Integral exponents: pow is exact in sign for negative z (I_k(−z) = (−1)^k I_k(z)).
  const auto half = (z.to(torch::kDouble) / 2.0).reshape({-1, 1, 1});
  return (torch::pow(half, exponents.to(z.device())) * coefficients.to(z.device())).sum(-1);
}

/// The number of Chebyshev terms K after which exp(z·X)x, X symmetric with spectrum in [−1, 1],
/// errs by at most `tolerance` relative to its result: the tail 2·Σ_{k>K} I_k(|z|) bounds the
/// error in the 2-norm and ‖exp(zX)x‖ ≥ e^(−|z|)‖x‖.
int64_t chebyshev_terms(double z, double tolerance) {
  const int64_t most = static_cast<int64_t>(std::ceil(z)) + 80;
  const auto values = bessel_i(torch::tensor({z}, torch::kDouble), most)[0];
  const auto* i = values.data_ptr<double>();
  double tail = 0;
  int64_t k = most;
  const double allowed = tolerance * std::exp(-z) / 2.0;
  while (k > 1 && tail + i[k] <= allowed) tail += i[k--];
  return k;
}

/// |z| up to which diffusion uses the Chebyshev expansion (the power series of bessel_i holds).
constexpr double kChebyshevLimit = 40.0;

}  // namespace

torch::Tensor diffusion(const SparseOperator& w, const torch::Tensor& t, const torch::Tensor& x,
                        double tolerance) {
  TOPO_CHECK_ARG(t.dim() <= 1 && t.is_floating_point(), "diffusion", "t",
                 "a floating scalar or [H] tensor", shape_string(t));
  TOPO_CHECK_ARG(tolerance > 0, "diffusion", "tolerance", "> 0", tolerance);
  const auto batched = x.dim() == 2 ? x.unsqueeze(0) : x;
  TOPO_CHECK_ARG(t.numel() == 1 || (batched.size(0) == t.numel()), "diffusion", "t",
                 c10::str("one value or one per head (", batched.size(0), ")"), shape_string(t));
  const double largest = t.detach().abs().max().item<double>();
  TOPO_CHECK_ARG(std::isfinite(largest), "diffusion", "t", "finite", largest);
  // Scaling: s steps with ‖tW/s‖ ≤ 1 in the norm the series is bounded in (‖W‖₂ for the
  // symmetric normalised adjacency, whose ∞-norm grows with the degree spread: 13 at a Cora hub,
  // which made 13x more sparse products for the same accuracy).
  const double bound = w.norm_estimate();
  const double scale = largest * bound;
  // The tail bound below holds in the norm W was bounded in: Frobenius (every column's 2-norm)
  // for the spectral bound, max-abs (every column's ∞-norm) for the ∞-norm.
  const bool spectral = w.norm_bound > 0 && bound == w.norm_bound;
  const auto norms = [spectral](const torch::Tensor& v) {
    const auto flat = v.detach().flatten(1);
    return spectral ? flat.norm(2, 1) : flat.abs().amax(1);
  };
  if (w.norm_bound > 0 && bound > 0 && scale <= kChebyshevLimit) {
    // W is symmetric (the symmetric normalisation of an undirected graph, or its Laplacian) with
    // spectrum in [−β, β]: exp(tW) = I_0(tβ) + 2 Σ_k I_k(tβ) T_k(W/β) (Chebyshev; Abramowitz &
    // Stegun 9.6.34) needs, a priori, 10 products at tβ = 2 and 24 at 8 where the scaled Taylor
    // series may need 20 and 80 (its a-posteriori stop often ends sooner; BENCHMARKS.md), and
    // no norms of the terms. T_0 x = x, T_1 x = Xx, T_{k+1} x = 2X T_k x − T_{k−1} x.
    const int64_t terms = chebyshev_terms(scale, tolerance);
    const auto coefficients = bessel_i(t.reshape({-1}) * bound, terms).to(batched.scalar_type());
    const auto c = [&](int64_t k) {
      return per_head(coefficients.select(1, k) * (k == 0 ? 1.0 : 2.0), batched);
    };
    auto previous = batched;
    auto current = w.apply(batched) / bound;
    auto sum = c(0) * previous + c(1) * current;
    for (int64_t k = 2; k <= terms; ++k) {
      auto next = 2.0 * w.apply(current) / bound - previous;
      sum = sum + c(k) * next;
      previous = std::move(current);
      current = std::move(next);
    }
    return x.dim() == 2 ? sum.squeeze(0) : sum;
  }
  const int64_t steps = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(scale)));
  const double ratio = scale / static_cast<double>(steps);  // ≤ 1
  const auto scaled_t = per_head(t.reshape({-1}), batched) / static_cast<double>(steps);
  auto y = batched;
  for (int64_t step = 0; step < steps; ++step) {
    auto term = y;
    auto sum = y;
    for (int64_t k = 1; k < 200; ++k) {
      term = w.apply(term) * (scaled_t / static_cast<double>(k));  // one pass over the block
      sum = sum + term;
      // ‖term_{k+j}‖ ≤ ‖term_k‖·(ratio/(k+1))^j with ratio ≤ 1, so the rest of the series is
      // at most ‖term_k‖: stop when that is below the tolerance relative to the sum (per head).
      if ((norms(term) <= tolerance * norms(sum).clamp_min(1e-300)).all().item<bool>()) break;
    }
    y = sum;
  }
  return x.dim() == 2 ? y.squeeze(0) : y;
}

int64_t diffusion_products(const SparseOperator& w, double t_max, double tolerance) {
  const double scale = std::abs(t_max) * w.norm_estimate();
  if (w.norm_bound > 0 && scale > 0 && scale <= kChebyshevLimit) {
    return chebyshev_terms(scale, tolerance);
  }
  const int64_t steps = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(scale)));
  const double ratio = scale / static_cast<double>(steps);
  double term = 1.0;
  int64_t k = 1;
  for (; k < 200; ++k) {
    term *= ratio / static_cast<double>(k);
    if (term <= tolerance) break;
  }
  return steps * k;
}

torch::Tensor random_walk_kernel(const SparseOperator& w, const torch::Tensor& alpha,
                                 const torch::Tensor& x) {
  TOPO_CHECK_ARG((alpha.dim() == 1 || alpha.dim() == 2) && alpha.size(-1) >= 1,
                 "random_walk_kernel", "alpha", "[P + 1] or [H, P + 1]", shape_string(alpha));
  const auto batched = x.dim() == 2 ? x.unsqueeze(0) : x;
  const auto coefficients = alpha.dim() == 1 ? alpha.unsqueeze(0) : alpha;
  TOPO_CHECK_ARG(coefficients.size(0) == 1 || coefficients.size(0) == batched.size(0),
                 "random_walk_kernel", "alpha",
                 c10::str("one row or one per head (", batched.size(0), ")"), shape_string(alpha));
  auto power = batched;
  auto sum = per_head(coefficients.select(1, 0), batched) * power;
  for (int64_t k = 1; k < coefficients.size(1); ++k) {
    power = w.apply(power);
    sum = sum + per_head(coefficients.select(1, k), batched) * power;
  }
  return x.dim() == 2 ? sum.squeeze(0) : sum;
}

namespace {

/// Solves (I − σU) y = b column by column with conjugate gradients (no autograd).
torch::Tensor conjugate_gradients(const SparseOperator& u, double sigma, const torch::Tensor& b,
                                  double tolerance, int64_t max_iterations) {
  torch::NoGradGuard no_grad;
  const auto apply = [&](const torch::Tensor& v) { return v - sigma * u.apply(v); };
  auto y = torch::zeros_like(b);
  auto r = b.clone();
  auto p = r.clone();
  auto rr = (r * r).sum(0);  // one CG per column
  const auto target = (b * b).sum(0) * (tolerance * tolerance);
  for (int64_t it = 0; it < max_iterations; ++it) {
    if ((rr <= target).all().item<bool>()) return y;
    const auto ap = apply(p);
    const auto pap = (p * ap).sum(0);
    TORCH_CHECK_VALUE((pap > 0).logical_or(rr <= target).all().item<bool>(),
                      "regularized_laplacian: I − σU is not positive definite for sigma = ", sigma,
                      " (use |sigma| < 1 with a symmetric normalised adjacency)");
    const auto alpha = torch::where(rr <= target, torch::zeros_like(rr), rr / pap);
    y = y + alpha * p;
    r = r - alpha * ap;
    const auto rr_next = (r * r).sum(0);
    p = r + torch::where(rr <= target, torch::zeros_like(rr), rr_next / rr) * p;
    rr = rr_next;
  }
  TORCH_CHECK_VALUE((rr <= target).all().item<bool>(),
                    "regularized_laplacian: conjugate gradients did not reach "
                    "relative residual ",
                    tolerance, " in ", max_iterations, " iterations");
  return y;
}

bool is_symmetric(const SparseOperator& u) {
  const auto e = u.edge_index.cpu();
  const auto v = u.values.cpu();
  const auto sorted_values = [&](const torch::Tensor& keys) {
    const auto order = std::get<1>(torch::sort(keys, c10::optional<bool>(true), 0));
    return std::make_pair(keys.index_select(0, order), v.index_select(0, order));
  };
  const auto [keys, values] = sorted_values(e[0] * u.num_nodes + e[1]);
  const auto [keys_t, values_t] = sorted_values(e[1] * u.num_nodes + e[0]);
  return keys.equal(keys_t) && torch::allclose(values, values_t, 1e-12, 1e-14);
}

class RegularizedLaplacianFunction
    : public torch::autograd::Function<RegularizedLaplacianFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& sigma,
                               const torch::Tensor& x, const torch::Tensor& edge_index,
                               const torch::Tensor& values, int64_t num_nodes, double tolerance,
                               int64_t max_iterations) {
    const SparseOperator u{edge_index, values, num_nodes};
    const auto y = conjugate_gradients(u, sigma.item<double>(), x, tolerance, max_iterations);
    ctx->save_for_backward({sigma, y, edge_index, values});
    ctx->saved_data["num_nodes"] = num_nodes;
    ctx->saved_data["tolerance"] = tolerance;
    ctx->saved_data["max_iterations"] = max_iterations;
    return y;
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const SparseOperator u{saved[2], saved[3], ctx->saved_data["num_nodes"].toInt()};
    const double sigma = saved[0].item<double>();
    // (I − σU) is symmetric: the adjoint solve uses the same operator.
    const auto adjoint =
        conjugate_gradients(u, sigma, grads[0], ctx->saved_data["tolerance"].toDouble(),
                            ctx->saved_data["max_iterations"].toInt());
    // dy/dσ = (I − σU)^(-1) U y.
    const auto grad_sigma = (adjoint * u.apply(saved[1])).sum().reshape(saved[0].sizes());
    return {grad_sigma, adjoint, {}, {}, {}, {}, {}};
  }
};

}  // namespace

torch::Tensor regularized_laplacian(const SparseOperator& u, const torch::Tensor& sigma,
                                    const torch::Tensor& x, double tolerance,
                                    int64_t max_iterations) {
  TOPO_CHECK_ARG(sigma.numel() == 1 && sigma.is_floating_point(), "regularized_laplacian", "sigma",
                 "a floating scalar tensor", shape_string(sigma));
  TOPO_CHECK_ARG(x.dim() == 2 && x.size(0) == u.num_nodes, "regularized_laplacian", "x",
                 c10::str("[", u.num_nodes, ", C]"), shape_string(x));
  const auto s = sigma.to(x.scalar_type());
  TOPO_CHECK_ARG(is_symmetric(u), "regularized_laplacian", "u",
                 "a symmetric operator (conjugate gradients)", "a non-symmetric one");
  return RegularizedLaplacianFunction::apply(s, x, u.edge_index, u.values, u.num_nodes, tolerance,
                                             max_iterations);
}

torch::Tensor stationary_distribution(const Graph& graph, double tolerance,
                                      int64_t max_iterations) {
  const auto batch = graph.batch();
  const int64_t graphs = graph.num_graphs();
  const auto per_graph_sum = [&](const torch::Tensor& v) {
    return torch::zeros({graphs}, torch::kDouble).index_add_(0, batch, v).index_select(0, batch);
  };
  const auto degree = graph.degree();
  if (!graph.directed()) {
    const auto total = per_graph_sum(degree);
    // Graphs without edges: uniform.
    const auto sizes = per_graph_sum(torch::ones_like(degree));
    return torch::where(total > 0, degree / total.clamp_min(1e-300), 1.0 / sizes);
  }
  const auto p = adjacency_operator(graph, Normalization::kRandomWalk);
  const auto dangling = (degree == 0).to(torch::kDouble);
  auto pi = 1.0 / per_graph_sum(torch::ones({graph.num_nodes()}, torch::kDouble));
  // πP as Pᵀ applied to π: transpose by swapping the edge rows.
  SparseOperator transposed{p.edge_index.flip(0), p.values, p.num_nodes};
  for (int64_t it = 0; it < max_iterations; ++it) {
    const auto next = 0.5 * (pi + transposed.apply(pi.unsqueeze(1)).squeeze(1) + dangling * pi);
    const double change = (next - pi).abs().sum().item<double>();
    pi = next;
    if (change < tolerance) return pi;
  }
  TORCH_CHECK_VALUE(false, "stationary_distribution: power iteration did not converge to ",
                    tolerance, " in ", max_iterations, " iterations");
}

}  // namespace topo::graph
