// SPDX-License-Identifier: Apache-2.0
// Linear attention (bidirectional, causal scan, padding, packing) against dense references.
#include "attention/linear_attention.h"

#include <torch/torch.h>

#include "attention/causal_linear_attention.h"
#include "support/gradcheck.h"
#include "support/reference_attention.h"
#include "support/tensor_assertions.h"

namespace topo::attention {
namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);

torch::Tensor positive(std::vector<int64_t> shape, const torch::TensorOptions& opts = kF64) {
  return torch::rand(shape, opts) + 0.05;
}

torch::Tensor tril_mask(int64_t l) { return torch::ones({1, 1, l, l}, kF64).tril(); }

TEST(LinearAttention, BidirectionalMatchesDense) {
  torch::manual_seed(0);
  const auto q = positive({2, 3, 11, 6}), k = positive({2, 3, 13, 6});
  const auto v = torch::randn({2, 3, 13, 5}, kF64);
  EXPECT_TENSOR_CLOSE(linear_attention(q, k, v), test::dense_masked_kernel_attention(q, k, v));
  // float32 within 1e-4
  const auto out32 =
      linear_attention(q.to(torch::kFloat32), k.to(torch::kFloat32), v.to(torch::kFloat32));
  EXPECT_TENSOR_CLOSE(out32, test::dense_masked_kernel_attention(q, k, v).to(torch::kFloat32));
}

TEST(LinearAttention, CausalMatchesTrilDenseForEveryChunking) {
  torch::manual_seed(1);
  const auto q = positive({2, 2, 37, 5}), k = positive({2, 2, 37, 5});
  const auto v = torch::randn({2, 2, 37, 3}, kF64);
  const auto expected = test::dense_masked_kernel_attention(q, k, v, tril_mask(37));
  for (int64_t chunk : {1, 4, 16, 37, 64}) {
    EXPECT_TENSOR_CLOSE(
        linear_attention(q, k, v, LinearAttentionFuncOptions().causal(true).chunk_size(chunk)),
        expected)
        << "chunk " << chunk;
  }
}

TEST(CausalLinearAttention, CustomBackwardMatchesFiniteDifferences) {
  torch::manual_seed(2);
  const auto q = positive({1, 2, 9, 3}).requires_grad_();
  const auto k = positive({1, 2, 9, 3}).requires_grad_();
  const auto v = torch::randn({1, 2, 9, 2}, kF64).requires_grad_();
  for (int64_t chunk : {2, 4, 9}) {
    EXPECT_GRADCHECK(
        [chunk](const std::vector<torch::Tensor>& in) {
          return causal_linear_attention(in[0], in[1], in[2], chunk);
        },
        {q, k, v});
  }
}

TEST(CausalLinearAttention, GradientsMatchTrilDenseReference) {
  torch::manual_seed(3);
  const auto q = positive({2, 2, 21, 4}).requires_grad_();
  const auto k = positive({2, 2, 21, 4}).requires_grad_();
  const auto v = torch::randn({2, 2, 21, 3}, kF64).requires_grad_();
  const auto g = torch::randn({2, 2, 21, 3}, kF64);
  const auto fast = torch::autograd::grad(
      {(linear_attention(q, k, v, LinearAttentionFuncOptions().causal(true).chunk_size(8)) * g)
           .sum()},
      {q, k, v});
  const auto dense = torch::autograd::grad(
      {(test::dense_masked_kernel_attention(q, k, v, tril_mask(21)) * g).sum()}, {q, k, v});
  for (int i = 0; i < 3; ++i) EXPECT_TENSOR_CLOSE(fast[i], dense[i]);
}

TEST(LinearAttention, NormalisedCausalGradcheck) {
  torch::manual_seed(4);
  const auto q = positive({1, 1, 7, 3}).requires_grad_();
  const auto k = positive({1, 1, 7, 3}).requires_grad_();
  const auto v = torch::randn({1, 1, 7, 2}, kF64).requires_grad_();
  EXPECT_GRADCHECK(
      [](const std::vector<torch::Tensor>& in) {
        return linear_attention(in[0], in[1], in[2],
                                LinearAttentionFuncOptions().causal(true).chunk_size(3));
      },
      {q, k, v});
}

TEST(LinearAttention, CausalModuleIgnoresTheFuture) {
  // FAVOR+ with the causal key stabiliser: outputs before position t are bit-identical when
  // every token from t on changes (a global key max would leak the future here).
  torch::manual_seed(5);
  LinearAttention attention(LinearAttentionOptions(16, 2).causal(true).chunk_size(8).feature_map(
      FeatureMapOptions(1).num_features(32)));
  const auto x = torch::randn({2, 30, 16});
  auto changed = x.clone();
  changed.narrow(1, 17, 13).mul_(5).add_(3);
  const auto a = attention(x, x, x), b = attention(changed, changed, changed);
  EXPECT_TRUE(torch::equal(a.narrow(1, 0, 17), b.narrow(1, 0, 17)));
  EXPECT_FALSE(torch::allclose(a.narrow(1, 17, 13), b.narrow(1, 17, 13)));
}

TEST(LinearAttention, KeyPaddingRemovesKeysFromNumeratorAndDenominator) {
  torch::manual_seed(6);
  const auto q = positive({2, 2, 5, 4}), k = positive({2, 2, 9, 4});
  const auto v = torch::randn({2, 2, 9, 3}, kF64);
  auto padding = torch::zeros({2, 9}, torch::kBool);
  padding[0].narrow(0, 6, 3).fill_(true);
  padding[1].narrow(0, 2, 1).fill_(true);
  const auto out =
      linear_attention(q, k, v, LinearAttentionFuncOptions().key_padding_mask(padding));
  EXPECT_TENSOR_CLOSE(out, test::dense_masked_kernel_attention(q, k, v, {}, padding));
  // Sequence 0 with its padding cut off gives the same output.
  const auto unpadded = linear_attention(q.narrow(0, 0, 1), k.narrow(0, 0, 1).narrow(2, 0, 6),
                                         v.narrow(0, 0, 1).narrow(2, 0, 6));
  EXPECT_TENSOR_CLOSE(out.narrow(0, 0, 1), unpadded);
}

TEST(LinearAttention, PaddingInvarianceWithGarbageInPaddedKeys) {
  torch::manual_seed(7);
  const auto q = positive({1, 2, 6, 4}), k = positive({1, 2, 6, 4});
  const auto v = torch::randn({1, 2, 6, 3}, kF64);
  const auto reference = linear_attention(q, k, v, LinearAttentionFuncOptions().causal(true));
  for (int64_t extra : {1, 5, 20}) {
    const auto pad = [&](const torch::Tensor& x) {
      auto garbage = torch::full({1, 2, extra, x.size(3)}, 1e6, kF64);
      return torch::cat({x, garbage}, 2);
    };
    auto padding = torch::zeros({1, 6 + extra}, torch::kBool);
    padding.narrow(1, 6, extra).fill_(true);
    for (bool causal : {false, true}) {
      const auto out = linear_attention(
          pad(q), pad(k), pad(v),
          LinearAttentionFuncOptions().causal(causal).key_padding_mask(padding).chunk_size(4));
      const auto expected = causal ? reference : linear_attention(q, k, v);
      EXPECT_TENSOR_CLOSE(out.narrow(2, 0, 6), expected) << "extra " << extra;
    }
  }
}

TEST(LinearAttention, AllKeysPaddedGivesZeros) {
  const auto q = positive({1, 1, 3, 2}), k = positive({1, 1, 4, 2});
  const auto v = torch::randn({1, 1, 4, 2}, kF64);
  const auto out = linear_attention(
      q, k, v, LinearAttentionFuncOptions().key_padding_mask(torch::ones({1, 4}, torch::kBool)));
  EXPECT_TENSOR_CLOSE(out, torch::zeros({1, 1, 3, 2}, kF64));
}

TEST(LinearAttention, PackedSegmentsNeverMix) {
  torch::manual_seed(8);
  const auto q = positive({2, 2, 10, 4}), k = positive({2, 2, 10, 4});
  const auto v = torch::randn({2, 2, 10, 3}, kF64);
  const auto segments = torch::tensor({0, 0, 0, 1, 1, 1, 1, 2, 2, 2,  //
                                       0, 0, 0, 0, 0, 3, 3, 1, 1, 1},
                                      torch::kInt64)
                            .view({2, 10});
  const auto same = test::dense_segment_mask(segments, segments).to(torch::kFloat64);
  EXPECT_TENSOR_CLOSE(linear_attention(q, k, v, LinearAttentionFuncOptions().segment_ids(segments)),
                      test::dense_masked_kernel_attention(q, k, v, same));
  EXPECT_TENSOR_CLOSE(
      linear_attention(
          q, k, v, LinearAttentionFuncOptions().segment_ids(segments).causal(true).chunk_size(4)),
      test::dense_masked_kernel_attention(q, k, v, same * tril_mask(10)));
  // The middle segment alone gives the same result as inside the pack.
  const auto alone =
      linear_attention(q.narrow(0, 0, 1).narrow(2, 3, 4), k.narrow(0, 0, 1).narrow(2, 3, 4),
                       v.narrow(0, 0, 1).narrow(2, 3, 4));
  EXPECT_TENSOR_CLOSE(linear_attention(q, k, v, LinearAttentionFuncOptions().segment_ids(segments))
                          .narrow(0, 0, 1)
                          .narrow(2, 3, 4),
                      alone);
}

TEST(LinearAttention, CrossAttentionWithKeySegments) {
  torch::manual_seed(9);
  const auto q = positive({1, 1, 4, 3}), k = positive({1, 1, 6, 3});
  const auto v = torch::randn({1, 1, 6, 2}, kF64);
  const auto qs = torch::tensor({{0, 0, 1, 1}}, torch::kInt64);
  const auto ks = torch::tensor({{1, 0, 1, 0, 0, 1}}, torch::kInt64);
  const auto same = test::dense_segment_mask(qs, ks).to(torch::kFloat64);
  EXPECT_TENSOR_CLOSE(
      linear_attention(q, k, v, LinearAttentionFuncOptions().segment_ids(qs).key_segment_ids(ks)),
      test::dense_masked_kernel_attention(q, k, v, same));
}

TEST(LinearAttention, EmptyInputs) {
  const auto q = positive({1, 2, 0, 3}), k = positive({1, 2, 0, 3});
  const auto v = torch::randn({1, 2, 0, 4}, kF64);
  EXPECT_EQ(linear_attention(q, k, v).sizes(), torch::IntArrayRef({1, 2, 0, 4}));
  EXPECT_EQ(linear_attention(q, k, v, LinearAttentionFuncOptions().causal(true)).sizes(),
            torch::IntArrayRef({1, 2, 0, 4}));
}

TEST(LinearAttention, RejectsBadArguments) {
  const auto q = positive({1, 2, 5, 3}), k = positive({1, 2, 6, 3});
  const auto v = torch::randn({1, 2, 6, 4}, kF64);
  EXPECT_THROW_WITH(
      linear_attention(q, positive({1, 2, 6, 4}), v),
      "linear_attention: `phi_k` has shape [1, 2, 6, 4], expected [B=1, H=2, S, M=3]");
  EXPECT_THROW_WITH(linear_attention(q, k, v.narrow(2, 0, 5)), "`v` has shape [1, 2, 5, 4]");
  EXPECT_THROW_WITH(linear_attention(q, k, v, LinearAttentionFuncOptions().causal(true)),
                    "causal attention needs as many keys as queries, got L=5 queries and S=6");
  EXPECT_THROW_WITH(linear_attention(q, k.to(torch::kFloat32), v),
                    "`phi_k` must have the dtype of `phi_q` (Double), got Float");
  EXPECT_THROW_WITH(
      linear_attention(q, k, v,
                       LinearAttentionFuncOptions().key_padding_mask(torch::zeros({1, 6}))),
      "`key_padding_mask` must be Bool, got Float");
  EXPECT_THROW_WITH(
      linear_attention(q, k, v,
                       LinearAttentionFuncOptions().key_padding_mask(torch::zeros(
                           {1, 6}, torch::TensorOptions(torch::kBool).device(torch::kMeta)))),
      "must be on the device of `phi_q` (cpu), got meta");
  EXPECT_THROW_WITH(
      linear_attention(q, q, q.narrow(3, 0, 2),
                       LinearAttentionFuncOptions().segment_ids(torch::tensor({{0, -1, 0, 0, 0}}))),
      "`segment_ids` must be non-negative ids, got a minimum of -1");
}

TEST(LinearAttentionModule, ShapesGradientsAndErrors) {
  torch::manual_seed(10);
  LinearAttention attention(LinearAttentionOptions(12, 3));
  const auto x = torch::randn({2, 7, 12});
  const auto memory = torch::randn({2, 4, 12});
  const auto out = attention(x, memory, memory);
  EXPECT_EQ(out.sizes(), torch::IntArrayRef({2, 7, 12}));
  out.pow(2).sum().backward();
  for (const auto& p : attention->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0);
  }
  EXPECT_EQ(attention->feature_map->projection.size(0), 3);
  EXPECT_THROW_WITH(LinearAttention(LinearAttentionOptions(10, 3)),
                    "`num_heads` must be a positive divisor of embed_dim=10, got 3");
  EXPECT_THROW_WITH(attention(torch::randn({2, 7, 11}), memory, memory),
                    "LinearAttention: `query` has shape [2, 7, 11], expected [B, L, 12]");
}

TEST(LinearAttentionModule, DeterministicFeatureMapMatchesDense) {
  torch::manual_seed(11);
  LinearAttention attention(LinearAttentionOptions(8, 2).feature_map(
      FeatureMapOptions(1).kind(FeatureMapKind::kEluPlusOne)));
  attention->to(torch::kFloat64);
  const auto x = torch::randn({1, 5, 8}, kF64);
  const auto heads = [](const torch::Tensor& t) { return t.view({1, 5, 2, 4}).transpose(1, 2); };
  const auto q = heads(attention->q_proj(x)), k = heads(attention->k_proj(x));
  const auto v = heads(attention->v_proj(x));
  const auto expected = attention->out_proj(
      test::dense_masked_kernel_attention(torch::elu(q) + 1, torch::elu(k) + 1, v)
          .transpose(1, 2)
          .reshape({1, 5, 8}));
  EXPECT_TENSOR_CLOSE(attention(x, x, x), expected);
}

}  // namespace
}  // namespace topo::attention
