// SPDX-License-Identifier: Apache-2.0
// Stochastic Positional Encoding: E[q̂·k̂] matches the target RPE within Monte Carlo error,
// the error falls with the number of draws, and gradients reach the SPE parameters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "attention/feature_map.h"
#include "attention/linear_attention.h"
#include "attention/stochastic_positional_encoding.h"
#include "support/tensor_assertions.h"

namespace topo::attention {
namespace {

/// Mean and standard error of q̂_m·k̂_n over `draws` forward passes, against the target
/// √(R/D)·Σ_d q_d k_d P̃_d(m − n). Returns the largest |mean − target| / standard error.
template <typename Module>
double worst_z_score(Module& spe, int64_t heads, int64_t dim, int64_t r, int64_t length,
                     int64_t draws, double* relative_error = nullptr) {
  const auto q = torch::randn({1, heads, length, dim}, torch::kDouble);
  const auto k = torch::randn({1, heads, length, dim}, torch::kDouble);
  auto sum = torch::zeros({heads, length, length}, torch::kDouble);
  auto sum_sq = torch::zeros_like(sum);
  torch::NoGradGuard guard;
  for (int64_t t = 0; t < draws; ++t) {
    const auto [qh, kh] = spe(q, k);
    const auto dots = torch::matmul(qh, kh.transpose(-1, -2))[0];
    sum += dots;
    sum_sq += dots * dots;
  }
  const auto mean = sum / draws;
  const auto stderr_ = ((sum_sq / draws - mean * mean).clamp_min(1e-30) / draws).sqrt();
  const auto p = spe->positional_attention(length);  // [H, D, L, L]
  const auto target =
      std::sqrt(static_cast<double>(r) / dim) * torch::einsum("hmd,hnd,hdmn->hmn", {q[0], k[0], p});
  if (relative_error != nullptr) {
    *relative_error =
        ((mean - target).pow(2).mean() / target.pow(2).mean()).sqrt().template item<double>();
  }
  return ((mean - target).abs() / stderr_).max().template item<double>();
}

TEST(SineSPE, ExpectationMatchesTargetRpeWithinMonteCarloError) {
  torch::manual_seed(0);
  for (const bool gated : {false, true}) {
    SineSPE spe(SineSPEOptions(2, 4).num_realizations(16).num_sines(3).gated(gated));
    spe->to(torch::kDouble);
    double coarse = 0, fine = 0;
    // 12 × 12 × 2 z-scores: the largest of ~300 standard normals stays below ~4.5.
    EXPECT_LT(worst_z_score(spe, 2, 4, 16, 12, 400, &coarse), 5.0);
    worst_z_score(spe, 2, 4, 16, 12, 6400, &fine);
    EXPECT_LT(fine, coarse / 2.0) << "error must fall ~4x with 16x more draws";
  }
}

TEST(ConvSPE, ExpectationMatchesTargetRpeWithinMonteCarloError) {
  torch::manual_seed(1);
  for (const bool gated : {false, true}) {
    ConvSPE spe(ConvSPEOptions(2, 3).num_realizations(16).kernel_size(5).gated(gated));
    spe->to(torch::kDouble);
    double coarse = 0, fine = 0;
    EXPECT_LT(worst_z_score(spe, 2, 3, 16, 10, 400, &coarse), 5.0);
    worst_z_score(spe, 2, 3, 16, 10, 6400, &fine);
    EXPECT_LT(fine, coarse / 2.0);
  }
  // The RPE has support |m − n| < kernel_size (without the gate's constant).
  ConvSPE ungated(ConvSPEOptions(1, 1).kernel_size(3).gated(false));
  const auto p = ungated->positional_attention(8)[0][0];
  EXPECT_EQ(p[0][3].item<double>(), 0.0);
  EXPECT_NE(p[0][2].item<double>(), 0.0);
}

TEST(SineSPE, FeedsLinearAttentionAndTrains) {
  torch::manual_seed(2);
  SineSPE spe(SineSPEOptions(2, 8).num_realizations(32));
  FeatureMap phi(
      FeatureMapOptions(32).num_heads(2).num_features(16).kind(FeatureMapKind::kSoftmaxPositive));
  const auto q = torch::randn({3, 2, 10, 8}), k = torch::randn({3, 2, 10, 8});
  const auto v = torch::randn({3, 2, 10, 4});
  const auto [qh, kh] = spe(q, k);
  EXPECT_EQ(qh.sizes(), (std::vector<int64_t>{3, 2, 10, 32}));
  const auto out = linear_attention(phi(qh, FeatureRole::kQuery), phi(kh, FeatureRole::kCausalKey),
                                    v, LinearAttentionFuncOptions().causal(true));
  out.sum().backward();
  for (const auto& p : spe->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_GT(p.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(SPE, BadInputGivesClearErrors) {
  SineSPE spe(SineSPEOptions(2, 8));
  EXPECT_THROW_WITH(spe(torch::randn({1, 3, 5, 8}), torch::randn({1, 3, 5, 8})), "H=2");
  EXPECT_THROW_WITH(SineSPE(SineSPEOptions(2, 8).num_sines(0)), "`num_sines` must be >= 1");
  EXPECT_THROW_WITH(ConvSPE(ConvSPEOptions(2, 8).kernel_size(0)), "`kernel_size` must be >= 1");
}

}  // namespace
}  // namespace topo::attention
