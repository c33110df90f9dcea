// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/toeplitz_mask.h"

#include <torch/fft.h>

#include "attention/masks/fft_utils.h"
#include "common/check.h"

namespace topo::attention {

ToeplitzMaskImpl::ToeplitzMaskImpl(const ToeplitzMaskOptions& options_) : options(options_) {
  TOPO_CHECK_ARG(options.num_heads() > 0, "ToeplitzMask", "num_heads", "positive",
                 options.num_heads());
  TOPO_CHECK_ARG(options.max_length() > 0, "ToeplitzMask", "max_length", "positive",
                 options.max_length());
  const double init = options.semantics() == MaskSemantics::kLogitAdditive ? 0.0 : 1.0;
  bias = register_parameter(
      "bias", torch::full({options.num_heads(), 2 * options.max_length() - 1}, init));
}

torch::Tensor ToeplitzMaskImpl::offset_values(int64_t length) {
  TOPO_CHECK_ARG(length >= 1 && length <= options.max_length(), "ToeplitzMask", "length",
                 "in [1, max_length=" + std::to_string(options.max_length()) + "]", length);
  auto b = bias.narrow(1, options.max_length() - length, 2 * length - 1);
  auto values = options.semantics() == MaskSemantics::kLogitAdditive ? b.exp() : b;
  if (options.causal()) {
    values = torch::cat({torch::zeros_like(values.narrow(1, 0, length - 1)),
                         values.narrow(1, length - 1, length)}, 1);
  }
  return values;
}

torch::Tensor ToeplitzMaskImpl::apply(const torch::Tensor& x) {
  ShapeChecker check("ToeplitzMask::apply");
  check(x, "x", {"B", options.num_heads(), "L", "C"}).floating(x, "x");
  const int64_t length = x.size(2);
  if (length == 0) return x;
  const auto values = offset_values(length).to(x.scalar_type());  // [H, 2L-1]
  // Circulant embedding: f(k) at k mod n for |k| < L, zeros elsewhere; n ≥ 2L − 1 so the
  // circular convolution equals the linear one on the first L outputs.
  const int64_t n = detail::next_fast_fft_size(2 * length - 1);
  const auto nonnegative = values.narrow(1, length - 1, length);                  // f(0..L-1)
  const auto negative = values.narrow(1, 0, length - 1);                          // f(-(L-1)..-1)
  const auto kernel = torch::cat(
      {nonnegative, torch::zeros({values.size(0), n - 2 * length + 1}, values.options()),
       negative}, 1);
  const auto kernel_fft = torch::fft::rfft(kernel, n, 1).unsqueeze(0).unsqueeze(-1);
  const auto x_fft = torch::fft::rfft(x, n, 2);
  return torch::fft::irfft(x_fft * kernel_fft, n, 2).narrow(2, 0, length);
}

torch::Tensor ToeplitzMaskImpl::dense(int64_t length, const torch::TensorOptions& options) {
  const auto values = offset_values(length);
  const auto i = torch::arange(length, torch::kInt64);
  const auto offset = (i.unsqueeze(1) - i.unsqueeze(0) + (length - 1)).flatten();  // i - j
  return values.index_select(1, offset.to(values.device()))
      .view({1, values.size(0), length, length})
      .to(options);
}

void ToeplitzMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::ToeplitzMask(num_heads=" << options.num_heads()
         << ", max_length=" << options.max_length() << ", causal=" << options.causal() << ")";
}

}  // namespace topo::attention
