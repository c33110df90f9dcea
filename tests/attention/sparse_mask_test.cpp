// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/sparse_mask.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "attention/masked_linear_attention.h"
#include "support/gradcheck.h"
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

// softmax_attend against a dense masked softmax in the log domain, with scores far beyond
// exp's range (the per-query shift must keep them finite), padded keys that edges point to, and
// a query without edges.
TEST(SparseMask, SoftmaxAttendIsTheMaskedSoftmax) {
  torch::manual_seed(1);
  const int64_t b = 2, h = 2, l = 7;
  auto rows = torch::randint(0, l - 1, {30}, torch::kLong);  // token l − 1 queries nothing
  auto cols = torch::randint(0, l, {30}, torch::kLong);
  const auto batch = torch::randint(0, b, {30}, torch::kLong);
  const auto edges = torch::stack({batch * l + rows, batch * l + cols});
  const auto values = torch::rand({h, edges.size(1)}, torch::kDouble) + 0.1;
  const SparseMaskOperator mask(edges, values, b, l);
  auto padding = torch::zeros({b, l}, torch::kBool);
  padding[1].narrow(0, 5, 2).fill_(true);
  const auto q = torch::randn({b, h, l, 4}, torch::kDouble) * 30;
  const auto k = torch::randn({b, h, l, 4}, torch::kDouble) * 30;
  const auto v = torch::randn({b, h, l, 3}, torch::kDouble);
  const auto dense = mask.dense(torch::kDouble);
  const auto logits =
      (torch::matmul(q, k.transpose(-1, -2)) + dense.log())
          .masked_fill(padding.view({b, 1, 1, l}), -std::numeric_limits<double>::infinity());
  const auto has_edge = (logits > -std::numeric_limits<double>::infinity()).any(-1, true);
  const auto expected = torch::matmul(torch::softmax(logits, -1).nan_to_num(0), v) * has_edge;
  const auto got = mask.softmax_attend(q, k, v, padding);
  EXPECT_TRUE(torch::isfinite(got).all().item<bool>());
  EXPECT_TENSOR_CLOSE(got, expected, {1e-12, 1e-12});
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) {
        return SparseMaskOperator(edges, in[3], b, l).softmax_attend(in[0], in[1], in[2], padding);
      },
      {(q / 30).requires_grad_(), (k / 30).requires_grad_(), v.clone().requires_grad_(),
       values.clone().requires_grad_()});
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
