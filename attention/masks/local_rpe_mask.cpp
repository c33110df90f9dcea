// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/local_rpe_mask.h"

#include <torch/torch.h>

#include "attention/masks/sparse_mask.h"

namespace topo::attention {

LocalRPEMaskImpl::LocalRPEMaskImpl(const geometry::LocalRPEOptions& options_) : options(options_) {
  rpe = register_module("rpe", geometry::LocalRPE(options));
}

std::shared_ptr<const MaskOperator> LocalRPEMaskImpl::build(const MaskContext& context) {
  check_context(context, "LocalRPEMask", true, false, /*periodic=*/true);
  const auto local = rpe(context.pos, context.key_padding_mask, context.cell, context.pbc);
  return std::make_shared<SparseMaskOperator>(local.edge_index, local.values, local.batch_size,
                                              local.length);
}

void LocalRPEMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::LocalRPEMask(heads=" << options.num_heads()
         << ", radius=" << options.radius() << ", bins=" << options.num_bins() << ")";
}

}  // namespace topo::attention
