// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/dense_mask.h"

#include "common/check.h"

namespace topo::attention {

torch::Tensor DenseMaskOperator::apply(const torch::Tensor& x) const {
  ShapeChecker check("DenseMask::apply");
  check(matrix_, "matrix", {"*", "*", "L", "S"});
  check(x, "x", {"B", "H", "S", "C"});
  TORCH_CHECK_VALUE((matrix_.size(0) == 1 || matrix_.size(0) == x.size(0)) &&
                        (matrix_.size(1) == 1 || matrix_.size(1) == x.size(1)),
                    "DenseMask::apply: `matrix` has shape ", shape_string(matrix_),
                    ", which does not broadcast over `x` of shape ", shape_string(x));
  return torch::matmul(matrix_.to(x.scalar_type()), x);
}

torch::Tensor DenseMaskOperator::dense(const torch::TensorOptions& options) const {
  return matrix_.to(options);
}

DenseMaskImpl::DenseMaskImpl(const DenseMaskOptions& options) : semantics(options.semantics()) {
  auto m = options.matrix();
  TORCH_CHECK_VALUE(m.defined() && (m.dim() == 2 || m.dim() == 4),
                    "DenseMask: `matrix` must be [L, S] or [B|1, H|1, L, S], got ",
                    m.defined() ? shape_string(m) : "an undefined tensor");
  ShapeChecker("DenseMask").floating(m, "matrix");
  if (m.dim() == 2) m = m.unsqueeze(0).unsqueeze(0);
  matrix = options.learnable() ? register_parameter("matrix", m) : register_buffer("matrix", m);
}

std::shared_ptr<const MaskOperator> DenseMaskImpl::build(const MaskContext& context) {
  check_context(context, "DenseMask", false, false);
  TOPO_CHECK_ARG(
      matrix.size(2) == context.length && matrix.size(3) == context.length &&
          (matrix.size(0) == 1 || matrix.size(0) == context.batch_size),
      "DenseMask", "context",
      c10::str("L = ", matrix.size(2), " tokens and B = ",
               matrix.size(0) == 1 ? std::string("any") : std::to_string(matrix.size(0))),
      c10::str("L = ", context.length, " and B = ", context.batch_size));
  const auto m = semantics == MaskSemantics::kLogitAdditive ? matrix.exp() : matrix;
  return std::make_shared<DenseMaskOperator>(m);
}

void DenseMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::DenseMask(" << matrix.sizes() << ")";
}

}  // namespace topo::attention
