// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/toeplitz_mask.h"

#include <torch/torch.h>

#include "attention/masks/fft_utils.h"
#include "common/check.h"

namespace topo::attention {
namespace {

/// M_ij = f_h(i − j) from `values` [H, 2L − 1] (offsets −(L−1) … L−1).
class ToeplitzOperator : public MaskOperator {
 public:
  ToeplitzOperator(torch::Tensor values, int64_t length, bool causal)
      : values_(std::move(values)), length_(length), causal_(causal) {}

  torch::Tensor apply(const torch::Tensor& x) const override {
    ShapeChecker check("ToeplitzMask::apply");
    check(x, "x", {"B", values_.size(0), length_, "C"}).floating(x, "x");
    const auto values = values_.to(x.scalar_type());  // [H, 2L-1]
    const int64_t length = length_;
    // Circulant embedding: f(k) at k mod n for |k| < L, zeros elsewhere; n ≥ 2L − 1 so the
    // circular convolution equals the linear one on the first L outputs.
    const int64_t n = detail::next_fast_fft_size(2 * length - 1);
    const auto nonnegative = values.narrow(1, length - 1, length);  // f(0..L-1)
    const auto negative = values.narrow(1, 0, length - 1);          // f(-(L-1)..-1)
    const auto kernel =
        torch::cat({nonnegative,
                    torch::zeros({values.size(0), n - 2 * length + 1}, values.options()), negative},
                   1);
    return detail::fft_convolve(x, kernel);
  }

  torch::Tensor dense(const torch::TensorOptions& options) const override {
    const auto i = torch::arange(length_, torch::kInt64);
    const auto offset = (i.unsqueeze(1) - i.unsqueeze(0) + (length_ - 1)).flatten();  // i - j
    return values_.index_select(1, offset.to(values_.device()))
        .view({1, values_.size(0), length_, length_})
        .to(options);
  }

  bool is_causal() const override { return causal_; }

 private:
  torch::Tensor values_;
  int64_t length_;
  bool causal_;
};

}  // namespace

ToeplitzMaskImpl::ToeplitzMaskImpl(const ToeplitzMaskOptions& options_) : options(options_) {
  TOPO_CHECK_ARG(options.num_heads() > 0, "ToeplitzMask", "num_heads", "positive",
                 options.num_heads());
  TOPO_CHECK_ARG(options.max_length() > 0, "ToeplitzMask", "max_length", "positive",
                 options.max_length());
  const double init = options.semantics() == MaskSemantics::kLogitAdditive ? 0.0 : 1.0;
  bias = register_parameter("bias",
                            torch::full({options.num_heads(), 2 * options.max_length() - 1}, init));
}

torch::Tensor ToeplitzMaskImpl::offset_values(int64_t length) {
  TOPO_CHECK_ARG(length >= 1 && length <= options.max_length(), "ToeplitzMask", "length",
                 "in [1, max_length=" + std::to_string(options.max_length()) + "]", length);
  auto b = bias.narrow(1, options.max_length() - length, 2 * length - 1);
  auto values = options.semantics() == MaskSemantics::kLogitAdditive ? b.exp() : b;
  if (options.causal()) {
    values = torch::cat(
        {torch::zeros_like(values.narrow(1, 0, length - 1)), values.narrow(1, length - 1, length)},
        1);
  }
  return values;
}

std::shared_ptr<const MaskOperator> ToeplitzMaskImpl::build(const MaskContext& context) {
  check_context(context, "ToeplitzMask", false, false);
  return std::make_shared<ToeplitzOperator>(offset_values(context.length), context.length,
                                            options.causal());
}

void ToeplitzMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::ToeplitzMask(num_heads=" << options.num_heads()
         << ", max_length=" << options.max_length() << ", causal=" << options.causal() << ")";
}

}  // namespace topo::attention
