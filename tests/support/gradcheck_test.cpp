// SPDX-License-Identifier: Apache-2.0
#include "support/gradcheck.h"

#include <torch/torch.h>

namespace topo::test {
namespace {

// y = x^3 with a backward that is right, or deliberately wrong by a factor.
template <int kNumerator>
class Cube : public torch::autograd::Function<Cube<kNumerator>> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return x.pow(3);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto x = ctx->get_saved_variables()[0];
    return {grad[0] * x.pow(2) * kNumerator};
  }
};

TEST(Gradcheck, AcceptsAutogradAndCorrectCustomBackward) {
  const auto x = torch::randn({3, 4}, torch::kFloat64).requires_grad_();
  const auto w = torch::randn({4, 2}, torch::kFloat64).requires_grad_();
  EXPECT_GRADCHECK([](const std::vector<torch::Tensor>& in) { return in[0].matmul(in[1]).tanh(); },
                   {x, w});
  EXPECT_GRADCHECK([](const std::vector<torch::Tensor>& in) { return Cube<3>::apply(in[0]); }, {x});
}

TEST(Gradcheck, CatchesWrongCustomBackward) {
  const auto x = torch::randn({3, 4}, torch::kFloat64).requires_grad_();
  const auto result =
      gradcheck([](const std::vector<torch::Tensor>& in) { return Cube<2>::apply(in[0]); }, {x});
  ASSERT_FALSE(result);
  EXPECT_NE(std::string(result.message()).find("disagrees with finite differences"),
            std::string::npos);
}

TEST(Gradcheck, CatchesMissingGradient) {
  // The backward forgets the dependence on the second input (detach): analytic 0, numeric != 0.
  const auto a = torch::randn({4}, torch::kFloat64).requires_grad_();
  const auto b = torch::randn({4}, torch::kFloat64).requires_grad_();
  EXPECT_FALSE(gradcheck(
      [](const std::vector<torch::Tensor>& in) { return in[0] * in[1].detach(); }, {a, b}));
}

TEST(Gradcheck, RejectsFloat32Inputs) {
  const auto x = torch::randn({3}).requires_grad_();
  EXPECT_FALSE(gradcheck([](const std::vector<torch::Tensor>& in) { return in[0] * 2; }, {x}));
}

}  // namespace
}  // namespace topo::test
