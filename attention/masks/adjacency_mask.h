// SPDX-License-Identifier: Apache-2.0
/// \file
/// The adjacency mask M = A + I on (batches of) graphs: exact, sparse attention along the
/// edges and to the token itself (as graph attention networks attend), applied in O(H·E·C).
#pragma once

#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"

namespace topo::attention {

/// No parameters. Edge weights of the context's graph are the mask's values (1 unweighted).
class AdjacencyMaskImpl : public MaskImpl {
 public:
  AdjacencyMaskImpl() = default;
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  bool sparse() const override { return true; }
  void pretty_print(std::ostream& stream) const override;
};
TORCH_MODULE(AdjacencyMask);

}  // namespace topo::attention
