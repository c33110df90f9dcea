// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/causal_mask.h"

#include "common/check.h"

namespace topo::attention {

torch::Tensor CausalMaskImpl::apply(const torch::Tensor& x) {
  ShapeChecker("CausalMask::apply")(x, "x", {"B", "H", "L", "C"});
  return x.cumsum(2);
}

torch::Tensor CausalMaskImpl::dense(int64_t length, const torch::TensorOptions& options) {
  TOPO_CHECK_ARG(length >= 0, "CausalMask::dense", "length", "non-negative", length);
  return torch::ones({1, 1, length, length}, options).tril();
}

void CausalMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::CausalMask()";
}

}  // namespace topo::attention
