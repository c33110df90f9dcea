// SPDX-License-Identifier: Apache-2.0
// Masked linear attention beyond the all-masks suite (masks/all_masks_test.cpp): the ones mask
// equals unmasked attention, low-rank masks by Kronecker features and logit-additive inputs,
// causality, FAVOR+ convergence to exact masked softmax, argument errors.
#include "attention/masked_linear_attention.h"

#include <torch/torch.h>

#include <functional>

#include "attention/linear_attention.h"
#include "attention/masks/block_toeplitz_mask.h"
#include "attention/masks/causal_mask.h"
#include "attention/masks/low_rank_mask.h"
#include "attention/masks/registry.h"
#include "attention/masks/toeplitz_mask.h"
#include "support/gradcheck.h"
#include "support/reference_attention.h"
#include "support/tensor_assertions.h"

namespace topo::attention {
namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);
constexpr int64_t kHeads = 2;

/// The operator of `mask` over a plain sequence of `length` tokens.
std::shared_ptr<const MaskOperator> sequence_operator(MaskImpl& mask, int64_t batch,
                                                      int64_t length) {
  MaskContext context;
  context.batch_size = batch;
  context.length = length;
  context.options = kF64;
  return mask.build(context);
}

TEST(MaskedLinearAttention, CausalMasksIgnoreTheFuture) {
  for (const auto& [name, settings] : std::vector<std::pair<std::string, MaskSettings>>{
           {"causal", {}}, {"toeplitz", {{"causal", true}, {"max_length", int64_t{16}}}}}) {
    torch::manual_seed(0);
    auto mask = make_mask(name, kHeads, settings);
    mask->to(torch::kFloat64);
    {
      torch::NoGradGuard guard;
      for (auto& p : mask->parameters()) p.add_(torch::rand_like(p));
    }
    const int64_t l = 11, t = l / 2;
    const auto op = sequence_operator(*mask, 1, l);
    ASSERT_TRUE(op->is_causal()) << name;
    const auto q = torch::rand({1, kHeads, l, 4}, kF64) + 0.05;
    auto k = torch::rand({1, kHeads, l, 4}, kF64) + 0.05;
    auto v = torch::randn({1, kHeads, l, 3}, kF64);
    const auto before = masked_linear_attention(q, k, v, *op);
    k.narrow(2, t, l - t).mul_(3);
    v.narrow(2, t, l - t).add_(10);
    const auto after = masked_linear_attention(q, k, v, *op);
    EXPECT_TENSOR_CLOSE(after.narrow(2, 0, t), before.narrow(2, 0, t), {1e-12, 1e-13}) << name;
    EXPECT_FALSE(torch::allclose(after.narrow(2, t, l - t), before.narrow(2, t, l - t))) << name;
  }
}

TEST(LinearAttentionModule, RefusesWhatItCannotDoRight) {
  // Two logit-additive masks would rescale each other's bias; clones would share the masks.
  EXPECT_THROW_WITH(LinearAttention(LinearAttentionOptions(8, 2).masks(
                        {make_mask("flt", 2, {{"dim", int64_t{2}}}),
                         make_mask("flt", 2, {{"dim", int64_t{2}}})})),
                    "at most one logit-additive mask, got 2");
  LinearAttention masked(LinearAttentionOptions(8, 2).masks({make_mask("causal", 2)}));
  EXPECT_THROW_WITH(masked->clone(), "a module with masks cannot be cloned yet");
  LinearAttention plain(LinearAttentionOptions(8, 2));
  EXPECT_NE(plain->clone(), nullptr);
}

TEST(LinearAttentionModule, CausalMaskUsesTheChunkedScanWithTheMasksChunkSize) {
  // The causal mask's own algorithm (the scan) replaces Alg. 1, with its chunk size, and the
  // module picks the causal key stabiliser: same result as the unmasked causal module.
  torch::manual_seed(5);
  LinearAttention masked(
      LinearAttentionOptions(8, 2).masks({make_mask("causal", 2, {{"chunk_size", int64_t{3}}})}));
  LinearAttention plain(LinearAttentionOptions(8, 2).causal(true));
  plain->to(torch::kFloat64);
  masked->to(torch::kFloat64);
  {
    torch::NoGradGuard guard;
    for (const auto& item : plain->named_parameters())
      masked->named_parameters()[item.key()].copy_(item.value());
  }
  const auto x = torch::randn({2, 10, 8}, kF64);
  EXPECT_TENSOR_CLOSE(masked->forward(x, x, x), plain->forward(x, x, x));
}

TEST(MaskedLinearAttention, OnesMaskEqualsUnmaskedLinearAttention) {
  torch::manual_seed(1);
  const auto q = torch::rand({2, 2, 12, 4}, kF64), k = torch::rand({2, 2, 12, 4}, kF64);
  const auto v = torch::randn({2, 2, 12, 3}, kF64);
  const auto unmasked = linear_attention(q, k, v);
  ToeplitzMask toeplitz(ToeplitzMaskOptions(2, 12));  // initialised to M = 1
  toeplitz->to(torch::kFloat64);
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *sequence_operator(*toeplitz, 2, 12)),
                      unmasked);
  BlockToeplitzMask grid(BlockToeplitzMaskOptions(2, {3, 4}));
  grid->to(torch::kFloat64);
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *sequence_operator(*grid, 2, 12)), unmasked);
  CausalMask causal;
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *sequence_operator(*causal, 2, 12)),
                      linear_attention(q, k, v, LinearAttentionFuncOptions().causal(true)));
}

TEST(LowRankMask, KroneckerFeaturesEqualTheMaskedAttention) {
  torch::manual_seed(2);
  const auto q = torch::rand({2, 2, 9, 4}, kF64), k = torch::rand({2, 2, 9, 4}, kF64);
  const auto v = torch::randn({2, 2, 9, 3}, kF64);
  const auto fq = torch::rand({2, 2, 9, 5}, kF64), fk = torch::rand({2, 2, 9, 5}, kF64);
  const LowRankMaskOperator mask(fq, fk);
  const auto kq = row_wise_kronecker(q, fq), kk = row_wise_kronecker(k, fk);
  EXPECT_EQ(kq.size(-1), 20);
  EXPECT_TENSOR_CLOSE(linear_attention(kq, kk, v), masked_linear_attention(q, k, v, mask));
  EXPECT_TENSOR_CLOSE(linear_attention(kq, kk, v, LinearAttentionFuncOptions().causal(true)),
                      test::dense_masked_kernel_attention(
                          q, k, v, mask.dense(kF64) * torch::ones({9, 9}, kF64).tril()));
}

TEST(LowRankMask, LogitAdditiveInputsReproduceBiasedLogits) {
  torch::manual_seed(3);
  const auto q = torch::randn({1, 2, 6, 8}, kF64), k = torch::randn({1, 2, 7, 8}, kF64);
  const auto v = torch::randn({1, 2, 7, 3}, kF64);
  const auto fq = torch::randn({1, 1, 6, 3}, kF64), fk = torch::randn({1, 1, 7, 3}, kF64);
  const auto [qa, ka] = logit_additive_inputs(q, k, fq, fk);
  const auto bias = torch::matmul(fq, fk.transpose(-1, -2));
  EXPECT_TENSOR_CLOSE(torch::matmul(qa, ka.transpose(-1, -2)),
                      torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(8.0) + bias);
  // With the exact exponential kernel the additive form is masked softmax attention.
  const auto weights = torch::matmul(qa, ka.transpose(-1, -2)).exp();
  EXPECT_TENSOR_CLOSE(torch::matmul(weights, v) / weights.sum(-1, true),
                      test::dense_softmax_attention(q, k, v, bias));
}

// FAVOR+ error of masked attention against exact masked softmax, averaged over draws.
double masked_favor_error(int64_t m, bool low_rank) {
  torch::manual_seed(4);
  const int64_t d = 8, l = 24;
  const auto q = torch::randn({1, 1, l, d}, kF64) * 0.4, k = torch::randn({1, 1, l, d}, kF64) * 0.4;
  const auto v = torch::randn({1, 1, l, 2}, kF64);
  ToeplitzMask toeplitz(ToeplitzMaskOptions(1, l));
  toeplitz->to(torch::kFloat64);
  {
    torch::NoGradGuard no_grad;
    toeplitz->bias.copy_(torch::randn_like(toeplitz->bias) * 0.5);
  }
  const auto fq = torch::randn({1, 1, l, 2}, kF64) * 0.3,
             fk = torch::randn({1, 1, l, 2}, kF64) * 0.3;
  const auto bias = low_rank ? torch::matmul(fq, fk.transpose(-1, -2))
                             : sequence_operator(*toeplitz, 1, l)->dense(kF64).log();
  const auto exact = test::dense_softmax_attention(q, k, v, bias);
  double total = 0;
  const int draws = 30;
  for (int draw = 0; draw < draws; ++draw) {
    torch::Tensor out;
    if (low_rank) {
      const auto [qa, ka] = logit_additive_inputs(q, k, fq, fk);
      const auto w =
          random_projection(RandomProjectionOptions(m, d + 2).seed(draw).dtype(torch::kFloat64))
              .unsqueeze(0);
      out = linear_attention(
          feature_map(qa, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kQuery, {}, {}, false),
          feature_map(ka, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kKey, {}, {}, false),
          v);
    } else {
      const auto w =
          random_projection(RandomProjectionOptions(m, d).seed(draw).dtype(torch::kFloat64))
              .unsqueeze(0);
      out = masked_linear_attention(
          feature_map(q, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kQuery),
          feature_map(k, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kKey), v,
          *sequence_operator(*toeplitz, 1, l));
    }
    total += (out - exact).pow(2).mean().item<double>();
  }
  return total / draws;
}

TEST(MaskedLinearAttention, FavorApproachesExactMaskedSoftmax) {
  for (bool low_rank : {false, true}) {
    const double coarse = masked_favor_error(16, low_rank);
    const double fine = masked_favor_error(256, low_rank);
    EXPECT_LT(fine, coarse / 6) << (low_rank ? "low-rank additive" : "toeplitz") << ": " << coarse
                                << " -> " << fine;
    EXPECT_LT(fine, 2e-3);
  }
}

TEST(MaskedLinearAttention, RejectsBadArguments) {
  const auto q = torch::rand({1, 2, 6, 3}, kF64), v = torch::randn({1, 2, 6, 2}, kF64);
  BlockToeplitzMask grid(BlockToeplitzMaskOptions(2, {2, 2}));
  grid->to(torch::kFloat64);
  EXPECT_THROW_WITH(masked_linear_attention(q, q, v, *sequence_operator(*grid, 1, 4)),
                    "BlockToeplitzMask::apply: `x` has shape [1, 2, 6, 9], expected [B, 2, L=4, C] "
                    "(L bound by `grid_shape`)");
  ToeplitzMask toeplitz(ToeplitzMaskOptions(2, 4));
  toeplitz->to(torch::kFloat64);
  EXPECT_THROW_WITH(sequence_operator(*toeplitz, 1, 6),
                    "ToeplitzMask: `length` must be in [1, max_length=4], got 6");
  ToeplitzMask three_heads(ToeplitzMaskOptions(3, 8));
  EXPECT_THROW_WITH(sequence_operator(*three_heads, 1, 4)->apply(torch::zeros({1, 2, 4, 1})),
                    "expected [B, 3, 4, C]");
  EXPECT_THROW_WITH(BlockToeplitzMask(BlockToeplitzMaskOptions(2, {2, 2, 2, 2})),
                    "`grid_shape` must be 1 to 3 sizes, got [2, 2, 2, 2]");
  EXPECT_THROW_WITH(BlockToeplitzMask(BlockToeplitzMaskOptions(2, {3, 0})),
                    "`grid_shape` must be positive sizes, got [3, 0]");
  EXPECT_THROW_WITH(
      masked_linear_attention(q, q.to(torch::kFloat32), v, *sequence_operator(*toeplitz, 1, 4)),
      "`phi_k` must have the dtype of `phi_q`");
  EXPECT_THROW_WITH(sequence_operator(*grid, 1, 5),
                    "`context.length` must be 4 (the grid's tokens), got 5");
  EXPECT_THROW_WITH(LowRankMaskOperator(torch::rand({1, 1, 4, 2}), torch::rand({1, 1, 4, 3})),
                    "`key_factors` has shape [1, 1, 4, 3], expected [*, *, S, R=2]");
}

}  // namespace
}  // namespace topo::attention
