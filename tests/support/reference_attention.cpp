// SPDX-License-Identifier: Apache-2.0
#include "support/reference_attention.h"

#include <torch/torch.h>

#include <cmath>

namespace topo::test {

torch::Tensor dense_masked_kernel_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                            const torch::Tensor& v, const torch::Tensor& mask,
                                            const torch::Tensor& key_padding_mask) {
  auto a = torch::matmul(phi_q, phi_k.transpose(-1, -2));  // [B, H, L, S]
  if (mask.defined()) a = a * mask.to(a.scalar_type());
  if (key_padding_mask.defined()) {
    a = a.masked_fill(key_padding_mask.unsqueeze(1).unsqueeze(2), 0);
  }
  const auto rowsum = a.sum(-1, true);
  return torch::matmul(a, v) / rowsum.masked_fill(rowsum == 0, 1);
}

torch::Tensor dense_softmax_attention(const torch::Tensor& q, const torch::Tensor& k,
                                      const torch::Tensor& v, const torch::Tensor& bias,
                                      const torch::Tensor& allowed,
                                      const torch::Tensor& key_padding_mask) {
  auto logits = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(q.size(-1)));
  if (bias.defined()) logits = logits + bias.to(logits.scalar_type());
  const double minus_inf = -std::numeric_limits<double>::infinity();
  if (allowed.defined()) logits = logits.masked_fill(allowed.logical_not(), minus_inf);
  if (key_padding_mask.defined()) {
    logits = logits.masked_fill(key_padding_mask.unsqueeze(1).unsqueeze(2), minus_inf);
  }
  return torch::matmul(torch::softmax(logits, -1).nan_to_num(0.0), v);
}

torch::Tensor dense_segment_mask(const torch::Tensor& query_segments,
                                 const torch::Tensor& key_segments) {
  return query_segments.unsqueeze(2).eq(key_segments.unsqueeze(1)).unsqueeze(1);
}

}  // namespace topo::test
