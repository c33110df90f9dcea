// SPDX-License-Identifier: Apache-2.0
// fft_convolve (the Toeplitz masks' product) against the direct sum in float64, FFTW against
// LibTorch's torch::fft, and the FFTW path's custom backward against finite differences.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "attention/masks/fft_utils.h"
#include "support/gradcheck.h"
#include "support/tensor_assertions.h"

namespace topo::attention::detail {
namespace {

/// y[b, h, i.., c] = Σ_{j < n} kernel[h, (i − j) mod s] x[b, h, j.., c], by loops over the grid
/// (flattened row-major), for x [B, H, n_1..n_d, C] and kernel [H, s_1..s_d].
torch::Tensor direct_convolution(const torch::Tensor& x, const torch::Tensor& kernel) {
  const int64_t d = kernel.dim() - 1;
  std::vector<int64_t> n(d), s(d);
  int64_t cells = 1;
  for (int64_t a = 0; a < d; ++a) {
    n[a] = x.size(2 + a);
    s[a] = kernel.size(1 + a);
    cells *= n[a];
  }
  const auto coords = [&](int64_t flat) {
    std::vector<int64_t> c(d);
    for (int64_t a = d - 1; a >= 0; --a) {
      c[a] = flat % n[a];
      flat /= n[a];
    }
    return c;
  };
  auto matrix = torch::zeros({kernel.size(0), cells, cells}, torch::kDouble);
  const auto flat_kernel = kernel.reshape({kernel.size(0), -1});
  for (int64_t i = 0; i < cells; ++i) {
    const auto ci = coords(i);
    for (int64_t j = 0; j < cells; ++j) {
      const auto cj = coords(j);
      int64_t index = 0;
      for (int64_t a = 0; a < d; ++a) index = index * s[a] + ((ci[a] - cj[a]) % s[a] + s[a]) % s[a];
      matrix.select(1, i).select(1, j).copy_(flat_kernel.select(1, index));
    }
  }
  const auto flat_x = x.reshape({x.size(0), x.size(1), cells, x.size(-1)});
  return torch::matmul(matrix.unsqueeze(0), flat_x).view(x.sizes());
}

struct Shape {
  std::vector<int64_t> grid, fft;
};

std::vector<Shape> shapes() {
  return {{{7}, {13}},      {{16}, {31}},     {{5}, {5}},
          {{3, 4}, {5, 8}}, {{4, 3}, {9, 5}}, {{2, 3, 2}, {3, 5, 4}}};
}

torch::Tensor random_x(const Shape& shape) {
  std::vector<int64_t> sizes{2, 3};
  sizes.insert(sizes.end(), shape.grid.begin(), shape.grid.end());
  sizes.push_back(4);
  return torch::randn(sizes, torch::kDouble);
}

torch::Tensor random_kernel(const Shape& shape) {
  std::vector<int64_t> sizes{3};
  sizes.insert(sizes.end(), shape.fft.begin(), shape.fft.end());
  return torch::randn(sizes, torch::kDouble);
}

TEST(FftConvolution, BothBackendsMatchTheDirectSum) {
  torch::manual_seed(0);
  for (const auto& shape : shapes()) {
    const auto x = random_x(shape), kernel = random_kernel(shape);
    const auto expected = direct_convolution(x, kernel);
    EXPECT_TENSOR_CLOSE(fft_convolve(x, kernel, FftBackend::kTorch), expected, {1e-12, 1e-12});
    EXPECT_TENSOR_CLOSE(fft_convolve(x, kernel), expected, {1e-12, 1e-12});
    if (fftw_available()) {
      EXPECT_TENSOR_CLOSE(fft_convolve(x, kernel, FftBackend::kFftw), expected, {1e-12, 1e-12});
      // float32 on FFTW's single precision, and a strided (non-contiguous) input.
      EXPECT_TENSOR_CLOSE(
          fft_convolve(x.to(torch::kFloat), kernel.to(torch::kFloat), FftBackend::kFftw),
          expected.to(torch::kFloat), {1e-4, 1e-4});
      const auto strided = x.transpose(0, 1).contiguous().transpose(0, 1);
      EXPECT_TENSOR_CLOSE(fft_convolve(strided, kernel, FftBackend::kFftw), expected,
                          {1e-12, 1e-12});
    }
  }
}

TEST(FftConvolution, FftwBackwardMatchesFiniteDifferences) {
  if (!fftw_available()) GTEST_SKIP() << "built without FFTW";
  torch::manual_seed(1);
  for (const auto& shape : shapes()) {
    EXPECT_GRADCHECK(
        [](const std::vector<torch::Tensor>& in) {
          return fft_convolve(in[0], in[1], FftBackend::kFftw);
        },
        {random_x(shape).requires_grad_(), random_kernel(shape).requires_grad_()});
  }
  // Only the input needs a gradient (a fixed kernel).
  const auto x = random_x(shapes()[0]).requires_grad_();
  const auto kernel = random_kernel(shapes()[0]);
  fft_convolve(x, kernel, FftBackend::kFftw).sum().backward();
  EXPECT_TENSOR_CLOSE(x.grad(), direct_convolution(torch::ones_like(x), kernel.flip(1).roll(1, 1)),
                      {1e-12, 1e-12});
}

TEST(FftConvolution, OneColumnWithoutPaddingKeepsItsLayout) {
  // C = 1 and s = n: the padded copy keeps the strides of its size-1 axis, which the FFTW plan
  // must not trust.
  torch::manual_seed(3);
  const auto x = torch::randn({2, 3, 5, 1}, torch::kDouble);
  const auto kernel = torch::randn({3, 5}, torch::kDouble);
  EXPECT_TENSOR_CLOSE(fft_convolve(x, kernel), direct_convolution(x, kernel), {1e-12, 1e-12});
}

TEST(FftConvolution, SecondDerivativesMatchTheTorchBackend) {
  // With create_graph the FFTW path's backward runs on differentiable ops, so second-order
  // terms (forces trained through a mask) are those of torch::fft.
  torch::manual_seed(4);
  const auto shape = shapes()[3];
  const auto x0 = random_x(shape), kernel0 = random_kernel(shape);
  const auto w = torch::randn_like(x0), w2 = torch::randn_like(x0);
  const auto second = [&](FftBackend backend) {
    const auto x = x0.clone().requires_grad_(), kernel = kernel0.clone().requires_grad_();
    const auto y = fft_convolve(x, kernel, backend);
    const auto gx = torch::autograd::grad({(y * w).sum()}, {x}, {}, true, true)[0];
    return torch::autograd::grad({(gx * w2).sum()}, {kernel})[0];
  };
  const auto expected = second(FftBackend::kTorch);
  EXPECT_GT(expected.abs().max().item<double>(), 0.1);
  EXPECT_TENSOR_CLOSE(second(FftBackend::kDefault), expected, {1e-12, 1e-12});
}

TEST(FftConvolution, BadInputGivesClearErrors) {
  const auto x = torch::randn({1, 2, 8, 3});
  EXPECT_THROW_WITH(fft_convolve(x, torch::randn({3, 15})),
                    "fft_convolve: `kernel` must be [H, s_1..s_d] for x [B, H, n_1..n_d, C]");
  EXPECT_THROW_WITH(fft_convolve(x, torch::randn({2, 7})), "sizes >= the grid's");
  if (!fftw_available()) {
    EXPECT_THROW_WITH(fft_convolve(x, torch::randn({2, 15}), FftBackend::kFftw),
                      "a build without FFTW");
  } else {
    EXPECT_THROW_WITH(
        fft_convolve(x.to(torch::kHalf), torch::randn({2, 15}).to(torch::kHalf), FftBackend::kFftw),
        "tensors it does not take");
  }
}

}  // namespace
}  // namespace topo::attention::detail
