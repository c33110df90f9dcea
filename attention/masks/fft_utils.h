// SPDX-License-Identifier: Apache-2.0
/// \file
/// Helpers shared by the FFT-based (Toeplitz and block-Toeplitz) masks. Internal.
#pragma once

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

}  // namespace topo::attention::detail
