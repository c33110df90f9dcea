// SPDX-License-Identifier: Apache-2.0
/// \file
/// Dense oracle of Combiner attention: the exact T×T attention distribution q(j|i) each variant
/// factorises, built from explicit index sets (direct part and regions) on small inputs.
#pragma once

#include <torch/types.h>

#include <vector>

#include "attention/combiner_attention.h"

namespace topo::test {

/// [B, H, T, T] float64 distribution (rows of padded queries are zero). Same options as
/// attention::combiner_attention; also checks that the direct part and the regions partition
/// the allowed keys of every query exactly once.
torch::Tensor combiner_attention_matrix(const torch::Tensor& q, const torch::Tensor& k,
                                        const attention::CombinerFuncOptions& options);

}  // namespace topo::test
