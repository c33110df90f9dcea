// SPDX-License-Identifier: Apache-2.0
#include "attention/linear_attention.h"

#include <torch/nn/functional/embedding.h>

#include "attention/attention_utils.h"
#include "attention/causal_linear_attention.h"
#include "attention/masked_linear_attention.h"
#include "common/check.h"

namespace topo::attention {
namespace {

// Segment id of every token, checked: int64, [B, len], in [0, ∞).
void check_segments(ShapeChecker& check, const torch::Tensor& ids, const char* arg,
                    const char* length) {
  check(ids, arg, {"B", length}).dtype(ids, arg, torch::kInt64);
  if (ids.numel() > 0) {
    const int64_t smallest = ids.min().item<int64_t>();
    TOPO_CHECK_ARG(smallest >= 0, "linear_attention", arg, "non-negative ids",
                   "a minimum of " + std::to_string(smallest));
  }
}

}  // namespace

torch::Tensor linear_attention(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                               const torch::Tensor& v, const LinearAttentionFuncOptions& options) {
  ShapeChecker check("linear_attention");
  check(phi_q, "phi_q", {"B", "H", "L", "M"});
  check(phi_k, "phi_k", {"B", "H", "S", "M"});
  check(v, "v", {"B", "H", "S", "D"});
  check.floating(phi_q, "phi_q", /*allow_reduced=*/true)
      .same_dtype({{phi_q, "phi_q"}, {phi_k, "phi_k"}, {v, "v"}})
      .same_device({{phi_q, "phi_q"}, {phi_k, "phi_k"}, {v, "v"},
                    {options.key_padding_mask(), "key_padding_mask"},
                    {options.segment_ids(), "segment_ids"}});
  check.optional(options.key_padding_mask(), "key_padding_mask", {"B", "S"});
  if (options.key_padding_mask().defined()) {
    check.dtype(options.key_padding_mask(), "key_padding_mask", torch::kBool);
  }
  if (options.causal()) {
    TORCH_CHECK_VALUE(check.dim("L") == check.dim("S"),
                      "linear_attention: causal attention needs as many keys as queries, got L=",
                      check.dim("L"), " queries and S=", check.dim("S"), " keys");
  }
  const auto& query_segments = options.segment_ids();
  const auto& key_segments =
      options.key_segment_ids().defined() ? options.key_segment_ids() : query_segments;
  TORCH_CHECK_VALUE(!options.key_segment_ids().defined() || query_segments.defined(),
                    "linear_attention: `key_segment_ids` needs `segment_ids` for the queries");
  if (query_segments.defined()) {
    check_segments(check, query_segments, "segment_ids", "L");
    check_segments(check, key_segments, "key_segment_ids", "S");
  }

  auto keys = phi_k;
  auto values = v;
  detail::drop_padded_keys(keys, values, options.key_padding_mask());
  values = detail::append_ones(values);  // [B, H, S, D + 1]

  int64_t num_segments = 0;
  if (query_segments.defined()) {
    // Value j goes to slot seg_j of a [G, D + 1] block; query i reads slot seg_i. So keys of
    // other segments contribute to neither numerator nor normaliser.
    num_segments = std::max(query_segments.numel() ? query_segments.max().item<int64_t>() : 0,
                            key_segments.numel() ? key_segments.max().item<int64_t>() : 0) + 1;
    const auto slots = torch::nn::functional::one_hot(key_segments, num_segments)
                           .to(values.scalar_type()).unsqueeze(1).unsqueeze(-1);  // [B,1,S,G,1]
    values = (values.unsqueeze(3) * slots).flatten(3);  // [B, H, S, G·(D+1)]
  }

  torch::Tensor raw;
  if (options.causal()) {
    raw = causal_linear_attention(phi_q, keys, values, options.chunk_size());
  } else {
    raw = torch::matmul(phi_q, torch::matmul(keys.transpose(-1, -2), values));
  }

  if (num_segments > 0) {
    const int64_t width = v.size(-1) + 1;
    raw = raw.unflatten(3, {num_segments, width});  // [B, H, L, G, D+1]
    const auto index = query_segments.view({raw.size(0), 1, raw.size(2), 1, 1})
                           .expand({raw.size(0), raw.size(1), raw.size(2), 1, width});
    raw = raw.gather(3, index).squeeze(3);
  }
  return detail::normalise(raw);
}

LinearAttentionImpl::LinearAttentionImpl(const LinearAttentionOptions& options_)
    : options(options_) {
  reset();
}

void LinearAttentionImpl::reset() {
  const int64_t e = options.embed_dim(), h = options.num_heads();
  TOPO_CHECK_ARG(e > 0, "LinearAttention", "embed_dim", "positive", e);
  TOPO_CHECK_ARG(h > 0 && e % h == 0, "LinearAttention", "num_heads",
                 "a positive divisor of embed_dim=" + std::to_string(e), h);
  TORCH_CHECK_VALUE(!(options.causal() && options.mask()),
                    "LinearAttention: `causal` applies to unmasked attention; with a `mask`, use "
                    "a causal mask (e.g. CausalMask, ToeplitzMaskOptions::causal)");
  auto feature_options = options.feature_map();
  feature_options.head_dim(e / h).num_heads(h);
  feature_map = register_module("feature_map", FeatureMap(feature_options));
  const auto linear = torch::nn::LinearOptions(e, e).bias(options.bias());
  q_proj = register_module("q_proj", torch::nn::Linear(linear));
  k_proj = register_module("k_proj", torch::nn::Linear(linear));
  v_proj = register_module("v_proj", torch::nn::Linear(linear));
  out_proj = register_module("out_proj", torch::nn::Linear(linear));
  mask = options.mask();
  if (mask) register_module("mask", mask);
}

torch::Tensor LinearAttentionImpl::forward(const torch::Tensor& query, const torch::Tensor& key,
                                           const torch::Tensor& value,
                                           const torch::Tensor& key_padding_mask,
                                           const torch::Tensor& segment_ids) {
  const int64_t e = options.embed_dim(), h = options.num_heads();
  ShapeChecker check("LinearAttention");
  check(query, "query", {"B", "L", e});
  check(key, "key", {"B", "S", e});
  check(value, "value", {"B", "S", e});
  TORCH_CHECK_VALUE(!(mask && segment_ids.defined()),
                    "LinearAttention: `segment_ids` is not supported together with a mask");
  feature_map->step();

  const auto heads = [&](const torch::Tensor& x) {  // [B, L, E] -> [B, H, L, E/H]
    return x.view({x.size(0), x.size(1), h, e / h}).transpose(1, 2);
  };
  const auto q = heads(q_proj(query)), k = heads(k_proj(key)), v = heads(v_proj(value));
  const bool causal = options.causal() || (mask && mask->is_causal());
  const auto phi_q = feature_map(q, FeatureRole::kQuery);
  const auto phi_k = feature_map(k, causal ? FeatureRole::kCausalKey : FeatureRole::kKey,
                                 key_padding_mask);
  torch::Tensor out;
  if (mask) {
    out = masked_linear_attention(phi_q, phi_k, v, *mask, key_padding_mask);
  } else {
    out = linear_attention(phi_q, phi_k, v,
                           LinearAttentionFuncOptions()
                               .causal(options.causal())
                               .key_padding_mask(key_padding_mask)
                               .segment_ids(segment_ids)
                               .chunk_size(options.chunk_size()));
  }
  return out_proj(out.transpose(1, 2).reshape({query.size(0), query.size(1), e}));
}

void LinearAttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::LinearAttention(embed_dim=" << options.embed_dim()
         << ", num_heads=" << options.num_heads() << ", causal=" << options.causal()
         << ", masked=" << (mask != nullptr) << ")";
}

}  // namespace topo::attention
