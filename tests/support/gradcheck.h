// SPDX-License-Identifier: Apache-2.0
/// \file
/// Finite-difference gradient checker (the C++ frontend has no public gradcheck).
#pragma once

#include <gtest/gtest.h>
#include <torch/types.h>

#include <functional>
#include <vector>

namespace topo::test {

struct GradcheckOptions {
  double eps = 1e-6;   ///< central-difference step
  double atol = 1e-6;  ///< absolute tolerance on each gradient entry
  double rtol = 1e-4;  ///< relative tolerance on each gradient entry
};

/// Checks the autograd gradients of `fn` against central finite differences, in float64.
///
/// A fixed random cotangent w is drawn for the (single) output, and the gradient of
/// sum(w * fn(inputs)) with respect to every input that requires grad is compared, entry by
/// entry, with (f(x + eps e_i) - f(x - eps e_i)) / (2 eps). Inputs must be float64. The failure
/// message names the input and the worst entry.
::testing::AssertionResult gradcheck(
    const std::function<torch::Tensor(const std::vector<torch::Tensor>&)>& fn,
    const std::vector<torch::Tensor>& inputs, GradcheckOptions options = {});

/// Gradient of a scalar `loss()` with respect to module parameters (float64, used inside
/// `loss` directly) against central differences, perturbing each entry in place.
::testing::AssertionResult parameter_gradcheck(const std::vector<torch::Tensor>& parameters,
                                               const std::function<torch::Tensor()>& loss,
                                               GradcheckOptions options = {});

}  // namespace topo::test

#define EXPECT_GRADCHECK(fn, ...) EXPECT_TRUE(::topo::test::gradcheck((fn), __VA_ARGS__))
#define EXPECT_PARAMETER_GRADCHECK(parameters, ...) \
  EXPECT_TRUE(::topo::test::parameter_gradcheck((parameters), __VA_ARGS__))
