// SPDX-License-Identifier: Apache-2.0
#include "support/gradcheck.h"

#include <torch/torch.h>

#include <sstream>

namespace topo::test {

::testing::AssertionResult gradcheck(
    const std::function<torch::Tensor(const std::vector<torch::Tensor>&)>& fn,
    const std::vector<torch::Tensor>& inputs, GradcheckOptions options) {
  std::vector<torch::Tensor> leaves;
  std::vector<size_t> checked;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& input = inputs[i];
    if (input.defined() && input.requires_grad()) {
      if (input.scalar_type() != torch::kFloat64) {
        return ::testing::AssertionFailure()
               << "gradcheck: input " << i << " must be float64, got " << input.scalar_type();
      }
      checked.push_back(i);
    }
    leaves.push_back(input.defined() ? input.detach().clone().requires_grad_(input.requires_grad())
                                     : input);
  }
  if (checked.empty()) {
    return ::testing::AssertionFailure() << "gradcheck: no input requires grad";
  }

  const auto output = fn(leaves);
  if (!output.requires_grad()) {
    return ::testing::AssertionFailure() << "gradcheck: the output does not require grad";
  }
  auto generator = at::make_generator<at::CPUGeneratorImpl>(12345);
  const auto cotangent = torch::randn(output.sizes(), generator, output.options());
  std::vector<torch::Tensor> wrt;
  for (size_t i : checked) wrt.push_back(leaves[i]);
  const auto analytic = torch::autograd::grad({(output * cotangent).sum()}, wrt,
                                              /*grad_outputs=*/{}, /*retain_graph=*/false,
                                              /*create_graph=*/false, /*allow_unused=*/true);

  torch::NoGradGuard no_grad;
  const auto objective = [&](const std::vector<torch::Tensor>& xs) {
    return (fn(xs) * cotangent).sum().item<double>();
  };
  for (size_t n = 0; n < checked.size(); ++n) {
    const size_t i = checked[n];
    auto values = leaves[i].detach().clone();
    std::vector<torch::Tensor> xs = leaves;
    xs[i] = values;
    auto flat = values.view(-1);
    const auto grad = analytic[n].defined() ? analytic[n].reshape(-1) : torch::zeros_like(flat);
    double worst = 0.0;
    int64_t worst_at = -1;
    double worst_numeric = 0.0, worst_analytic = 0.0;
    for (int64_t j = 0; j < flat.numel(); ++j) {
      const double original = flat[j].item<double>();
      flat[j] = original + options.eps;
      const double plus = objective(xs);
      flat[j] = original - options.eps;
      const double minus = objective(xs);
      flat[j] = original;
      const double numeric = (plus - minus) / (2.0 * options.eps);
      const double exact = grad[j].item<double>();
      const double excess =
          std::abs(numeric - exact) - (options.atol + options.rtol * std::abs(numeric));
      if (excess > worst || std::isnan(exact)) {
        worst = std::isnan(exact) ? std::numeric_limits<double>::infinity() : excess;
        worst_at = j;
        worst_numeric = numeric;
        worst_analytic = exact;
      }
    }
    if (worst_at >= 0) {
      return ::testing::AssertionFailure()
             << "gradcheck: gradient of input " << i << " (shape " << leaves[i].sizes()
             << ") disagrees with finite differences; worst at flat index " << worst_at
             << ": analytic " << worst_analytic << ", numeric " << worst_numeric << " (atol "
             << options.atol << ", rtol " << options.rtol << ", eps " << options.eps << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult parameter_gradcheck(const std::vector<torch::Tensor>& parameters,
                                               const std::function<torch::Tensor()>& loss,
                                               GradcheckOptions options) {
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (parameters[i].scalar_type() != torch::kFloat64 || !parameters[i].requires_grad()) {
      return ::testing::AssertionFailure()
             << "parameter_gradcheck: parameter " << i << " must be float64 and require grad";
    }
  }
  const auto value = loss();
  const auto analytic = torch::autograd::grad({value}, parameters, {}, false, false, true);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < parameters.size(); ++i) {
    auto flat = parameters[i].view(-1);
    const auto grad = analytic[i].defined() ? analytic[i].reshape(-1) : torch::zeros_like(flat);
    for (int64_t j = 0; j < flat.numel(); ++j) {
      const double original = flat[j].item<double>();
      flat[j] = original + options.eps;
      const double plus = loss().item<double>();
      flat[j] = original - options.eps;
      const double minus = loss().item<double>();
      flat[j] = original;
      const double numeric = (plus - minus) / (2.0 * options.eps);
      const double exact = grad[j].item<double>();
      if (!(std::abs(numeric - exact) <= options.atol + options.rtol * std::abs(numeric))) {
        return ::testing::AssertionFailure()
               << "parameter_gradcheck: parameter " << i << " (shape " << parameters[i].sizes()
               << ") entry " << j << ": analytic " << exact << ", numeric " << numeric;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace topo::test
