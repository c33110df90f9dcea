// SPDX-License-Identifier: Apache-2.0
// The CPU sparse-product kernels against their ATen references, and their first and second
// derivatives against finite differences.
#include "graph/sparse_matmul.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "support/gradcheck.h"
#include "support/tensor_assertions.h"

namespace topo::graph {
namespace {

torch::Tensor random_edges(int64_t rows, int64_t cols, int64_t count) {
  return torch::stack({torch::randint(0, rows, {count}, torch::kLong),
                       torch::randint(0, cols, {count}, torch::kLong)});
}

TEST(SparseMatmul, MatchesReferenceWithRepeatedEdgesAndEmptyRows) {
  torch::manual_seed(0);
  const auto edges = random_edges(40, 30, 200);  // repeated (i, j) pairs accumulate
  const auto values = torch::randn({3, 200}, torch::kDouble);
  const auto x = torch::randn({3, 30, 7}, torch::kDouble);
  EXPECT_TENSOR_CLOSE(sparse_matmul(edges, values, x, 45),
                      detail::sparse_matmul_reference(edges, values, x, 45), {1e-12, 1e-12});
  // Broadcast values over heads.
  const auto shared = torch::randn({1, 200}, torch::kDouble);
  EXPECT_TENSOR_CLOSE(sparse_matmul(edges, shared, x, 40),
                      detail::sparse_matmul_reference(edges, shared.expand({3, 200}), x, 40),
                      {1e-12, 1e-12});
  const auto a = torch::randn({3, 40, 7}, torch::kDouble);
  EXPECT_TENSOR_CLOSE(sampled_dot(edges, a, x), detail::sampled_dot_reference(edges, a, x),
                      {1e-12, 1e-12});
  // float32 too.
  EXPECT_TENSOR_CLOSE(sparse_matmul(edges, values.to(torch::kFloat), x.to(torch::kFloat), 40),
                      detail::sparse_matmul_reference(edges, values, x, 40).to(torch::kFloat));
  EXPECT_EQ(
      sparse_matmul(torch::zeros({2, 0}, torch::kLong), torch::zeros({3, 0}, torch::kDouble), x, 5)
          .abs()
          .sum()
          .item<double>(),
      0.0);
}

TEST(SparseMatmul, FirstAndSecondDerivatives) {
  torch::manual_seed(1);
  const auto edges = random_edges(6, 5, 14);
  const auto values = torch::randn({2, 14}, torch::kDouble).requires_grad_();
  const auto x = torch::randn({2, 5, 3}, torch::kDouble).requires_grad_();
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) { return sparse_matmul(edges, in[0], in[1], 6); },
      {values, x});
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) { return sampled_dot(edges, in[0], in[1]); },
      {torch::randn({2, 6, 3}, torch::kDouble).requires_grad_(), x});
  // Second order: the gradient (built with create_graph) is itself differentiable.
  const auto weights = torch::randn({2, 6, 3}, torch::kDouble);
  EXPECT_GRADCHECK(
      [&](const std::vector<torch::Tensor>& in) {
        // gradcheck evaluates finite differences without grad mode: re-enable it here.
        torch::AutoGradMode enable(true);
        const auto a = in[0].requires_grad() ? in[0] : in[0].detach().requires_grad_();
        const auto b = in[1].requires_grad() ? in[1] : in[1].detach().requires_grad_();
        const auto out = (sparse_matmul(edges, a, b, 6) * weights).pow(2).sum();
        const auto grads = torch::autograd::grad({out}, {a, b}, {}, true, true);
        return torch::cat({grads[0].flatten(), grads[1].flatten()});
      },
      {values, x});
}

TEST(SparseMatmul, BadInputGivesClearErrors) {
  const auto x = torch::randn({2, 5, 3});
  EXPECT_THROW_WITH(sparse_matmul(torch::tensor({{0, 9}, {1, 2}}), torch::ones({2, 2}), x, 4),
                    "`edge_index[0]` must be in [0, 4)");
  EXPECT_THROW_WITH(sparse_matmul(torch::tensor({{0, 1}, {1, 5}}), torch::ones({2, 2}), x, 4),
                    "`edge_index[1]` must be in [0, 5)");
  EXPECT_THROW_WITH(sparse_matmul(torch::tensor({{0, 1}, {1, 2}}), torch::ones({3, 2}), x, 4),
                    "one row per head");
  EXPECT_THROW_WITH(sparse_matmul(torch::tensor({{0, 1}, {1, 2}}), torch::ones({2, 3}), x, 4),
                    "one column per edge");
}

}  // namespace
}  // namespace topo::graph
