// SPDX-License-Identifier: Apache-2.0
// Compile-only check of common/cuda_utils.cuh: instantiates launch_1d with a kernel over every
// dtype our kernels dispatch on, so CI (no GPU, CPU LibTorch) still catches CUDA compile errors.
#include "common/cuda_utils.cuh"

namespace topo::cuda {
namespace {

template <typename scalar_t>
__global__ void axpy_kernel(int64_t n, scalar_t alpha, const scalar_t* x, scalar_t* y) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = alpha * x[i] + y[i];
}

}  // namespace

void axpy_cuda(const at::Tensor& x, at::Tensor& y, double alpha) {
  const c10::cuda::CUDAGuard guard(x.device());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "axpy_cuda", [&] {
    launch_1d(axpy_kernel<scalar_t>, x.numel(), static_cast<scalar_t>(alpha),
              x.data_ptr<scalar_t>(), y.data_ptr<scalar_t>());
  });
}

}  // namespace topo::cuda
