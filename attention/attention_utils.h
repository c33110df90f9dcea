// SPDX-License-Identifier: Apache-2.0
/// \file
/// Shared internals of the linear attention functionals. Internal (not installed).
#pragma once

#include <torch/types.h>

namespace topo::attention::detail {

/// Zeroes the features and values of padded keys (`key_padding_mask` [B, S], true = padded).
inline void drop_padded_keys(torch::Tensor& phi_k, torch::Tensor& v,
                             const torch::Tensor& key_padding_mask) {
  if (!key_padding_mask.defined()) return;
  const auto padded = key_padding_mask.unsqueeze(1).unsqueeze(-1);
  phi_k = phi_k.masked_fill(padded, 0);
  v = v.masked_fill(padded, 0);
}

/// (V, 1): one product then yields numerator and normaliser together.
inline torch::Tensor append_ones(const torch::Tensor& v) {
  return torch::cat({v, torch::ones_like(v.narrow(-1, 0, 1))}, -1);
}

/// Splits [.., D + 1] into numerator and normaliser and divides; a zero normaliser (no
/// attention mass) gives 0 instead of NaN.
inline torch::Tensor normalise(const torch::Tensor& raw) {
  const int64_t d = raw.size(-1) - 1;
  const auto den = raw.narrow(-1, d, 1);
  return raw.narrow(-1, 0, d) / den.masked_fill(den == 0, 1);
}

}  // namespace topo::attention::detail
