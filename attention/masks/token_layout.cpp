// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/token_layout.h"

#include <torch/torch.h>

namespace topo::attention {
namespace detail {

torch::Tensor tokens_to_nodes(const torch::Tensor& x) {
  return x.transpose(0, 1).reshape({x.size(1), x.size(0) * x.size(2), x.size(3)});
}

torch::Tensor nodes_to_tokens(const torch::Tensor& y, int64_t batch_size, int64_t length) {
  return y.view({y.size(0), batch_size, length, y.size(2)}).transpose(0, 1);
}

torch::Tensor diagonal_blocks(const torch::Tensor& m, int64_t batch_size, int64_t length) {
  const auto blocks = m.view({m.size(0), batch_size, length, batch_size, length});
  const auto b = torch::arange(batch_size, torch::kLong);
  return blocks.index({torch::indexing::Slice(), b, torch::indexing::Slice(), b});
}

}  // namespace detail

}  // namespace topo::attention
