// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/sparse_mask.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "attention/masked_linear_attention.h"
#include "support/reference_attention.h"
#include "support/tensor_assertions.h"

namespace topo::attention {
namespace {

TEST(SparseMask, MaskedAttentionMatchesDenseReference) {
  torch::manual_seed(0);
  const int64_t b = 2, h = 3, l = 9;
  // Random edges inside each batch element, plus every diagonal so no row is empty.
  auto rows = torch::randint(0, l, {40}, torch::kLong);
  auto cols = torch::randint(0, l, {40}, torch::kLong);
  const auto batch = torch::randint(0, b, {40}, torch::kLong);
  const auto diag = torch::arange(b * l);
  const auto edges =
      torch::stack({torch::cat({batch * l + rows, diag}), torch::cat({batch * l + cols, diag})});
  const auto values = torch::rand({h, edges.size(1)}, torch::kDouble) + 0.1;
  const SparseMaskOperator mask(edges, values, b, l);
  const auto dense = mask.dense(torch::kDouble);
  EXPECT_EQ(dense.sizes(), (std::vector<int64_t>{b, h, l, l}));
  const auto x = torch::randn({b, h, l, 5}, torch::kDouble);
  EXPECT_TENSOR_CLOSE(mask.apply(x), torch::matmul(dense, x), {1e-12, 1e-12});
  const auto phi_q = torch::rand({b, h, l, 4}, torch::kDouble) + 0.1;
  const auto phi_k = torch::rand({b, h, l, 4}, torch::kDouble) + 0.1;
  const auto v = torch::randn({b, h, l, 3}, torch::kDouble);
  EXPECT_TENSOR_CLOSE(masked_linear_attention(phi_q, phi_k, v, mask),
                      topo::test::dense_masked_kernel_attention(phi_q, phi_k, v, dense),
                      {1e-10, 1e-10});
}

TEST(SparseMask, BadInputGivesClearErrors) {
  EXPECT_THROW_WITH(SparseMaskOperator(torch::tensor({{0}, {5}}), torch::ones({1, 1}), 2, 4),
                    "edges inside one batch element, got edge 0 from batch element 0 to 1");
  EXPECT_THROW_WITH(
      SparseMaskOperator(torch::tensor({{0}, {9}}), torch::ones({1, 1}), 2, 4),
      "`edge_index[1]` must be in [0, batch_size·key_length = 8), got values in [9, 9]");
  EXPECT_THROW_WITH(SparseMaskOperator(torch::tensor({{0}, {1}}), torch::ones({1, 2}), 2, 4),
                    "`values`");
  const SparseMaskOperator mask(torch::tensor({{0}, {1}}), torch::ones({2, 1}), 2, 4);
  EXPECT_THROW_WITH(mask.apply(torch::randn({2, 3, 4, 2})), "2 heads");
}

}  // namespace
}  // namespace topo::attention
