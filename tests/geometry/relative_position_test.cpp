// SPDX-License-Identifier: Apache-2.0
// FLT spectral RPE (random features against closed forms, error falling with the number of
// features; FLT-masked attention against its dense reference) and local exact RPE.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "attention/feature_map.h"
#include "attention/masked_linear_attention.h"
#include "attention/masks/low_rank_mask.h"
#include "attention/masks/sparse_mask.h"
#include "geometry/local_rpe.h"
#include "geometry/spectral_rpe.h"
#include "support/gradcheck.h"
#include "support/reference_attention.h"
#include "support/tensor_assertions.h"

namespace topo::geometry {
namespace {

/// RMS error of the random-feature mask against the closed form over random position pairs.
double rpe_error(SpectralRPEOptions options, int64_t features, uint64_t seed) {
  torch::manual_seed(seed);
  options.num_features(features);
  SpectralRPE rpe(options);
  rpe->to(torch::kDouble);
  torch::manual_seed(100);  // the same positions for every call
  const auto pos = torch::rand({1, 64, options.dim()}, torch::kDouble) * 2.0;
  const auto [fq, fk] = rpe(pos);
  const auto estimate = torch::matmul(fq, fk.transpose(-1, -2));  // [1, H, L, L]
  const auto exact = rpe->exact_mask(pos, pos);
  return (estimate - exact).pow(2).mean().sqrt().item<double>() /
         exact.pow(2).mean().sqrt().item<double>();
}

struct FamilyCase {
  const char* name;
  SpectralRPEOptions options;
};

class SpectralFamilies : public ::testing::TestWithParam<FamilyCase> {};

TEST_P(SpectralFamilies, RandomFeaturesConvergeToTheClosedForm) {
  // Monte Carlo error ∝ R^(-1/2): 256× more features should cut it by ~16×; we require 5×,
  // averaged over 4 seeds, and a small absolute error at R = 16384.
  double coarse = 0, fine = 0;
  for (uint64_t seed = 0; seed < 4; ++seed) {
    coarse += rpe_error(GetParam().options, 64, seed) / 4;
    fine += rpe_error(GetParam().options, 16384, seed) / 4;
  }
  EXPECT_LT(fine, coarse / 5.0) << GetParam().name << ": " << coarse << " -> " << fine;
  EXPECT_LT(fine, 0.1) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    All, SpectralFamilies,
    ::testing::Values(
        FamilyCase{
            "mixture_2d",
            SpectralRPEOptions(2, 2).family(SpectralFamily::kGaussianMixture).length_scale(0.7)},
        FamilyCase{
            "mixture_3d",
            SpectralRPEOptions(3, 1).family(SpectralFamily::kGaussianMixture).num_components(3)},
        FamilyCase{"gaussian_3d", SpectralRPEOptions(3, 2).family(SpectralFamily::kGaussian)},
        FamilyCase{"laplace_2d",
                   SpectralRPEOptions(2, 1).family(SpectralFamily::kMatern).matern_nu(0.5)},
        FamilyCase{"matern32_3d",
                   SpectralRPEOptions(3, 1).family(SpectralFamily::kMatern).matern_nu(1.5)},
        FamilyCase{"matern52_1d",
                   SpectralRPEOptions(1, 1).family(SpectralFamily::kMatern).matern_nu(2.5)},
        FamilyCase{"cauchy_2d", SpectralRPEOptions(2, 1).family(SpectralFamily::kCauchy)},
        FamilyCase{"local_box_2d", SpectralRPEOptions(2, 1)
                                       .family(SpectralFamily::kLocalBox)
                                       .length_scale(0.8)
                                       .edge_width(0.3)}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(SpectralRPE, ClosedFormsAtKnownPoints) {
  SpectralRPE gaussian(
      SpectralRPEOptions(2, 1).family(SpectralFamily::kGaussian).length_scale(2.0));
  const auto delta = torch::tensor({{0.0, 0.0}, {2.0, 0.0}});
  EXPECT_TENSOR_CLOSE(gaussian->exact(delta),
                      torch::tensor({{1.0, std::exp(-0.5)}}).to(torch::kFloat));
  SpectralRPE laplace(SpectralRPEOptions(2, 1).family(SpectralFamily::kMatern).matern_nu(0.5));
  EXPECT_TENSOR_CLOSE(laplace->exact(torch::tensor({{3.0, 4.0}})),
                      torch::tensor({{std::exp(-5.0)}}).to(torch::kFloat));
  // A mixture starts at f(0) = amplitude.
  SpectralRPE mixture(SpectralRPEOptions(3, 2).amplitude(2.5));
  EXPECT_TENSOR_CLOSE(mixture->exact(torch::zeros({1, 3})), torch::full({2, 1}, 2.5));
}

TEST(SpectralRPE, FrequenciesAreStateAndRedrawOnlyWhenAskedInTraining) {
  torch::manual_seed(0);
  SpectralRPE fixed(SpectralRPEOptions(2, 2).num_features(16));
  const auto before = fixed->frequencies.clone();
  fixed(torch::randn({1, 5, 2}));
  EXPECT_TRUE(fixed->frequencies.equal(before));
  SpectralRPE redrawn(SpectralRPEOptions(2, 2).num_features(16).redraw(true));
  const auto first = redrawn->frequencies.clone();
  redrawn(torch::randn({1, 5, 2}));
  EXPECT_FALSE(redrawn->frequencies.equal(first));
  redrawn->eval();
  const auto eval_before = redrawn->frequencies.clone();
  redrawn(torch::randn({1, 5, 2}));
  EXPECT_TRUE(redrawn->frequencies.equal(eval_before));
  EXPECT_EQ(redrawn->named_buffers().size(), 1u);  // saved and reloaded with the module
}

TEST(SpectralRPE, GradientsInPositionsAndSpectralParameters) {
  torch::manual_seed(4);
  for (const auto family :
       {SpectralFamily::kGaussianMixture, SpectralFamily::kMatern, SpectralFamily::kLocalBox}) {
    SpectralRPE rpe(SpectralRPEOptions(3, 2).num_features(8).family(family));
    rpe->to(torch::kDouble);
    const auto pos = torch::randn({1, 4, 3}, torch::kDouble);
    const auto weights = torch::randn({1, 2, 4, 4}, torch::kDouble);
    const auto masked_sum = [&](const torch::Tensor& p) {
      const auto [fq, fk] = rpe(p);
      return (torch::matmul(fq, fk.transpose(-1, -2)) * weights).sum();
    };
    EXPECT_GRADCHECK([&](const std::vector<torch::Tensor>& x) { return masked_sum(x[0]); },
                     {pos.clone().requires_grad_()});
    EXPECT_PARAMETER_GRADCHECK(rpe->parameters(), [&] { return masked_sum(pos); });
  }
}

TEST(SpectralRPE, MaskedAttentionMatchesDenseReferenceFromTheSameFeatures) {
  torch::manual_seed(5);
  const auto opts = torch::kDouble;
  SpectralRPE rpe(SpectralRPEOptions(3, 2).num_features(16));
  rpe->to(opts);
  const auto pos = torch::randn({2, 12, 3}, opts);
  const auto [fq, fk] = rpe(pos);
  const auto q = torch::randn({2, 2, 12, 8}, opts), k = torch::randn({2, 2, 12, 8}, opts);
  const auto v = torch::randn({2, 2, 12, 5}, opts);
  const auto phi_q = torch::elu(q) + 1, phi_k = torch::elu(k) + 1;
  // Multiplicative: Alg. 1 with the low-rank mask, and the Kronecker-product form.
  // The estimated mask may be slightly negative; shift it so the normaliser stays positive.
  const auto shift = torch::ones({1, 1, 12, 1}, opts);
  const auto mq = torch::cat({fq, shift.expand({2, 2, 12, 1}) * 2.0}, -1);
  const auto mk = torch::cat({fk, shift.expand({2, 2, 12, 1})}, -1);
  const attention::LowRankMaskOperator mask(mq, mk);
  const auto dense = topo::test::dense_masked_kernel_attention(
      phi_q, phi_k, v, torch::matmul(mq, mk.transpose(-1, -2)));
  EXPECT_TENSOR_CLOSE(attention::masked_linear_attention(phi_q, phi_k, v, mask), dense,
                      {1e-9, 1e-9});
  // Logit-additive: softmax(q·k/√d + f̂(r_i − r_j)) exactly, through the concatenated inputs.
  const auto [q_in, k_in] = attention::logit_additive_inputs(q, k, fq, fk);
  const auto logits = torch::matmul(q_in, k_in.transpose(-1, -2));
  const auto expected_logits = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(8.0) +
                               torch::matmul(fq, fk.transpose(-1, -2));
  EXPECT_TENSOR_CLOSE(logits, expected_logits, {1e-10, 1e-10});
}

TEST(SpectralRPE, BadInputGivesClearErrors) {
  SpectralRPE rpe(SpectralRPEOptions(3, 2));
  EXPECT_THROW_WITH(rpe(torch::randn({2, 5, 2})), "`pos` must be of shape [B, L, 3] or [L, 3]");
  EXPECT_THROW_WITH(
      SpectralRPE(SpectralRPEOptions(3, 2).family(SpectralFamily::kMatern).matern_nu(1.0)),
      "`matern_nu` must be 0.5, 1.5 or 2.5");
  EXPECT_THROW_WITH(SpectralRPE(SpectralRPEOptions(0, 2)), "`dim` must be >= 1");
  EXPECT_THROW_WITH(SpectralRPE(SpectralRPEOptions(2, 2).length_scale(-1)), "`length_scale`");
}

/// Dense local RPE mask [B, H, L, L] by brute force over all pairs.
torch::Tensor dense_local_mask(LocalRPEImpl& rpe, const torch::Tensor& pos,
                               const torch::Tensor& pad) {
  const auto delta = pos.unsqueeze(2) - pos.unsqueeze(1);
  const auto distance = delta.pow(2).sum(-1).clamp_min(1e-300).sqrt();  // [B, L, L]
  const auto inside = (distance < rpe.options.radius()) & ~pad.unsqueeze(1) & ~pad.unsqueeze(2);
  return rpe.profile(distance).transpose(0, 1) * inside.unsqueeze(1).to(pos.scalar_type());
}

TEST(LocalRPE, SparseMaskedAttentionEqualsTheDenseMask) {
  torch::manual_seed(6);
  const auto opts = torch::kDouble;
  LocalRPE rpe(LocalRPEOptions(2, 0.9).num_bins(4));
  rpe->to(opts);
  {
    torch::NoGradGuard guard;
    rpe->log_profile.copy_(torch::randn({2, 5}, opts) * 0.5);
  }
  const auto pos = torch::rand({2, 30, 3}, opts) * 2.0;
  auto pad = torch::zeros({2, 30}, torch::kBool);
  pad[1].slice(0, 22).fill_(true);  // second cloud has 22 points
  const auto local = rpe(pos, pad);
  const attention::SparseMaskOperator mask(local.edge_index, local.values, 2, 30);
  const auto dense = dense_local_mask(*rpe, pos, pad);
  EXPECT_TENSOR_CLOSE(mask.dense(pos.options()), dense, {1e-12, 1e-12});
  const auto phi_q = torch::rand({2, 2, 30, 6}, opts) + 0.1;
  const auto phi_k = torch::rand({2, 2, 30, 6}, opts) + 0.1;
  const auto v = torch::randn({2, 2, 30, 4}, opts);
  const auto out = attention::masked_linear_attention(phi_q, phi_k, v, mask, pad);
  const auto expected = topo::test::dense_masked_kernel_attention(phi_q, phi_k, v, dense);
  // Padded query rows are not defined by the dense reference (no keys): compare real rows.
  const auto real = (~pad).unsqueeze(1).unsqueeze(-1).expand_as(out);
  EXPECT_TENSOR_CLOSE(out.masked_select(real), expected.masked_select(real), {1e-10, 1e-10});
}

TEST(LocalRPE, GradientsInProfileAndPositions) {
  torch::manual_seed(7);
  LocalRPE rpe(LocalRPEOptions(1, 1.2).num_bins(3));
  rpe->to(torch::kDouble);
  {
    torch::NoGradGuard guard;
    rpe->log_profile.copy_(torch::randn({1, 4}, torch::kDouble) * 0.3);
  }
  const auto pos = torch::rand({1, 8, 2}, torch::kDouble);
  const auto x = torch::randn({1, 1, 8, 3}, torch::kDouble);
  const auto masked_sum = [&](const torch::Tensor& p) {
    const auto local = rpe(p);
    const attention::SparseMaskOperator mask(local.edge_index, local.values, 1, 8);
    return (mask.apply(x) * x).sum();
  };
  EXPECT_GRADCHECK([&](const std::vector<torch::Tensor>& in) { return masked_sum(in[0]); },
                   {pos.clone().requires_grad_()});
  EXPECT_PARAMETER_GRADCHECK(rpe->parameters(), [&] { return masked_sum(pos); });
}

TEST(LocalRPE, ProfileIsC1ThroughItsKnots) {
  torch::manual_seed(8);
  LocalRPE rpe(LocalRPEOptions(2, 2.0).num_bins(5).smooth_cutoff(true));
  rpe->to(torch::kDouble);
  {
    torch::NoGradGuard guard;
    rpe->log_profile.copy_(torch::randn({2, 6}, torch::kDouble));
  }
  const auto value_and_slope = [&](double d) {
    const auto x = torch::tensor({d}, torch::kDouble).requires_grad_(true);
    const auto f = rpe->profile(x).sum();
    return std::make_pair(f.item<double>(), torch::autograd::grad({f}, {x})[0].item<double>());
  };
  for (int64_t k = 1; k < 5; ++k) {
    const double knot = 2.0 * double(k) / 5.0, e = 1e-9;
    const auto [left, left_slope] = value_and_slope(knot - e);
    const auto [right, right_slope] = value_and_slope(knot + e);
    EXPECT_NEAR(left, right, 1e-7) << "knot " << k;
    EXPECT_NEAR(left_slope, right_slope, 1e-6) << "knot " << k;
    // The knots are interpolated: f = exp(log_profile) × envelope there.
    const double envelope = 0.5 * (std::cos(M_PI * knot / 2.0) + 1);
    EXPECT_NEAR(value_and_slope(knot).first,
                (rpe->log_profile.select(1, k).exp().sum() * envelope).item<double>(), 1e-12);
  }
}

TEST(LocalRPE, BadInputGivesClearErrors) {
  EXPECT_THROW_WITH(LocalRPE(LocalRPEOptions(2, -1.0)), "`radius` must be finite and > 0");
  LocalRPE rpe(LocalRPEOptions(2, 1.0));
  EXPECT_THROW_WITH(rpe(torch::randn({5, 3})), "`pos` must be of shape [B, L, d]");
  EXPECT_THROW_WITH(rpe(torch::randn({1, 5, 3}), torch::zeros({1, 4}, torch::kBool)),
                    "`key_padding_mask`");
}

}  // namespace
}  // namespace topo::geometry
