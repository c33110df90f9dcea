// SPDX-License-Identifier: Apache-2.0
// The helpers every other test relies on must themselves be able to fail.
#include "support/tensor_assertions.h"

#include <torch/torch.h>

namespace topo::test {
namespace {

TEST(TensorsClose, AcceptsEqualAndNearlyEqualTensors) {
  const auto a = torch::arange(12, torch::kFloat64).reshape({3, 4});
  EXPECT_TRUE(tensors_close("a", a, a.clone()));
  EXPECT_TRUE(tensors_close("a", a + 1e-13, a));
  EXPECT_TRUE(tensors_close("a", a.to(torch::kFloat32) + 1e-6f, a.to(torch::kFloat32)));
  EXPECT_TENSOR_CLOSE(a, a.clone());
}

TEST(TensorsClose, RejectsDifferentValuesAndSaysWhere) {
  auto a = torch::zeros({3, 4}, torch::kFloat64);
  auto b = a.clone();
  b[2][1] = 0.5;
  const auto result = tensors_close("a", a, b);
  ASSERT_FALSE(result);
  const std::string message = result.message();
  EXPECT_NE(message.find("1 of 12 elements"), std::string::npos) << message;
  EXPECT_NE(message.find("max abs error 0.5 at [2, 1]"), std::string::npos) << message;
}

TEST(TensorsClose, RejectsSmallRelativeErrorsInFloat64) {
  const auto a = torch::full({5}, 1.0, torch::kFloat64);
  EXPECT_FALSE(tensors_close("a", a * (1 + 1e-8), a));
  EXPECT_TRUE(tensors_close("a", a * (1 + 1e-8), a, {1e-6, 0.0}));
}

TEST(TensorsClose, RejectsShapeMismatchNanAndUndefined) {
  const auto a = torch::zeros({2, 3});
  EXPECT_FALSE(tensors_close("a", a, torch::zeros({3, 2})));
  EXPECT_FALSE(tensors_close("a", a, torch::Tensor()));
  auto with_nan = a.clone();
  with_nan[0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(tensors_close("a", with_nan, a));
  EXPECT_FALSE(tensors_close("a", a, with_nan));
  EXPECT_TRUE(tensors_close("a", with_nan, with_nan.clone()));
}

TEST(ExpectThrowWith, MatchesSubstring) {
  EXPECT_THROW_WITH([] { TORCH_CHECK(false, "f: `x` must be positive"); }(),
                    "`x` must be positive");
}

}  // namespace
}  // namespace topo::test
