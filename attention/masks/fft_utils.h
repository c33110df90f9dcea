// SPDX-License-Identifier: Apache-2.0
/// \file
/// Helpers shared by the FFT-based (Toeplitz and block-Toeplitz) masks. Internal.
#pragma once

#include <torch/types.h>

#include <cstdint>

namespace topo::attention::detail {

/// Smallest n ≥ target whose only prime factors are 2, 3 and 5 (fast FFT sizes).
inline int64_t next_fast_fft_size(int64_t target) {
  for (int64_t n = target > 1 ? target : 1;; ++n) {
    int64_t r = n;
    for (int64_t p : {2, 3, 5}) {
      while (r % p == 0) r /= p;
    }
    if (r == 1) return n;
  }
}

/// Which FFT library fft_convolve uses: FFTW 3 when the build has it (2.2x faster than
/// pocketfft on the Toeplitz mask's operand on the 2-core machine, BENCHMARKS.md), LibTorch's
/// torch::fft (pocketfft) otherwise.
enum class FftBackend { kDefault, kTorch, kFftw };

/// Whether this build links FFTW 3 (CMake option TOPO_WITH_FFTW, libfftw3-dev).
bool fftw_available();

/// The first n_1..n_d cells of the circular convolution, over sizes s_1..s_d, of `x`
/// [B, H, n_1..n_d, C] (zero-padded) with `kernel` [H, s_1..s_d] along the d grid axes: the
/// product by the (block-)Toeplitz matrix whose circulant embedding the kernel is. Differentiable
/// in both; the FFTW path's backward recomputes the spectra from x instead of keeping them.
torch::Tensor fft_convolve(const torch::Tensor& x, const torch::Tensor& kernel,
                           FftBackend backend = FftBackend::kDefault);

}  // namespace topo::attention::detail
