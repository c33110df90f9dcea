// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/diffusion_mask.h"

#include <torch/torch.h>

#include "attention/masks/token_layout.h"
#include "common/check.h"
#include "graph/graph_kernels.h"

namespace topo::attention {
namespace {

class DiffusionOperator : public MaskOperator {
 public:
  DiffusionOperator(const graph::SparseOperator& w, torch::Tensor time, int64_t batch_size,
                    int64_t length, double tolerance)
      : w_(w),
        time_(std::move(time)),
        batch_size_(batch_size),
        length_(length),
        tolerance_(tolerance) {}

  torch::Tensor apply(const torch::Tensor& x) const override {
    ShapeChecker check("DiffusionMask::apply");
    check(x, "x", {batch_size_, time_.size(0), length_, "C"});
    const auto y =
        graph::diffusion(w_, time_.to(x.scalar_type()), detail::tokens_to_nodes(x), tolerance_);
    return detail::nodes_to_tokens(y, batch_size_, length_);
  }

  torch::Tensor dense(const torch::TensorOptions& options) const override {
    const auto t = time_.detach().to(torch::kDouble).cpu().view({-1, 1, 1});
    const auto m = torch::linalg_matrix_exp(t * w_.dense().unsqueeze(0));
    return detail::diagonal_blocks(m, batch_size_, length_).to(options);
  }

 private:
  graph::SparseOperator w_;  // shares its tensors with the context's cache
  torch::Tensor time_;
  int64_t batch_size_, length_;
  double tolerance_;
};

}  // namespace

DiffusionMaskImpl::DiffusionMaskImpl(const DiffusionMaskOptions& options_) : options(options_) {
  TOPO_CHECK_ARG(options.num_heads() >= 1, "DiffusionMask", "num_heads", ">= 1",
                 options.num_heads());
  TOPO_CHECK_ARG(options.tolerance() > 0 && options.tolerance() < 1, "DiffusionMask", "tolerance",
                 "in (0, 1)", options.tolerance());
  time = register_parameter("time", torch::full({options.num_heads()}, options.time()));
}

std::shared_ptr<const MaskOperator> DiffusionMaskImpl::build(const MaskContext& context) {
  const auto& w = detail::cached_token_operator(context, options.normalization(), "DiffusionMask");
  return std::make_shared<DiffusionOperator>(w, time, context.batch_size, context.length,
                                             options.tolerance());
}

void DiffusionMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::DiffusionMask(heads=" << options.num_heads()
         << ", normalization=" << to_string(options.normalization())
         << ", tolerance=" << options.tolerance() << ")";
}

}  // namespace topo::attention
