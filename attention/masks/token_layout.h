// SPDX-License-Identifier: Apache-2.0
/// \file
/// Moving between the attention layout [B, H, L, C] and the node layout [H, B·L, C] used by
/// masks defined on (batches of) graphs, whose graph b occupies tokens b·L … b·L + n_b − 1.
#pragma once

#include <torch/types.h>

namespace topo::attention::detail {

/// [B, H, L, C] → [H, B·L, C].
torch::Tensor tokens_to_nodes(const torch::Tensor& x);
/// [H, B·L, C] → [B, H, L, C].
torch::Tensor nodes_to_tokens(const torch::Tensor& y, int64_t batch_size, int64_t length);
/// The per-batch-element diagonal blocks [B, H, L, L] of a [H, B·L, B·L] token matrix.
torch::Tensor diagonal_blocks(const torch::Tensor& m, int64_t batch_size, int64_t length);

}  // namespace topo::attention::detail
