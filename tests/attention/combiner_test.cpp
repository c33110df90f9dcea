// SPDX-License-Identifier: Apache-2.0
// Combiner attention against the dense distribution it factorises (float64), causality,
// padding invariance, full support, gradients, errors.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>

#include "attention/combiner_attention.h"
#include "support/gradcheck.h"
#include "support/reference_combiner.h"
#include "support/tensor_assertions.h"

namespace topo::attention {
namespace {

struct Case {
  CombinerVariant variant;
  bool causal;
};

std::string name(const ::testing::TestParamInfo<Case>& info) {
  static const char* names[] = {"Fixed", "Logsparse", "AxialVertical", "AxialHorizontal",
                                "AxialMixture"};
  return std::string(names[static_cast<int>(info.param.variant)]) +
         (info.param.causal ? "Causal" : "Bidirectional");
}

class CombinerVariants : public ::testing::TestWithParam<Case> {
 protected:
  CombinerFuncOptions options() const {
    return CombinerFuncOptions().variant(GetParam().variant).causal(GetParam().causal);
  }
};

/// Allowed keys [B, 1, T, T]: real keys, and j ≤ i when causal.
torch::Tensor allowed_keys(const torch::Tensor& pad, int64_t t, bool causal) {
  auto allowed = (~pad).view({pad.size(0), 1, 1, t}).expand({pad.size(0), 1, t, t});
  if (causal) allowed = allowed & torch::ones({t, t}, torch::kBool).tril();
  return allowed;
}

TEST_P(CombinerVariants, MatchesTheDenseDistributionItFactorises) {
  torch::manual_seed(0);
  const int64_t t = 11;  // neither a square nor a power of two: internal padding everywhere
  const auto q = torch::randn({2, 2, t, 4}, torch::kDouble);
  const auto k = torch::randn({2, 2, t, 4}, torch::kDouble);
  const auto v = torch::randn({2, 2, t, 3}, torch::kDouble);
  auto pad = torch::zeros({2, t}, torch::kBool);
  pad[1].slice(0, 8).fill_(true);
  const auto opts = options().key_padding_mask(pad);
  const auto expected_p = topo::test::combiner_attention_matrix(q, k, opts);
  const auto real = (~pad).view({2, 1, t, 1});
  const auto out = combiner_attention(q, k, v, opts);
  EXPECT_TENSOR_CLOSE(out * real, torch::matmul(expected_p, v) * real, {1e-10, 1e-12});

  // The implied distribution itself (values = one-hot): rows sum to one and every allowed
  // key gets positive weight, every other key none.
  const auto eye = torch::eye(t, torch::kDouble).expand({2, 2, t, t});
  const auto p = combiner_attention(q, k, eye, opts) * real;
  EXPECT_TENSOR_CLOSE(p, expected_p, {1e-10, 1e-12});
  const auto allowed = allowed_keys(pad, t, GetParam().causal) & real.to(torch::kBool);
  EXPECT_TRUE((p.gt(0) == allowed).all().item<bool>());
  EXPECT_TENSOR_CLOSE(p.sum(-1).masked_select(real.squeeze(-1).expand({2, 2, t})),
                      torch::ones({2 * 2 * t - 2 * 3}, torch::kDouble));
}

TEST_P(CombinerVariants, PaddingDoesNotChangeRealOutputs) {
  torch::manual_seed(1);
  const auto q = torch::randn({1, 2, 16, 4}), k = torch::randn({1, 2, 16, 4});
  const auto v = torch::randn({1, 2, 16, 4});
  auto pad = torch::zeros({1, 16}, torch::kBool);
  pad[0].slice(0, 11).fill_(true);
  const auto padded = combiner_attention(q, k, v, options().key_padding_mask(pad)).slice(2, 0, 11);
  const auto alone =
      combiner_attention(q.slice(2, 0, 11), k.slice(2, 0, 11), v.slice(2, 0, 11), options());
  EXPECT_TENSOR_CLOSE(padded, alone, {1e-5, 1e-6});
}

TEST_P(CombinerVariants, GradientsMatchFiniteDifferences) {
  torch::manual_seed(2);
  const auto make = [](int64_t d) {
    return torch::randn({1, 2, 7, d}, torch::kDouble).requires_grad_();
  };
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& x) {
        return combiner_attention(x[0], x[1], x[2], options());
      },
      {make(3), make(3), make(2)});
}

INSTANTIATE_TEST_SUITE_P(All, CombinerVariants,
                         ::testing::Values(Case{CombinerVariant::kFixed, false},
                                           Case{CombinerVariant::kFixed, true},
                                           Case{CombinerVariant::kLogsparse, false},
                                           Case{CombinerVariant::kLogsparse, true},
                                           Case{CombinerVariant::kAxialVertical, false},
                                           Case{CombinerVariant::kAxialVertical, true},
                                           Case{CombinerVariant::kAxialHorizontal, false},
                                           Case{CombinerVariant::kAxialHorizontal, true},
                                           Case{CombinerVariant::kAxialMixture, false},
                                           Case{CombinerVariant::kAxialMixture, true}),
                         name);

TEST(Combiner, CausalOutputsIgnoreTheFuture) {
  torch::manual_seed(3);
  for (const auto variant :
       {CombinerVariant::kFixed, CombinerVariant::kLogsparse, CombinerVariant::kAxialMixture}) {
    const auto opts = CombinerFuncOptions().variant(variant).causal(true);
    auto q = torch::randn({1, 1, 20, 4}), k = torch::randn({1, 1, 20, 4}),
         v = torch::randn({1, 1, 20, 4});
    const auto before = combiner_attention(q, k, v, opts);
    q.slice(2, 12).normal_();
    k.slice(2, 12).normal_();
    v.slice(2, 12).normal_();
    const auto after = combiner_attention(q, k, v, opts);
    EXPECT_TENSOR_CLOSE(after.slice(2, 0, 12), before.slice(2, 0, 12));
  }
}

TEST(Combiner, TwoDimensionalGridsAndExplicitBlocks) {
  torch::manual_seed(4);
  const auto q = torch::randn({1, 2, 15, 4}, torch::kDouble),
             k = torch::randn({1, 2, 15, 4}, torch::kDouble);
  const auto v = torch::randn({1, 2, 15, 3}, torch::kDouble);
  for (const auto variant : {CombinerVariant::kAxialVertical, CombinerVariant::kAxialMixture}) {
    const auto opts = CombinerFuncOptions().variant(variant).grid_shape({3, 5});  // a 3×5 image
    EXPECT_TENSOR_CLOSE(combiner_attention(q, k, v, opts),
                        torch::matmul(topo::test::combiner_attention_matrix(q, k, opts), v),
                        {1e-10, 1e-12});
  }
  const auto opts = CombinerFuncOptions().block_size(6).causal(true);
  EXPECT_TENSOR_CLOSE(combiner_attention(q, k, v, opts),
                      torch::matmul(topo::test::combiner_attention_matrix(q, k, opts), v),
                      {1e-10, 1e-12});
}

TEST(Combiner, ModuleRunsForwardAndBackward) {
  torch::manual_seed(5);
  CombinerAttention attention(
      CombinerAttentionOptions(16, 4).variant(CombinerVariant::kLogsparse).causal(true));
  const auto x = torch::randn({2, 9, 16});
  const auto out = attention(x, torch::zeros({2, 9}, torch::kBool));
  EXPECT_EQ(out.sizes(), x.sizes());
  out.sum().backward();
  EXPECT_TRUE(attention->qkv_proj->weight.grad().defined());
}

TEST(Combiner, BadInputGivesClearErrors) {
  const auto q = torch::randn({1, 2, 10, 4});
  EXPECT_THROW_WITH(combiner_attention(q, torch::randn({1, 2, 9, 4}), q),
                    "`k` has shape [1, 2, 9, 4]");
  EXPECT_THROW_WITH(
      combiner_attention(
          q, q, q,
          CombinerFuncOptions().variant(CombinerVariant::kAxialVertical).grid_shape({2, 4})),
      "rows·cols >= T = 10");
  EXPECT_THROW_WITH(
      combiner_attention(q, q, q, CombinerFuncOptions().key_padding_mask(torch::zeros({1, 10}))),
      "`key_padding_mask` must be Bool");
  EXPECT_THROW_WITH(CombinerAttention(CombinerAttentionOptions(10, 4)), "a multiple of num_heads");
}

}  // namespace
}  // namespace topo::attention
