// SPDX-License-Identifier: Apache-2.0
#include "attention/masked_linear_attention.h"

#include "attention/attention_utils.h"
#include "common/check.h"

namespace topo::attention {

torch::Tensor masked_linear_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                      const torch::Tensor& v, const MaskOperator& mask,
                                      const torch::Tensor& key_padding_mask,
                                      int64_t max_block_elements) {
  ShapeChecker check("masked_linear_attention");
  check(phi_q, "phi_q", {"B", "H", "L", "M"});
  check(phi_k, "phi_k", {"B", "H", "S", "M"});
  check(v, "v", {"B", "H", "S", "D"});
  check.optional(key_padding_mask, "key_padding_mask", {"B", "S"});
  check.floating(phi_q, "phi_q")
      .same_dtype({{phi_q, "phi_q"}, {phi_k, "phi_k"}, {v, "v"}})
      .same_device(
          {{phi_q, "phi_q"}, {phi_k, "phi_k"}, {v, "v"}, {key_padding_mask, "key_padding_mask"}});
  if (key_padding_mask.defined()) {
    check.dtype(key_padding_mask, "key_padding_mask", torch::kBool);
  }
  TOPO_CHECK_ARG(max_block_elements > 0, "masked_linear_attention", "max_block_elements",
                 "positive", max_block_elements);

  // A cheaper exact algorithm of the mask's own (the causal scan needs O(L·(M + D)) memory
  // instead of O(L·M·D) and is several times faster than prefix sums of Alg. 1).
  if (auto out = mask.attend(phi_q, phi_k, v, key_padding_mask)) return *out;

  auto keys = phi_k;
  auto values = v;
  detail::drop_padded_keys(keys, values, key_padding_mask);
  values = detail::append_ones(values);  // [B, H, S, D + 1]
  const int64_t b = phi_q.size(0), h = phi_q.size(1), l = phi_q.size(2), s = phi_k.size(2);
  const int64_t m = phi_q.size(3), width = values.size(3);
  if (l == 0 || m == 0) return torch::zeros({b, h, l, v.size(3)}, v.options());

  // Alg. 1, one block of feature channels at a time: the product by M is linear in channels.
  const int64_t per_channel = std::max<int64_t>(1, b * h * std::max(l, s) * width);
  const int64_t block = std::clamp<int64_t>(max_block_elements / per_channel, 1, m);
  torch::Tensor raw;
  for (int64_t start = 0; start < m; start += block) {
    const int64_t size = std::min(block, m - start);
    const auto k_block = keys.narrow(3, start, size);
    const auto outer = (k_block.unsqueeze(-1) * values.unsqueeze(-2)).flatten(3);  // [B,H,S,c·W]
    const auto masked = mask.apply(outer);
    TORCH_CHECK(masked.dim() == 4 && masked.size(2) == l && masked.size(3) == outer.size(3),
                "masked_linear_attention: the mask mapped [", b, ", ", h, ", ", s, ", ",
                outer.size(3), "] to ", shape_string(masked), ", expected [", b, ", ", h, ", ", l,
                ", ", outer.size(3), "] (does the mask match the number of queries?)");
    const auto contribution = torch::matmul(phi_q.narrow(3, start, size).unsqueeze(-2),
                                            masked.unflatten(3, {size, width}))
                                  .squeeze(-2);  // [B, H, L, W]
    raw = raw.defined() ? raw + contribution : contribution;
  }
  return detail::normalise(raw);
}

torch::Tensor dense_masked_linear_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                            const torch::Tensor& v, const torch::Tensor& mask,
                                            const torch::Tensor& key_padding_mask) {
  ShapeChecker check("dense_masked_linear_attention");
  check(phi_q, "phi_q", {"B", "H", "L", "M"});
  check(phi_k, "phi_k", {"B", "H", "S", "M"});
  check(v, "v", {"B", "H", "S", "D"});
  check.optional(key_padding_mask, "key_padding_mask", {"B", "S"});
  check.floating(phi_q, "phi_q")
      .same_dtype({{phi_q, "phi_q"}, {phi_k, "phi_k"}, {v, "v"}, {mask, "mask"}});
  TOPO_CHECK_ARG(mask.dim() == 4 && (mask.size(0) == 1 || mask.size(0) == phi_q.size(0)) &&
                     (mask.size(1) == 1 || mask.size(1) == phi_q.size(1)) &&
                     mask.size(2) == phi_q.size(2) && mask.size(3) == phi_k.size(2),
                 "dense_masked_linear_attention", "mask",
                 c10::str("[B or 1, H or 1, ", phi_q.size(2), ", ", phi_k.size(2), "]"),
                 shape_string(mask));
  if (key_padding_mask.defined()) {
    check.dtype(key_padding_mask, "key_padding_mask", torch::kBool);
  }
  auto keys = phi_k;
  auto values = v;
  detail::drop_padded_keys(keys, values, key_padding_mask);
  const auto weights = torch::matmul(phi_q, keys.transpose(-1, -2)) * mask;  // [B, H, L, S]
  return detail::normalise(torch::matmul(weights, detail::append_ones(values)));
}

}  // namespace topo::attention
