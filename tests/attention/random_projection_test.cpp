// SPDX-License-Identifier: Apache-2.0
#include "attention/random_projection.h"

#include <torch/torch.h>

#include "support/tensor_assertions.h"

namespace topo::attention {
namespace {

TEST(RandomProjection, OrthogonalBlocksHaveOrthogonalRows) {
  const auto w = random_projection(
      RandomProjectionOptions(20, 8).norm(ProjectionNorm::kSqrtDim).dtype(torch::kFloat64).seed(3));
  ASSERT_EQ(w.sizes(), torch::IntArrayRef({20, 8}));
  for (int64_t start : {0, 8}) {  // two full blocks, then a partial one of 4 rows
    const auto block = w.narrow(0, start, 8);
    EXPECT_TENSOR_CLOSE(block.matmul(block.t()), 8.0 * torch::eye(8, torch::kFloat64));
  }
  const auto last = w.narrow(0, 16, 4);
  EXPECT_TENSOR_CLOSE(last.matmul(last.t()), 8.0 * torch::eye(4, torch::kFloat64));
}

TEST(RandomProjection, ChiNormsMatchGaussianRows) {
  // Row lengths² of N(0, I_d) rows have mean d and variance 2d.
  const int64_t d = 16, m = 4096;
  for (bool orthogonal : {true, false}) {
    const auto w = random_projection(
        RandomProjectionOptions(m, d).orthogonal(orthogonal).dtype(torch::kFloat64).seed(11));
    const auto squared = w.pow(2).sum(1);
    EXPECT_NEAR(squared.mean().item<double>(), d, 4 * std::sqrt(2.0 * d / m)) << orthogonal;
    EXPECT_NEAR(squared.var().item<double>(), 2.0 * d, 0.15 * 2 * d) << orthogonal;
  }
}

TEST(RandomProjection, DeterministicInSeedAndDistinctAcrossSeeds) {
  const auto options = RandomProjectionOptions(32, 8).seed(projection_seed(7, 2, 1, 0));
  EXPECT_TRUE(torch::equal(random_projection(options), random_projection(options)));
  const auto other = RandomProjectionOptions(32, 8).seed(projection_seed(7, 2, 1, 1));
  EXPECT_FALSE(torch::allclose(random_projection(options), random_projection(other)));
  EXPECT_NE(projection_seed(0, 1, 0, 0), projection_seed(0, 0, 1, 0));
  EXPECT_NE(projection_seed(0, 0, 0, 1), projection_seed(0, 1, 0, 0));
}

TEST(RandomProjection, RejectsBadSizes) {
  EXPECT_THROW_WITH(random_projection(RandomProjectionOptions(0, 8)),
                    "random_projection: `num_features` must be positive, got 0");
  EXPECT_THROW_WITH(random_projection(RandomProjectionOptions(4, -1)), "`dim` must be positive");
}

}  // namespace
}  // namespace topo::attention
