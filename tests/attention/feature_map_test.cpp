// SPDX-License-Identifier: Apache-2.0
// FAVOR+ statistics under fixed seeds, stabilisers, redraw and checkpointing.
#include "attention/feature_map.h"

#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "attention/linear_attention.h"
#include "support/reference_attention.h"
#include "support/tensor_assertions.h"

namespace topo::attention {
namespace {

// Mean squared error of FAVOR attention against exact softmax attention over `draws`
// independent projections, in float64, with small-norm inputs (|x̃| ≲ 1, see Lemma 2).
double favor_mse(FeatureMapKind kind, int64_t m, bool orthogonal, int draws) {
  torch::manual_seed(42);
  const int64_t d = 16, l = 48;
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const auto q = torch::randn({1, 1, l, d}, opts) * 0.4;
  const auto k = torch::randn({1, 1, l, d}, opts) * 0.4;
  const auto v = torch::randn({1, 1, l, 4}, opts);
  const auto exact = test::dense_softmax_attention(q, k, v);
  double total = 0;
  for (int draw = 0; draw < draws; ++draw) {
    const auto w = random_projection(RandomProjectionOptions(m, d)
                                         .orthogonal(orthogonal)
                                         .seed(1000 + draw)
                                         .dtype(torch::kFloat64))
                       .unsqueeze(0);
    const auto out = linear_attention(feature_map(q, kind, w, FeatureRole::kQuery),
                                      feature_map(k, kind, w, FeatureRole::kKey), v);
    total += (out - exact).pow(2).mean().item<double>();
  }
  return total / draws;
}

TEST(FavorFeatures, ErrorFallsLikeOneOverM) {
  const double mse16 = favor_mse(FeatureMapKind::kSoftmaxPositive, 16, false, 40);
  const double mse64 = favor_mse(FeatureMapKind::kSoftmaxPositive, 64, false, 40);
  const double mse256 = favor_mse(FeatureMapKind::kSoftmaxPositive, 256, false, 40);
  // MSE ∝ 1/m: each 4x more features divides the error by ~4 (Monte Carlo spread allowed).
  EXPECT_GT(mse16 / mse64, 2.5) << mse16 << " " << mse64;
  EXPECT_LT(mse16 / mse64, 6.5) << mse16 << " " << mse64;
  EXPECT_GT(mse64 / mse256, 2.5) << mse64 << " " << mse256;
  EXPECT_LT(mse64 / mse256, 6.5) << mse64 << " " << mse256;
}

TEST(FavorFeatures, OrthogonalBeatIidAtEqualM) {
  // One block (m = d) shows the largest gap; with m = 4d the blocks are independent and the
  // gap shrinks (Theorem 2), so 100 draws keep the comparison well above the noise.
  for (auto [m, ratio] : {std::pair<int64_t, double>{16, 0.8}, {64, 0.92}}) {
    const double iid = favor_mse(FeatureMapKind::kSoftmaxPositive, m, false, 100);
    const double orthogonal = favor_mse(FeatureMapKind::kSoftmaxPositive, m, true, 100);
    EXPECT_LT(orthogonal, ratio * iid)
        << "m=" << m << " orthogonal " << orthogonal << " iid " << iid;
  }
}

TEST(FavorFeatures, HyperbolicBeatsPositiveAtEqualProjection) {
  const double positive = favor_mse(FeatureMapKind::kSoftmaxPositive, 32, false, 40);
  const double hyperbolic = favor_mse(FeatureMapKind::kSoftmaxHyperbolic, 32, false, 40);
  EXPECT_LT(hyperbolic, positive);
}

TEST(FavorFeatures, KernelIsUnbiased) {
  // φ(x)·φ(y) (same data-independent stabiliser on both sides, undone afterwards) is an
  // unbiased estimate of exp(x·y/√d): over many draws every entry's mean lies within 4.5
  // standard errors of the exact kernel, and the standard errors are small.
  torch::manual_seed(1);
  const int64_t d = 8, m = 64, draws = 400;
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const auto x = torch::randn({1, 1, 6, d}, opts) * 0.5;
  const auto y = torch::randn({1, 1, 6, d}, opts) * 0.5;
  auto sum = torch::zeros({6, 6}, opts), sum_sq = torch::zeros({6, 6}, opts);
  for (int draw = 0; draw < draws; ++draw) {
    const auto w =
        random_projection(
            RandomProjectionOptions(m, d).orthogonal(false).seed(draw).dtype(torch::kFloat64))
            .unsqueeze(0);
    const double c = w.pow(2).sum(-1).max().item<double>() / 2;
    const auto phi_x = feature_map(x, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kCausalKey);
    const auto phi_y = feature_map(y, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kCausalKey);
    const auto estimate = phi_x[0][0].matmul(phi_y[0][0].t()) * std::exp(2 * c);
    sum += estimate;
    sum_sq += estimate.pow(2);
  }
  const auto mean = sum / draws;
  const auto standard_error = ((sum_sq / draws - mean.pow(2)) / (draws - 1)).sqrt();
  const auto exact = (x[0][0].matmul(y[0][0].t()) / std::sqrt(double(d))).exp();
  const auto z = ((mean - exact).abs() / standard_error);
  EXPECT_LT(z.max().item<double>(), 4.5) << z;
  EXPECT_LT((standard_error / exact).max().item<double>(), 0.1);
}

TEST(FavorFeatures, QueryStabiliserCancels) {
  // Shifting one query's exponents by a constant (its own max) leaves attention unchanged:
  // compare against unstabilised features computed by hand.
  torch::manual_seed(2);
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const auto q = torch::randn({2, 1, 5, 8}, opts) * 3;  // large norms: stabiliser matters
  const auto k = torch::randn({2, 1, 7, 8}, opts);
  const auto v = torch::randn({2, 1, 7, 3}, opts);
  const auto w =
      random_projection(RandomProjectionOptions(16, 8).dtype(torch::kFloat64)).unsqueeze(0);
  const auto raw = [&](const torch::Tensor& x) {
    const auto xs = x * std::pow(8.0, -0.25);
    return (xs.matmul(w.transpose(-1, -2)) - xs.pow(2).sum(-1, true) / 2).exp() / 4.0;
  };
  const auto expected = test::dense_masked_kernel_attention(raw(q), raw(k), v);
  const auto out =
      linear_attention(feature_map(q, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kQuery),
                       feature_map(k, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kKey), v);
  EXPECT_TENSOR_CLOSE(out, expected, {1e-9, 1e-12});
  EXPECT_LE(
      feature_map(q, FeatureMapKind::kSoftmaxPositive, w, FeatureRole::kQuery).max().item<double>(),
      0.25 + 1e-12);  // exp(0)/√16
}

TEST(FavorFeatures, DeterministicMaps) {
  const auto x = torch::tensor({-1.0, 0.0, 2.0}, torch::kFloat64).view({1, 1, 1, 3});
  EXPECT_TENSOR_CLOSE(feature_map(x, FeatureMapKind::kRelu, {}, FeatureRole::kQuery, {}, 0.0),
                      torch::tensor({0.0, 0.0, 2.0}, torch::kFloat64).view({1, 1, 1, 3}));
  EXPECT_TENSOR_CLOSE(
      feature_map(x, FeatureMapKind::kEluPlusOne, {}, FeatureRole::kQuery),
      torch::tensor({std::exp(-1.0), 1.0, 3.0}, torch::kFloat64).view({1, 1, 1, 3}));
  const auto w = torch::eye(3, torch::kFloat64).unsqueeze(0);
  EXPECT_TENSOR_CLOSE(
      feature_map(x, FeatureMapKind::kReluRandom, w, FeatureRole::kQuery, {}, 0.0, false),
      torch::tensor({0.0, 0.0, 2.0 / std::sqrt(3.0)}, torch::kFloat64).view({1, 1, 1, 3}));
}

TEST(FeatureMapModule, RedrawsOnScheduleOnlyInTraining) {
  FeatureMap phi(FeatureMapOptions(8, 2).num_features(16).redraw_interval(3).layer_id(1));
  const auto first = phi->projection.clone();
  EXPECT_FALSE(torch::equal(first[0], first[1]));  // heads draw differently
  EXPECT_FALSE(phi->step());
  EXPECT_FALSE(phi->step());
  EXPECT_TRUE(phi->step());  // third training step redraws
  EXPECT_EQ(phi->redraw_count.item<int64_t>(), 1);
  EXPECT_FALSE(torch::equal(first, phi->projection));
  phi->eval();
  const auto frozen = phi->projection.clone();
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(phi->step());
  EXPECT_TRUE(torch::equal(frozen, phi->projection));
}

TEST(FeatureMapModule, ReplicasDrawTheSameMatrices) {
  // Two "processes" of a data-parallel job: same options, same step count, same projection.
  const auto options = FeatureMapOptions(8, 4).num_features(24).redraw_interval(2).layer_id(5);
  FeatureMap a(options), b(options);
  for (int i = 0; i < 5; ++i) {
    a->step();
    b->step();
  }
  EXPECT_TRUE(torch::equal(a->projection, b->projection));
  FeatureMap other_layer(FeatureMapOptions(8, 4).num_features(24).layer_id(6));
  FeatureMap fresh(FeatureMapOptions(8, 4).num_features(24).layer_id(5));
  EXPECT_FALSE(torch::equal(fresh->projection, other_layer->projection));
}

TEST(FeatureMapModule, CheckpointRestoresProjectionAndSchedule) {
  FeatureMap a(FeatureMapOptions(8, 2).num_features(16).redraw_interval(2));
  for (int i = 0; i < 3; ++i) a->step();
  std::stringstream stream;
  torch::save(a, stream);
  FeatureMap b(FeatureMapOptions(8, 2).num_features(16).redraw_interval(2));
  torch::load(b, stream);
  EXPECT_TRUE(torch::equal(a->projection, b->projection));
  EXPECT_EQ(b->redraw_count.item<int64_t>(), 1);
  EXPECT_EQ(b->steps_since_redraw.item<int64_t>(), 1);
  EXPECT_EQ(a->step(), b->step());
  EXPECT_TRUE(torch::equal(a->projection, b->projection));
}

TEST(FeatureMapModule, RejectsBadOptionsAndShapes) {
  EXPECT_THROW_WITH(FeatureMap(FeatureMapOptions(8).num_features(0)),
                    "FeatureMap: `num_features` must be positive, got 0");
  EXPECT_THROW_WITH(FeatureMap(FeatureMapOptions(8).redraw_interval(-1)), "`redraw_interval`");
  FeatureMap phi(FeatureMapOptions(8, 2));
  EXPECT_THROW_WITH(phi(torch::zeros({1, 3, 4, 8})), "expected [B, H=2, L, D=8]");
  EXPECT_THROW_WITH(feature_map(torch::zeros({1, 1, 4, 8}, torch::kInt64), FeatureMapKind::kRelu,
                                {}, FeatureRole::kQuery),
                    "feature_map: `x` must be float32 or float64, got Long");
}

}  // namespace
}  // namespace topo::attention
