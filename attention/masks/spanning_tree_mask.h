// SPDX-License-Identifier: Apache-2.0
/// \file
/// M = (1/k) Σ_t exp(λ_h · dist_{T_t}(i, j)) over k spanning forests T_t of a (batch of)
/// graph(s): a tree-metric approximation of exp(λ · dist_G), applied exactly in O(k·N) per
/// channel by the two-pass tree product (tree_exp_mask.h; Choromanski et al., ICML 2022,
/// section 4.1).
#pragma once

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"

namespace topo::attention {

enum class SpanningTreeKind { kMinimum, kRandom };
/// "minimum" / "random", and back.
std::string to_string(SpanningTreeKind kind);
SpanningTreeKind spanning_tree_kind_from_string(const std::string& name);

struct SpanningTreeMaskOptions {
  explicit SpanningTreeMaskOptions(int64_t num_heads) : num_heads_(num_heads) {}
  TORCH_ARG(int64_t, num_heads);
  /// Uniform random spanning trees averaged (kRandom, Wilson's algorithm on torch's
  /// generator); kMinimum uses the one minimum spanning tree.
  TORCH_ARG(int64_t, num_trees) = 2;
  TORCH_ARG(SpanningTreeKind, kind) = SpanningTreeKind::kRandom;
  /// Initial λ (negative: the mask decays with tree distance).
  TORCH_ARG(double, lambda) = -1.0;
};

/// Parameter `lambda` [H]. Trees are drawn once per context (shared by the layers with the same
/// settings); a new batch draws new ones. Built over contexts with a graph.
class SpanningTreeMaskImpl : public MaskImpl {
 public:
  explicit SpanningTreeMaskImpl(const SpanningTreeMaskOptions& options_);
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  void pretty_print(std::ostream& stream) const override;

  SpanningTreeMaskOptions options;
  torch::Tensor lambda;
};
TORCH_MODULE(SpanningTreeMask);

}  // namespace topo::attention
