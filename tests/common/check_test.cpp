// SPDX-License-Identifier: Apache-2.0
#include "common/check.h"

#include <torch/torch.h>

#include "common/config.h"
#include "support/tensor_assertions.h"

namespace topo {
namespace {

TEST(ShapeChecker, BindsNamesAndAcceptsConsistentShapes) {
  ShapeChecker check("f");
  check(torch::zeros({2, 3, 5}), "q", {"B", "L", "D"});
  check(torch::zeros({2, 7, 5}), "k", {"B", "S", "D"});
  check(torch::zeros({2, 7, 9}), "v", {"B", "S", "*"});
  check(torch::zeros({4}), "w", {4});
  EXPECT_EQ(check.dim("L"), 3);
  EXPECT_EQ(check.dim("S"), 7);
  EXPECT_TRUE(check.has("D"));
  EXPECT_FALSE(check.has("E"));
}

TEST(ShapeChecker, NamesArgumentExpectedAndActual) {
  ShapeChecker check("linear_attention");
  check(torch::zeros({2, 4, 9, 8}), "q", {"B", "H", "L", "D"});
  EXPECT_THROW_WITH(check(torch::zeros({2, 4, 9, 16}), "k", {"B", "H", "S", "D"}),
                    "linear_attention: `k` has shape [2, 4, 9, 16], expected [B=2, H=4, S, D=8] "
                    "(D bound by `q`)");
  EXPECT_THROW_WITH(check(torch::zeros({2, 4}), "v", {"B", "H", "S"}), "(rank 3, got rank 2)");
  EXPECT_THROW_WITH(check(torch::zeros({3}), "w", {4}), "`w` has shape [3], expected [4]");
  EXPECT_THROW_WITH(check(torch::Tensor(), "x", {"B"}), "`x` is an undefined tensor");
}

TEST(ShapeChecker, ChecksDtypeAndDevice) {
  ShapeChecker check("f");
  EXPECT_THROW_WITH(check.floating(torch::zeros({2}, torch::kInt64), "x"),
                    "f: `x` must be float32 or float64, got Long");
  check.floating(torch::zeros({2}, torch::kBFloat16), "x", /*allow_reduced=*/true);
  EXPECT_THROW_WITH(
      check.same_dtype({{torch::zeros({1}), "a"}, {torch::zeros({1}, torch::kFloat64), "b"}}),
      "f: `b` must have the dtype of `a` (Float), got Double");
  check.same_device(
      {{torch::zeros({1}), "a"}, {torch::Tensor(), "unused"}, {torch::zeros({1}), "b"}});
}

TEST(ShapeChecker, ThrowsTypedErrors) {
  ShapeChecker check("f");
  EXPECT_THROW(check.floating(torch::zeros({2}, torch::kInt32), "x"), c10::TypeError);
  EXPECT_THROW([] { TOPO_CHECK_ARG(false, "f", "k", "positive", 0); }(), c10::ValueError);
}

TEST(Errors, ArgumentCheckMessage) {
  EXPECT_THROW_WITH([] { TOPO_CHECK_ARG(1 < 0, "knn", "k", "positive", 0); }(),
                    "knn: `k` must be positive, got 0");
}

TEST(Errors, InternalAssertSaysItIsOurBug) {
  EXPECT_THROW_WITH([] { TOPO_INTERNAL_ASSERT(1 + 1 == 3, "sum was ", 2); }(), "topoformer bug");
  EXPECT_THROW_WITH([] { TOPO_INTERNAL_ASSERT(false); }(), "check_test.cpp");
  TOPO_INTERNAL_ASSERT(true);
}

TEST(Config, VersionIsConsistent) {
  EXPECT_EQ(std::string(version()), std::to_string(TOPO_VERSION_MAJOR) + "." +
                                        std::to_string(TOPO_VERSION_MINOR) + "." +
                                        std::to_string(TOPO_VERSION_PATCH));
  EXPECT_FALSE(built_with_cuda());  // Debian's LibTorch has no CUDA
}

}  // namespace
}  // namespace topo
