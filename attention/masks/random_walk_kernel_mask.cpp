// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/random_walk_kernel_mask.h"

#include <torch/torch.h>

#include "attention/masks/token_layout.h"
#include "common/check.h"
#include "graph/graph_kernels.h"

namespace topo::attention {
namespace detail {

torch::Tensor dense_power_series(const graph::SparseOperator& w,
                                 const torch::Tensor& coefficients) {
  const auto a = coefficients.detach().to(torch::kDouble).cpu();
  const auto wd = w.dense();
  auto power = torch::eye(w.num_nodes, torch::kDouble);
  auto m = a.select(1, 0).view({-1, 1, 1}) * power;
  for (int64_t k = 1; k < a.size(1); ++k) {
    power = torch::matmul(wd, power);
    m = m + a.select(1, k).view({-1, 1, 1}) * power;
  }
  return m;
}

}  // namespace detail

namespace {

class RandomWalkKernelOperator : public MaskOperator {
 public:
  RandomWalkKernelOperator(graph::SparseOperator w, torch::Tensor alpha, int64_t batch_size,
                           int64_t length)
      : w_(std::move(w)), alpha_(std::move(alpha)), batch_size_(batch_size), length_(length) {}

  torch::Tensor apply(const torch::Tensor& x) const override {
    ShapeChecker check("RandomWalkKernelMask::apply");
    check(x, "x", {batch_size_, alpha_.size(0), length_, "C"});
    const auto y =
        graph::random_walk_kernel(w_, alpha_.to(x.scalar_type()), detail::tokens_to_nodes(x));
    return detail::nodes_to_tokens(y, batch_size_, length_);
  }

  torch::Tensor dense(const torch::TensorOptions& options) const override {
    return detail::diagonal_blocks(detail::dense_power_series(w_, alpha_), batch_size_, length_)
        .to(options);
  }

 private:
  graph::SparseOperator w_;
  torch::Tensor alpha_;
  int64_t batch_size_, length_;
};

}  // namespace

RandomWalkKernelMaskImpl::RandomWalkKernelMaskImpl(const RandomWalkKernelMaskOptions& options_)
    : options(options_) {
  TOPO_CHECK_ARG(options.num_heads() >= 1, "RandomWalkKernelMask", "num_heads", ">= 1",
                 options.num_heads());
  TOPO_CHECK_ARG(options.num_steps() >= 0, "RandomWalkKernelMask", "num_steps", ">= 0",
                 options.num_steps());
  alpha = register_parameter("alpha",
                             torch::pow(0.5, torch::arange(options.num_steps() + 1, torch::kFloat))
                                 .repeat({options.num_heads(), 1}));
}

std::shared_ptr<const MaskOperator> RandomWalkKernelMaskImpl::build(const MaskContext& context) {
  const auto& w =
      detail::cached_token_operator(context, options.normalization(), "RandomWalkKernelMask");
  return std::make_shared<RandomWalkKernelOperator>(w, alpha, context.batch_size, context.length);
}

void RandomWalkKernelMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::RandomWalkKernelMask(heads=" << options.num_heads()
         << ", steps=" << options.num_steps()
         << ", normalization=" << to_string(options.normalization()) << ")";
}

}  // namespace topo::attention
