// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/dense_mask.h"

#include "common/check.h"

namespace topo::attention {

DenseMaskImpl::DenseMaskImpl(const DenseMaskOptions& options) : semantics(options.semantics()) {
  auto m = options.matrix();
  TORCH_CHECK_VALUE(m.defined() && (m.dim() == 2 || m.dim() == 4),
                    "DenseMask: `matrix` must be [L, S] or [B|1, H|1, L, S], got ",
                    m.defined() ? shape_string(m) : "an undefined tensor");
  ShapeChecker("DenseMask").floating(m, "matrix");
  if (m.dim() == 2) m = m.unsqueeze(0).unsqueeze(0);
  matrix = options.learnable() ? register_parameter("matrix", m) : register_buffer("matrix", m);
}

torch::Tensor DenseMaskImpl::apply(const torch::Tensor& x) {
  ShapeChecker check("DenseMask::apply");
  check(matrix, "matrix", {"*", "*", "L", "S"});
  check(x, "x", {"B", "H", "S", "C"});
  TORCH_CHECK_VALUE((matrix.size(0) == 1 || matrix.size(0) == x.size(0)) &&
                        (matrix.size(1) == 1 || matrix.size(1) == x.size(1)),
                    "DenseMask::apply: `matrix` has shape ", shape_string(matrix),
                    ", which does not broadcast over `x` of shape ", shape_string(x));
  const auto m = semantics == MaskSemantics::kLogitAdditive ? matrix.exp() : matrix;
  return torch::matmul(m.to(x.scalar_type()), x);
}

torch::Tensor DenseMaskImpl::dense(int64_t length, const torch::TensorOptions& options) {
  TORCH_CHECK_VALUE(length == matrix.size(2), "DenseMask::dense: `length` must be ",
                    matrix.size(2), " (the mask's rows), got ", length);
  const auto m = semantics == MaskSemantics::kLogitAdditive ? matrix.exp() : matrix;
  return m.to(options);
}

void DenseMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::DenseMask(" << matrix.sizes() << ")";
}

}  // namespace topo::attention
