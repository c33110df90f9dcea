// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/tree_exp_mask.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cmath>

#include "attention/masks/token_layout.h"
#include "common/check.h"

namespace topo::attention {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

/// The two-pass products for every (head, channel): full = exp(λD)x and, when `derivative`,
/// full1 = (D ⊙ exp(λD))x. `x` [H, N, C] contiguous, λ per head.
template <typename scalar_t>
void tree_passes(const graph::RootedForest& forest, const double* lambda, const scalar_t* x,
                 int64_t heads, int64_t n, int64_t channels, scalar_t* full, scalar_t* full1) {
  const auto* parent = forest.parent.data_ptr<int64_t>();
  const auto* weight = forest.parent_weight.data_ptr<double>();
  const auto* order = forest.order.data_ptr<int64_t>();
  at::parallel_for(0, heads, 1, [&](int64_t h0, int64_t h1) {
    std::vector<scalar_t> up(n * channels), up1(full1 != nullptr ? n * channels : 0);
    std::vector<scalar_t> decay(n);
    for (int64_t h = h0; h < h1; ++h) {
      const scalar_t* xh = x + h * n * channels;
      scalar_t* fh = full + h * n * channels;
      scalar_t* f1h = full1 != nullptr ? full1 + h * n * channels : nullptr;
      for (int64_t v = 0; v < n; ++v)
        decay[v] = static_cast<scalar_t>(std::exp(lambda[h] * weight[v]));
      std::copy(xh, xh + n * channels, up.begin());
      if (f1h != nullptr) std::fill(up1.begin(), up1.end(), scalar_t(0));
      // Leaves → root: up[p] += a·up[v]; up1[p] += a·(up1[v] + w·up[v]).
      for (int64_t i = n - 1; i >= 0; --i) {
        const int64_t v = order[i], p = parent[v];
        if (p < 0) continue;
        const scalar_t a = decay[v], w = static_cast<scalar_t>(weight[v]);
        for (int64_t c = 0; c < channels; ++c) {
          if (f1h != nullptr)
            up1[p * channels + c] += a * (up1[v * channels + c] + w * up[v * channels + c]);
          up[p * channels + c] += a * up[v * channels + c];
        }
      }
      // Root → leaves: full[v] = a·full[p] + (1 − a²)·up[v] (removes v's own subtree from p's).
      for (int64_t i = 0; i < n; ++i) {
        const int64_t v = order[i], p = parent[v];
        for (int64_t c = 0; c < channels; ++c) {
          const int64_t vc = v * channels + c;
          if (p < 0) {
            fh[vc] = up[vc];
            if (f1h != nullptr) f1h[vc] = up1[vc];
            continue;
          }
          const int64_t pc = p * channels + c;
          const scalar_t a = decay[v], w = static_cast<scalar_t>(weight[v]);
          const scalar_t out0 = fh[pc] - a * up[vc];
          if (f1h != nullptr) {
            const scalar_t out1 = f1h[pc] - a * (up1[vc] + w * up[vc]);
            f1h[vc] = up1[vc] + a * (out1 + w * out0);
          }
          fh[vc] = up[vc] + a * out0;
        }
      }
    }
  });
}

torch::Tensor run_passes(const graph::RootedForest& forest, const torch::Tensor& lambda,
                         const torch::Tensor& x_in, torch::Tensor* derivative) {
  const auto x = x_in.contiguous();
  const auto lam = lambda.detach().to(torch::kCPU, torch::kDouble).expand({x.size(0)}).contiguous();
  auto full = torch::empty_like(x);
  if (derivative != nullptr) *derivative = torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "tree_exp_product", [&] {
    tree_passes<scalar_t>(forest, lam.data_ptr<double>(), x.data_ptr<scalar_t>(), x.size(0),
                          x.size(1), x.size(2), full.data_ptr<scalar_t>(),
                          derivative != nullptr ? derivative->data_ptr<scalar_t>() : nullptr);
  });
  return full;
}

class TreeExpFunction : public torch::autograd::Function<TreeExpFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& lambda,
                               const torch::Tensor& x, const graph::RootedForest* forest) {
    ctx->save_for_backward({lambda, x});
    ctx->saved_data["parent"] = forest->parent;
    ctx->saved_data["parent_weight"] = forest->parent_weight;
    ctx->saved_data["order"] = forest->order;
    ctx->saved_data["depth"] = forest->depth;
    return run_passes(*forest, lambda, x, nullptr);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &lambda = saved[0], &x = saved[1];
    graph::RootedForest forest{
        ctx->saved_data["parent"].toTensor(), ctx->saved_data["parent_weight"].toTensor(),
        ctx->saved_data["order"].toTensor(), ctx->saved_data["depth"].toTensor()};
    const auto g = grads[0].contiguous();
    torch::Tensor grad_lambda, grad_x;
    // M is symmetric: the input gradient is M·g.
    if (ctx->needs_input_grad(1)) grad_x = run_passes(forest, lambda, g, nullptr);
    if (ctx->needs_input_grad(0)) {
      torch::Tensor weighted;
      run_passes(forest, lambda, x, &weighted);  // (D ⊙ e^{λD}) x
      auto per_head = (g * weighted).sum({1, 2});
      grad_lambda = lambda.numel() == 1 ? per_head.sum().reshape(lambda.sizes())
                                        : per_head.reshape(lambda.sizes());
      grad_lambda = grad_lambda.to(lambda.scalar_type());
    }
    return {grad_lambda, grad_x, torch::Tensor()};
  }
};

/// Dense exp(λ_h D) for tests: [1, H, L·B…] reshaped per batch element.
torch::Tensor dense_tree_mask(const graph::RootedForest& forest, const torch::Tensor& lambda,
                              int64_t batch, int64_t length, const torch::TensorOptions& options) {
  const auto distances = graph::forest_distances(forest);  // [N, N], inf across trees
  const auto lam = lambda.detach().to(torch::kDouble).cpu().view({-1, 1, 1});
  auto m = torch::exp(lam * distances.unsqueeze(0));
  m = torch::where(torch::isinf(distances).unsqueeze(0), torch::zeros_like(m), m);  // other trees
  return detail::diagonal_blocks(m, batch, length).to(options);
}

void check_forest(const char* fn, const graph::RootedForest& forest, int64_t batch,
                  int64_t length) {
  TOPO_CHECK_ARG(batch >= 1 && length >= 1 && forest.num_nodes() == batch * length, fn, "forest",
                 c10::str("a forest over batch_size·length = ", batch * length, " tokens"),
                 c10::str(forest.num_nodes(), " nodes"));
}

}  // namespace

torch::Tensor tree_exp_product(const graph::RootedForest& forest, const torch::Tensor& lambda,
                               const torch::Tensor& x) {
  ShapeChecker check("tree_exp_product");
  check(x, "x", {"H", forest.num_nodes(), "C"});
  check.floating(x, "x");
  TOPO_CHECK_ARG(lambda.dim() == 1 && (lambda.size(0) == 1 || lambda.size(0) == x.size(0)),
                 "tree_exp_product", "lambda", c10::str("[1] or [", x.size(0), "]"),
                 shape_string(lambda));
  TOPO_CHECK_ARG(x.device().is_cpu(), "tree_exp_product", "x",
                 "a CPU tensor (the passes are sequential)", x.device().str());
  return TreeExpFunction::apply(lambda, x, &forest);
}

TreeExpOperator::TreeExpOperator(std::vector<graph::RootedForest> forests, torch::Tensor lambda,
                                 int64_t batch_size, int64_t length)
    : forests_(std::move(forests)),
      lambda_(std::move(lambda)),
      batch_size_(batch_size),
      length_(length) {
  TOPO_CHECK_ARG(!forests_.empty(), "TreeExpMask", "forests", "at least one forest", "none");
  for (const auto& forest : forests_) check_forest("TreeExpMask", forest, batch_size_, length_);
}

torch::Tensor TreeExpOperator::apply(const torch::Tensor& x) const {
  ShapeChecker check("TreeExpMask::apply");
  check.bind("B", batch_size_, "the mask").bind("L", length_, "the mask");
  check(x, "x", {"B", "H", "L", "C"});
  const auto nodes = detail::tokens_to_nodes(x);
  const auto lam = lambda_.to(x.scalar_type());
  torch::Tensor sum;
  for (const auto& forest : forests_) {
    const auto y = tree_exp_product(forest, lam, nodes);
    sum = sum.defined() ? sum + y : y;
  }
  if (forests_.size() > 1) sum = sum / static_cast<double>(forests_.size());
  return detail::nodes_to_tokens(sum, batch_size_, length_);
}

torch::Tensor TreeExpOperator::dense(const torch::TensorOptions& options) const {
  torch::Tensor sum;
  for (const auto& forest : forests_) {
    const auto m = dense_tree_mask(forest, lambda_, batch_size_, length_, options);
    sum = sum.defined() ? sum + m : m;
  }
  return forests_.size() > 1 ? sum / static_cast<double>(forests_.size()) : sum;
}

}  // namespace topo::attention
