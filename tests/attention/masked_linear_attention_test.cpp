// SPDX-License-Identifier: Apache-2.0
// Every mask against its dense matrix, masked linear attention against the dense masked
// kernel attention, gradients by finite differences, and the two mask semantics.
#include "attention/masked_linear_attention.h"

#include <torch/torch.h>

#include <functional>

#include "attention/linear_attention.h"
#include "attention/masks/block_toeplitz_mask.h"
#include "attention/masks/causal_mask.h"
#include "attention/masks/dense_mask.h"
#include "attention/masks/low_rank_mask.h"
#include "attention/masks/toeplitz_mask.h"
#include "support/gradcheck.h"
#include "support/reference_attention.h"
#include "support/tensor_assertions.h"

namespace topo::attention {
namespace {

const auto kF64 = torch::TensorOptions().dtype(torch::kFloat64);
constexpr int64_t kHeads = 2;

struct MaskCase {
  std::string name;
  int64_t length;
  std::function<std::shared_ptr<Mask>()> make;     // float64 mask with random parameters
  std::function<torch::Tensor*(Mask&)> parameter;  // the tensor gradients must reach, or null
};

std::ostream& operator<<(std::ostream& out, const MaskCase& c) { return out << c.name; }

template <typename T>
T& as(Mask& mask) { return dynamic_cast<T&>(mask); }

std::vector<MaskCase> mask_cases() {
  std::vector<MaskCase> cases;
  cases.push_back({"dense", 9,
                   [] { return DenseMask(DenseMaskOptions(torch::rand({1, kHeads, 9, 9}, kF64) + 0.1)
                                             .learnable(true)).ptr(); },
                   [](Mask& m) { return &as<DenseMaskImpl>(m).matrix; }});
  cases.push_back({"causal", 11, [] { return CausalMask().ptr(); }, nullptr});
  for (bool causal : {false, true}) {
    for (auto semantics : {MaskSemantics::kLogitAdditive, MaskSemantics::kMultiplicative}) {
      const bool additive = semantics == MaskSemantics::kLogitAdditive;
      cases.push_back({std::string("toeplitz") + (causal ? "_causal" : "") +
                           (additive ? "_additive" : "_multiplicative"),
                       13,
                       [causal, semantics, additive] {
                         ToeplitzMask mask(ToeplitzMaskOptions(kHeads, 20).causal(causal)
                                               .semantics(semantics));
                         mask->to(torch::kFloat64);
                         torch::NoGradGuard no_grad;
                         mask->bias.copy_(additive ? torch::randn_like(mask->bias) * 0.7
                                                   : torch::rand_like(mask->bias) + 0.1);
                         return mask.ptr();
                       },
                       [](Mask& m) { return &as<ToeplitzMaskImpl>(m).bias; }});
    }
  }
  const std::vector<std::pair<std::vector<int64_t>, bool>> grids = {
      {{7}, false}, {{3, 5}, false}, {{3, 5}, true}, {{2, 3, 4}, false}, {{4, 1}, true}};
  for (const auto& [shape, cls] : grids) {
    for (auto semantics : {MaskSemantics::kMultiplicative, MaskSemantics::kLogitAdditive}) {
      std::string name = "block_toeplitz";
      for (int64_t n : shape) name += "_" + std::to_string(n);
      name += cls ? "_cls" : "";
      name += semantics == MaskSemantics::kLogitAdditive ? "_additive" : "";
      int64_t length = cls ? 1 : 0;
      int64_t cells = 1;
      for (int64_t n : shape) cells *= n;
      cases.push_back({name, length + cells,
                       [shape = shape, cls = cls, semantics] {
                         BlockToeplitzMask mask(BlockToeplitzMaskOptions(kHeads, shape)
                                                    .cls_token(cls).semantics(semantics));
                         mask->to(torch::kFloat64);
                         torch::NoGradGuard no_grad;
                         mask->table.copy_(torch::rand_like(mask->table) + 0.1);
                         return mask.ptr();
                       },
                       [](Mask& m) { return &as<BlockToeplitzMaskImpl>(m).table; }});
    }
  }
  cases.push_back({"low_rank", 10,
                   [] { return LowRankMask(torch::rand({1, kHeads, 10, 3}, kF64),
                                           torch::rand({2, 1, 10, 3}, kF64)).ptr(); },
                   [](Mask& m) { return &as<LowRankMaskImpl>(m).query_factors; }});
  return cases;
}

class MaskTest : public ::testing::TestWithParam<MaskCase> {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

TEST_P(MaskTest, ApplyMatchesDenseProduct) {
  const auto& c = GetParam();
  auto mask = c.make();
  const auto x = torch::randn({2, kHeads, c.length, 5}, kF64);
  const auto dense = mask->dense(c.length, kF64);
  EXPECT_TENSOR_CLOSE(mask->apply(x), torch::matmul(dense, x));
}

TEST_P(MaskTest, MaskedAttentionMatchesDenseReference) {
  const auto& c = GetParam();
  auto mask = c.make();
  const int64_t l = c.length;
  const auto q = torch::rand({2, kHeads, l, 4}, kF64) + 0.05;
  const auto k = torch::rand({2, kHeads, l, 4}, kF64) + 0.05;
  const auto v = torch::randn({2, kHeads, l, 3}, kF64);
  const auto expected = test::dense_masked_kernel_attention(q, k, v, mask->dense(l, kF64));
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *mask), expected);
  // Blocks of one feature channel give the same result.
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *mask, {}, 1), expected);
  // float32 within 1e-4.
  torch::manual_seed(0);  // same draws as `mask` (made right after SetUp's seed)
  auto mask32 = c.make();
  dynamic_cast<torch::nn::Module&>(*mask32).to(torch::kFloat32);
  if (auto* low_rank = dynamic_cast<LowRankMaskImpl*>(mask32.get())) {
    low_rank->set_factors(low_rank->query_factors.to(torch::kFloat32),
                          low_rank->key_factors.to(torch::kFloat32));
  }
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q.to(torch::kFloat32), k.to(torch::kFloat32),
                                              v.to(torch::kFloat32), *mask32),
                      expected.to(torch::kFloat32));
}

TEST_P(MaskTest, KeyPaddingMatchesDenseReference) {
  const auto& c = GetParam();
  auto mask = c.make();
  const int64_t l = c.length;
  const auto q = torch::rand({2, kHeads, l, 4}, kF64) + 0.05;
  const auto k = torch::rand({2, kHeads, l, 4}, kF64) + 0.05;
  auto v = torch::randn({2, kHeads, l, 3}, kF64);
  auto padding = torch::zeros({2, l}, torch::kBool);
  padding[1].narrow(0, l - 3, 3).fill_(true);
  v.select(0, 1).narrow(1, l - 3, 3).fill_(1e8);  // garbage must not leak
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *mask, padding),
                      test::dense_masked_kernel_attention(q, k, v, mask->dense(l, kF64), padding));
}

TEST_P(MaskTest, GradientsMatchFiniteDifferences) {
  const auto& c = GetParam();
  auto mask = c.make();
  const int64_t l = c.length;
  const auto q = (torch::rand({1, kHeads, l, 2}, kF64) + 0.05).requires_grad_();
  const auto k = (torch::rand({1, kHeads, l, 2}, kF64) + 0.05).requires_grad_();
  const auto v = torch::randn({1, kHeads, l, 2}, kF64).requires_grad_();
  std::vector<torch::Tensor> inputs{q, k, v};
  torch::Tensor* parameter = c.parameter ? c.parameter(*mask) : nullptr;
  if (parameter) inputs.push_back(parameter->detach().clone().requires_grad_());
  EXPECT_GRADCHECK([&](const std::vector<torch::Tensor>& in) {
    if (parameter) *parameter = in[3];  // route the mask's tensor through the checker's leaf
    return masked_linear_attention(in[0], in[1], in[2], *mask);
  }, inputs);
}

TEST(MaskedLinearAttention, CausalMasksIgnoreTheFuture) {
  int checked = 0;
  for (const auto& c : mask_cases()) {
    torch::manual_seed(0);
    auto mask = c.make();
    if (!mask->is_causal()) continue;
    ++checked;
    const int64_t l = c.length, t = l / 2;
    const auto q = torch::rand({1, kHeads, l, 4}, kF64) + 0.05;
    auto k = torch::rand({1, kHeads, l, 4}, kF64) + 0.05;
    auto v = torch::randn({1, kHeads, l, 3}, kF64);
    const auto before = masked_linear_attention(q, k, v, *mask);
    k.narrow(2, t, l - t).mul_(3);
    v.narrow(2, t, l - t).add_(10);
    const auto after = masked_linear_attention(q, k, v, *mask);
    EXPECT_TENSOR_CLOSE(after.narrow(2, 0, t), before.narrow(2, 0, t), {1e-12, 1e-13}) << c.name;
    EXPECT_FALSE(torch::allclose(after.narrow(2, t, l - t), before.narrow(2, t, l - t))) << c.name;
  }
  EXPECT_EQ(checked, 3);  // CausalMask and the two causal Toeplitz variants
}

INSTANTIATE_TEST_SUITE_P(AllMasks, MaskTest, ::testing::ValuesIn(mask_cases()),
                         [](const ::testing::TestParamInfo<MaskCase>& info) { return info.param.name; });

TEST(MaskedLinearAttention, OnesMaskEqualsUnmaskedLinearAttention) {
  torch::manual_seed(1);
  const auto q = torch::rand({2, 2, 12, 4}, kF64), k = torch::rand({2, 2, 12, 4}, kF64);
  const auto v = torch::randn({2, 2, 12, 3}, kF64);
  const auto unmasked = linear_attention(q, k, v);
  ToeplitzMask toeplitz(ToeplitzMaskOptions(2, 12));  // initialised to M = 1
  toeplitz->to(torch::kFloat64);
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *toeplitz), unmasked);
  BlockToeplitzMask grid(BlockToeplitzMaskOptions(2, {3, 4}));
  grid->to(torch::kFloat64);
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *grid), unmasked);
  CausalMask causal;
  EXPECT_TENSOR_CLOSE(masked_linear_attention(q, k, v, *causal),
                      linear_attention(q, k, v, LinearAttentionFuncOptions().causal(true)));
}

TEST(LowRankMask, KroneckerFeaturesEqualTheMaskedAttention) {
  torch::manual_seed(2);
  const auto q = torch::rand({2, 2, 9, 4}, kF64), k = torch::rand({2, 2, 9, 4}, kF64);
  const auto v = torch::randn({2, 2, 9, 3}, kF64);
  const auto fq = torch::rand({2, 2, 9, 5}, kF64), fk = torch::rand({2, 2, 9, 5}, kF64);
  LowRankMask mask(fq, fk);
  const auto kq = row_wise_kronecker(q, fq), kk = row_wise_kronecker(k, fk);
  EXPECT_EQ(kq.size(-1), 20);
  EXPECT_TENSOR_CLOSE(linear_attention(kq, kk, v), masked_linear_attention(q, k, v, *mask));
  EXPECT_TENSOR_CLOSE(linear_attention(kq, kk, v, LinearAttentionFuncOptions().causal(true)),
                      test::dense_masked_kernel_attention(
                          q, k, v, mask->dense(9, kF64) * torch::ones({9, 9}, kF64).tril()));
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
  const auto fq = torch::randn({1, 1, l, 2}, kF64) * 0.3, fk = torch::randn({1, 1, l, 2}, kF64) * 0.3;
  const auto bias = low_rank ? torch::matmul(fq, fk.transpose(-1, -2))
                             : toeplitz->dense(l, kF64).log();
  const auto exact = test::dense_softmax_attention(q, k, v, bias);
  double total = 0;
  const int draws = 30;
  for (int draw = 0; draw < draws; ++draw) {
    torch::Tensor out;
    if (low_rank) {
      const auto [qa, ka] = logit_additive_inputs(q, k, fq, fk);
      const auto w = random_projection(RandomProjectionOptions(m, d + 2).seed(draw)
                                           .dtype(torch::kFloat64)).unsqueeze(0);
      out = linear_attention(
          feature_map(qa, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kQuery, {}, {}, false),
          feature_map(ka, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kKey, {}, {}, false), v);
    } else {
      const auto w = random_projection(RandomProjectionOptions(m, d).seed(draw)
                                           .dtype(torch::kFloat64)).unsqueeze(0);
      out = masked_linear_attention(
          feature_map(q, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kQuery),
          feature_map(k, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kKey), v, *toeplitz);
    }
    total += (out - exact).pow(2).mean().item<double>();
  }
  return total / draws;
}

TEST(MaskedLinearAttention, FavorApproachesExactMaskedSoftmax) {
  for (bool low_rank : {false, true}) {
    const double coarse = masked_favor_error(16, low_rank);
    const double fine = masked_favor_error(256, low_rank);
    EXPECT_LT(fine, coarse / 6) << (low_rank ? "low-rank additive" : "toeplitz") << ": "
                                << coarse << " -> " << fine;
    EXPECT_LT(fine, 2e-3);
  }
}

TEST(MaskedLinearAttention, RejectsBadArguments) {
  const auto q = torch::rand({1, 2, 6, 3}, kF64), v = torch::randn({1, 2, 6, 2}, kF64);
  BlockToeplitzMask grid(BlockToeplitzMaskOptions(2, {2, 2}));
  grid->to(torch::kFloat64);
  EXPECT_THROW_WITH(masked_linear_attention(q, q, v, *grid),
                    "BlockToeplitzMask::apply: `x` has shape [1, 2, 6, 9], expected [B, 2, L=4, C] "
                    "(L bound by `grid_shape`)");
  ToeplitzMask toeplitz(ToeplitzMaskOptions(2, 4));
  toeplitz->to(torch::kFloat64);
  EXPECT_THROW_WITH(masked_linear_attention(q, q, v, *toeplitz),
                    "ToeplitzMask: `length` must be in [1, max_length=4], got 6");
  ToeplitzMask three_heads(ToeplitzMaskOptions(3, 8));
  EXPECT_THROW_WITH(three_heads->apply(torch::zeros({1, 2, 4, 1})), "expected [B, 3, L, C]");
  EXPECT_THROW_WITH(BlockToeplitzMask(BlockToeplitzMaskOptions(2, {2, 2, 2, 2})),
                    "`grid_shape` must be 1 to 3 sizes, got [2, 2, 2, 2]");
  EXPECT_THROW_WITH(BlockToeplitzMask(BlockToeplitzMaskOptions(2, {3, 0})),
                    "`grid_shape` must be positive sizes, got [3, 0]");
  EXPECT_THROW_WITH(masked_linear_attention(q, q.to(torch::kFloat32), v, *toeplitz),
                    "`phi_k` must have the dtype of `phi_q`");
  EXPECT_THROW_WITH(grid->dense(5, kF64), "`length` must be 4 (the grid's tokens), got 5");
  EXPECT_THROW_WITH(LowRankMask(torch::rand({1, 1, 4, 2}), torch::rand({1, 1, 4, 3})),
                    "`key_factors` has shape [1, 1, 4, 3], expected [*, *, S, R=2]");
}

}  // namespace
}  // namespace topo::attention
