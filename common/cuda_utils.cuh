// SPDX-License-Identifier: Apache-2.0
/// \file
/// Launch helpers for topoformer's CUDA kernels (included only by *_cuda.cu files).
#pragma once

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <cstdint>

namespace topo::cuda {

constexpr int kThreadsPerBlock = 256;

/// Blocks needed to cover `n` items with `threads` threads each (at least 1).
inline unsigned int num_blocks(int64_t n, int threads = kThreadsPerBlock) {
  return static_cast<unsigned int>((n + threads - 1) / threads);
}

/// Launches `kernel(n, args...)` over a 1-D grid on the current stream; skips n == 0 (a grid of
/// zero blocks is an error) and checks the launch.
template <typename Kernel, typename... Args>
void launch_1d(Kernel kernel, int64_t n, Args... args) {
  if (n == 0) return;
  const auto stream = at::cuda::getCurrentCUDAStream();
  kernel<<<num_blocks(n), kThreadsPerBlock, 0, stream>>>(n, args...);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace topo::cuda
