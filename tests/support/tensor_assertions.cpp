// SPDX-License-Identifier: Apache-2.0
#include "support/tensor_assertions.h"

#include <torch/torch.h>

#include <sstream>

namespace topo::test {
namespace {

std::string index_string(int64_t flat, torch::IntArrayRef sizes) {
  std::vector<int64_t> index(sizes.size());
  for (int64_t axis = static_cast<int64_t>(sizes.size()) - 1; axis >= 0; --axis) {
    index[axis] = sizes[axis] == 0 ? 0 : flat % sizes[axis];
    flat = sizes[axis] == 0 ? 0 : flat / sizes[axis];
  }
  std::ostringstream out;
  out << torch::IntArrayRef(index);
  return out.str();
}

}  // namespace

::testing::AssertionResult tensors_close(const std::string& actual_expr,
                                         const torch::Tensor& actual, const torch::Tensor& expected,
                                         Tolerance tol) {
  if (!actual.defined() || !expected.defined()) {
    return ::testing::AssertionFailure()
           << actual_expr << ": " << (actual.defined() ? "expected" : "actual")
           << " tensor is undefined";
  }
  if (actual.sizes() != expected.sizes()) {
    return ::testing::AssertionFailure() << actual_expr << ": shape " << actual.sizes()
                                         << " differs from the expected shape " << expected.sizes();
  }
  const auto type = actual.scalar_type();
  double rtol = 1e-2, atol = 1e-3;
  if (type == torch::kFloat64) {
    rtol = 1e-10;
    atol = 1e-12;
  } else if (type == torch::kFloat32) {
    rtol = 1e-4;
    atol = 1e-5;
  }
  if (tol.rtol >= 0) rtol = tol.rtol;
  if (tol.atol >= 0) atol = tol.atol;

  const auto a = actual.detach().to(torch::kCPU, torch::kFloat64).flatten();
  const auto e = expected.detach().to(torch::kCPU, torch::kFloat64).flatten();
  if (a.numel() == 0) return ::testing::AssertionSuccess();

  const auto nan_mismatch = a.isnan().ne(e.isnan());
  const auto both_nan = a.isnan().logical_and(e.isnan());
  const auto abs_err = (a - e).abs().masked_fill(both_nan, 0.0);
  const auto allowed = atol + rtol * e.abs();
  const auto bad = abs_err.gt(allowed).logical_or(nan_mismatch).logical_or(abs_err.isnan());
  const int64_t num_bad = bad.sum().item<int64_t>();
  if (num_bad == 0) return ::testing::AssertionSuccess();

  const auto abs_for_max = abs_err.nan_to_num(std::numeric_limits<double>::infinity());
  const int64_t worst_abs = abs_for_max.argmax().item<int64_t>();
  const auto rel_err = abs_for_max / e.abs().clamp_min(1e-300);
  const int64_t worst_rel = rel_err.argmax().item<int64_t>();
  std::ostringstream out;
  out << actual_expr << " differs from the expected tensor in " << num_bad << " of " << a.numel()
      << " elements (shape " << actual.sizes() << ", " << actual.scalar_type() << " vs "
      << expected.scalar_type() << ", " << actual.device() << "; rtol " << rtol << ", atol " << atol
      << ")\n  max abs error " << abs_for_max[worst_abs].item<double>() << " at "
      << index_string(worst_abs, actual.sizes()) << ": actual " << a[worst_abs].item<double>()
      << ", expected " << e[worst_abs].item<double>() << "\n  max rel error "
      << rel_err[worst_rel].item<double>() << " at " << index_string(worst_rel, actual.sizes())
      << ": actual " << a[worst_rel].item<double>() << ", expected " << e[worst_rel].item<double>();
  return ::testing::AssertionFailure() << out.str();
}

}  // namespace topo::test
