// SPDX-License-Identifier: Apache-2.0
#include "attention/linear_attention.h"

#include <torch/nn/functional/embedding.h>

#include "attention/attention_utils.h"
#include "attention/causal_linear_attention.h"
#include "attention/masked_linear_attention.h"
#include "attention/masks/sparse_mask.h"
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
      .same_device({{phi_q, "phi_q"},
                    {phi_k, "phi_k"},
                    {v, "v"},
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
                            key_segments.numel() ? key_segments.max().item<int64_t>() : 0) +
                   1;
    const auto slots = torch::nn::functional::one_hot(key_segments, num_segments)
                           .to(values.scalar_type())
                           .unsqueeze(1)
                           .unsqueeze(-1);              // [B,1,S,G,1]
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
  TORCH_CHECK_VALUE(!(options.causal() && !options.masks().empty()),
                    "LinearAttention: `causal` applies to unmasked attention; with `masks`, use "
                    "a causal mask (e.g. CausalMask, ToeplitzMaskOptions::causal)");
  int64_t extra = 0, applied = 0, additive = 0, sparse = 0, multiplicative_low_rank = 0;
  std::string given;  // the masks, for messages
  for (const auto& mask : options.masks()) {
    TOPO_CHECK_ARG(mask != nullptr, "LinearAttention", "masks", "non-null mask modules",
                   "a null pointer");
    extra += mask->extra_input_dims();
    additive += mask->extra_input_dims() > 0 ? 1 : 0;
    applied += mask->low_rank() ? 0 : 1;
    sparse += mask->sparse() ? 1 : 0;
    multiplicative_low_rank += mask->low_rank() && mask->extra_input_dims() == 0 ? 1 : 0;
    given += c10::str(given.empty() ? "" : ", ", *mask);
  }
  // Each logit-additive mask scales the (widened) inputs by their width^(-1/4): a second one
  // would rescale the first one's bias.
  TORCH_CHECK_VALUE(additive <= 1, "LinearAttention: at most one logit-additive mask, got ",
                    additive, " (make the others semantics=multiplicative)");
  TORCH_CHECK_VALUE(applied <= 1, "LinearAttention: at most one mask that is not low-rank can be ",
                    "combined (low-rank masks such as flt combine with any), got ", applied);
  auto feature_options = options.feature_map();
  // Exact softmax weights exist only edge by edge; a multiplicative low-rank mask folds into
  // the features by a Kronecker product, which exponentiating would turn into something else.
  TORCH_CHECK_VALUE(feature_options.kind() != FeatureMapKind::kSoftmaxExact ||
                        (applied == 1 && sparse == 1 && multiplicative_low_rank == 0),
                    "LinearAttention: the softmax-exact feature map needs one sparse mask "
                    "(adjacency, local-rpe), optionally with a logit-additive low-rank mask "
                    "(flt), and no other; got masks: ",
                    given.empty() ? std::string("none") : given);
  TORCH_CHECK_VALUE(
      extra == 0 || is_softmax_kernel(feature_options.kind()),
      "LinearAttention: a logit-additive mask (e.g. flt with semantics=logit-additive) needs a "
      "softmax-kernel feature map; use semantics=multiplicative with this feature map");
  // Logit-additive masks widen queries and keys (already scaled): the feature map sees them.
  feature_options.head_dim(e / h + extra).num_heads(h);
  if (extra > 0) feature_options.normalize_inputs(false);
  feature_map = register_module("feature_map", FeatureMap(feature_options));
  const auto linear = torch::nn::LinearOptions(e, e).bias(options.bias());
  q_proj = register_module("q_proj", torch::nn::Linear(linear));
  k_proj = register_module("k_proj", torch::nn::Linear(linear));
  v_proj = register_module("v_proj", torch::nn::Linear(linear));
  out_proj = register_module("out_proj", torch::nn::Linear(linear));
  masks = options.masks();
  for (size_t i = 0; i < masks.size(); ++i) register_module("mask_" + std::to_string(i), masks[i]);
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> LinearAttentionImpl::project(
    const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value) {
  const int64_t e = options.embed_dim(), h = options.num_heads();
  ShapeChecker check("LinearAttention");
  check(query, "query", {"B", "L", e});
  check(key, "key", {"B", "S", e});
  check(value, "value", {"B", "S", e});
  const auto heads = [&](const torch::Tensor& x) {  // [B, L, E] -> [B, H, L, E/H]
    return x.view({x.size(0), x.size(1), h, e / h}).transpose(1, 2);
  };
  return {heads(q_proj(query)), heads(k_proj(key)), heads(v_proj(value))};
}

torch::Tensor LinearAttentionImpl::attend(const torch::Tensor& q_in, const torch::Tensor& k_in,
                                          const torch::Tensor& v,
                                          const torch::Tensor& key_padding_mask,
                                          const torch::Tensor& segment_ids,
                                          const MaskContext* context) {
  feature_map->step();
  if (masks.empty()) {
    const auto phi_q = feature_map(q_in, FeatureRole::kQuery);
    const auto phi_k = feature_map(
        k_in, options.causal() ? FeatureRole::kCausalKey : FeatureRole::kKey, key_padding_mask);
    return linear_attention(phi_q, phi_k, v,
                            LinearAttentionFuncOptions()
                                .causal(options.causal())
                                .key_padding_mask(key_padding_mask)
                                .segment_ids(segment_ids)
                                .chunk_size(options.chunk_size()));
  }
  TORCH_CHECK_VALUE(!segment_ids.defined(),
                    "LinearAttention: `segment_ids` is not supported together with masks");
  TORCH_CHECK_VALUE(q_in.size(2) == k_in.size(2),
                    "LinearAttention: masks need self-attention (as many keys as ",
                    "queries), got L=", q_in.size(2), " queries and S=", k_in.size(2), " keys");
  MaskContext own;
  if (context == nullptr) {
    own.batch_size = q_in.size(0);
    own.length = q_in.size(2);
    own.key_padding_mask = key_padding_mask;
    own.options = q_in.options();
    context = &own;
  }
  TOPO_CHECK_ARG(
      context->batch_size == q_in.size(0) && context->length == q_in.size(2), "LinearAttention",
      "context",
      c10::str("batch_size ", q_in.size(0), " and length ", q_in.size(2), " (the inputs')"),
      c10::str("batch_size ", context->batch_size, " and length ", context->length));
  std::vector<std::shared_ptr<const MaskOperator>> operators;
  bool causal = false;
  auto q = q_in, k = k_in;
  for (const auto& mask : masks) {
    operators.push_back(mask->build(*context));
    causal = causal || operators.back()->is_causal();
    std::tie(q, k) = operators.back()->transform_inputs(q, k);
  }
  auto phi_q = feature_map(q, FeatureRole::kQuery);
  auto phi_k =
      feature_map(k, causal ? FeatureRole::kCausalKey : FeatureRole::kKey, key_padding_mask);
  // Low-rank masks fold into the features; at most one mask remains to multiply by.
  const MaskOperator* applied = nullptr;
  for (size_t i = 0; i < operators.size(); ++i) {
    if (auto folded = operators[i]->fold_into_features(phi_q, phi_k)) {
      std::tie(phi_q, phi_k) = *folded;
      continue;
    }
    TORCH_CHECK_VALUE(
        applied == nullptr, "LinearAttention: at most one mask that is not low-rank can be ",
        "combined, got two (", *masks[i], " and another); low-rank masks (flt) combine with any");
    applied = operators[i].get();
  }
  if (feature_map->options.kind() == FeatureMapKind::kSoftmaxExact) {
    const auto* sparse = dynamic_cast<const SparseMaskOperator*>(applied);
    TORCH_INTERNAL_ASSERT(sparse != nullptr, "a sparse() mask built another operator");
    return sparse->softmax_attend(phi_q, phi_k, v, key_padding_mask);
  }
  if (applied == nullptr) {
    return linear_attention(phi_q, phi_k, v,
                            LinearAttentionFuncOptions().key_padding_mask(key_padding_mask));
  }
  return masked_linear_attention(phi_q, phi_k, v, *applied, key_padding_mask);
}

std::shared_ptr<torch::nn::Module> LinearAttentionImpl::clone(
    const c10::optional<torch::Device>& device) const {
  // reset() would register the same mask objects in the copy: their parameters would be shared.
  TORCH_CHECK_VALUE(masks.empty(),
                    "LinearAttention::clone: a module with masks cannot be cloned yet (the copy "
                    "would share the masks' parameters); build a new module from the options");
  return torch::nn::Cloneable<LinearAttentionImpl>::clone(device);
}

torch::Tensor LinearAttentionImpl::merge(const torch::Tensor& attended) {
  return out_proj(
      attended.transpose(1, 2).reshape({attended.size(0), attended.size(2), options.embed_dim()}));
}

torch::Tensor LinearAttentionImpl::forward(const torch::Tensor& query, const torch::Tensor& key,
                                           const torch::Tensor& value,
                                           const torch::Tensor& key_padding_mask,
                                           const torch::Tensor& segment_ids,
                                           const MaskContext* context) {
  const auto [q, k, v] = project(query, key, value);
  return merge(attend(q, k, v, key_padding_mask, segment_ids, context));
}

void LinearAttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::LinearAttention(embed_dim=" << options.embed_dim()
         << ", num_heads=" << options.num_heads() << ", causal=" << options.causal()
         << ", masks=" << masks.size() << ")";
}

}  // namespace topo::attention
