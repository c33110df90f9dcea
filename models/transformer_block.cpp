// SPDX-License-Identifier: Apache-2.0
#include "models/transformer_block.h"

#include <torch/torch.h>

#include "attention/linear_attention.h"
#include "attention/masked_linear_attention.h"
#include "attention/masks/low_rank_mask.h"
#include "common/check.h"

namespace topo::models {
namespace {

bool softmax_kernel(attention::FeatureMapKind kind) {
  return kind == attention::FeatureMapKind::kSoftmaxPositive || kind == attention::FeatureMapKind::kSoftmaxHyperbolic;
}


}  // namespace

TransformerBlockImpl::TransformerBlockImpl(const TransformerBlockOptions& options_) : options(options_) { reset(); }

void TransformerBlockImpl::reset() {
  const auto& o = options;
  TOPO_CHECK_ARG(o.num_heads() >= 1 && o.embed_dim() % o.num_heads() == 0, "TransformerBlock", "embed_dim",
                 c10::str("a multiple of num_heads = ", o.num_heads()), o.embed_dim());
  const int64_t head_dim = o.embed_dim() / o.num_heads();
  norm1 = register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_dim()})));
  norm2 = register_module("norm2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_dim()})));
  qkv = register_module("qkv", torch::nn::Linear(o.embed_dim(), 3 * o.embed_dim()));
  out = register_module("out", torch::nn::Linear(o.embed_dim(), o.embed_dim()));
  mlp = register_module("mlp", torch::nn::Sequential(torch::nn::Linear(o.embed_dim(), o.mlp_ratio() * o.embed_dim()),
                                                     torch::nn::GELU(), torch::nn::Dropout(o.dropout()),
                                                     torch::nn::Linear(o.mlp_ratio() * o.embed_dim(), o.embed_dim())));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
  const bool additive_rpe = o.rpe_dim() > 0 && softmax_kernel(o.feature_map());
  // The logit-additive RPE widens queries and keys by 2R: the feature map sees D + 2R inputs.
  const int64_t phi_dim = additive_rpe ? head_dim + 2 * o.rpe_features() : head_dim;
  phi = register_module("phi", attention::FeatureMap(attention::FeatureMapOptions(phi_dim, o.num_heads())
                                                         .kind(o.feature_map())
                                                         .num_features(o.num_features())
                                                         .redraw_interval(o.redraw_interval())
                                                         .layer_id(o.layer_id())
                                                         .normalize_inputs(!additive_rpe)));
  if (o.rpe_dim() > 0) {
    rpe = register_module("rpe", geometry::SpectralRPE(geometry::SpectralRPEOptions(o.rpe_dim(), o.num_heads())
                                                           .num_features(o.rpe_features())
                                                           .family(o.rpe_family())
                                                           .length_scale(o.rpe_length_scale())));
  }
}

torch::Tensor TransformerBlockImpl::masked_linear(torch::Tensor q, torch::Tensor k, const torch::Tensor& v,
                                                 const torch::Tensor& key_padding_mask, const torch::Tensor& pos,
                                                 attention::Mask* mask) {
  torch::Tensor attended;
  if (is_training()) phi->step();
  std::optional<attention::LowRankMask> low_rank;
  if (rpe) {
    const auto [fq, fk] = rpe(pos);
    if (softmax_kernel(options.feature_map())) {
      std::tie(q, k) = attention::logit_additive_inputs(q, k, fq, fk);
    } else {
      // Multiplicative: keep the estimated mask positive by adding a constant column.
      const auto one = torch::ones({fq.size(0), fq.size(1), fq.size(2), 1}, fq.options());
      low_rank.emplace(torch::cat({fq, one}, -1), torch::cat({fk, one}, -1));
    }
  }
  const auto phi_q = phi(q, attention::FeatureRole::kQuery);
  const auto phi_k = phi(k, attention::FeatureRole::kKey, key_padding_mask);
  if (low_rank && mask == nullptr) {
    attended = attention::masked_linear_attention(phi_q, phi_k, v, **low_rank, key_padding_mask);
  } else if (low_rank) {
    // Both: fold the low-rank mask into the features (row-wise Kronecker), then the external mask.
    attended = attention::masked_linear_attention(attention::row_wise_kronecker(phi_q, (*low_rank)->query_factors),
                                                  attention::row_wise_kronecker(phi_k, (*low_rank)->key_factors), v,
                                                  *mask, key_padding_mask);
  } else if (mask != nullptr) {
    attended = attention::masked_linear_attention(phi_q, phi_k, v, *mask, key_padding_mask);
  } else {
    attended = attention::linear_attention(phi_q, phi_k, v,
                                           attention::LinearAttentionFuncOptions().key_padding_mask(key_padding_mask));
  }
  return attended;
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& key_padding_mask,
                                            const torch::Tensor& pos, attention::Mask* mask) {
  ShapeChecker check("TransformerBlock");
  check.bind("E", options.embed_dim(), "the block");
  check(x, "x", {"B", "L", "E"});
  check.optional(key_padding_mask, "key_padding_mask", {"B", "L"});
  TOPO_CHECK_ARG(!(options.combiner() && (options.rpe_dim() > 0 || mask != nullptr)), "TransformerBlock", "options.combiner",
                 "false when an RPE or a mask is used", "true");
  if (rpe) {
    TOPO_CHECK_ARG(pos.defined(), "TransformerBlock", "pos", "positions [B, L, rpe_dim] (the block has an RPE)",
                   "undefined");
    check(pos, "pos", {"B", "L", options.rpe_dim()});
  }
  const int64_t b = x.size(0), l = x.size(1), h = options.num_heads();
  const auto qkv_out = qkv(norm1(x)).view({b, l, 3, h, -1}).permute({2, 0, 3, 1, 4});
  const auto q = qkv_out[0], k = qkv_out[1], v = qkv_out[2];
  const auto attended = options.combiner()
                            ? attention::combiner_attention(q, k, v,
                                                            attention::CombinerFuncOptions()
                                                                .variant(options.combiner_variant())
                                                                .key_padding_mask(key_padding_mask))
                            : masked_linear(q, k, v, key_padding_mask, pos, mask);
  auto y = x + dropout(out(attended.transpose(1, 2).reshape({b, l, options.embed_dim()})));
  return y + dropout(mlp->forward(norm2(y)));
}

}  // namespace topo::models
