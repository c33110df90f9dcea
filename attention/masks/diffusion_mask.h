// SPDX-License-Identifier: Apache-2.0
/// \file
/// The Markov-process (diffusion) mask M = exp(t_h·W) on (batches of) graphs, with a learnable
/// time per head, applied by a series of sparse products (Chebyshev or scaled Taylor,
/// graph::diffusion) without forming the N×N kernel (Choromanski et al., ICML 2022, section 4).
/// W is the graph's normalised adjacency over the padded tokens (graph b fills the first n_b
/// tokens of batch element b; padding tokens are isolated). On small undirected graphs exact
/// dense attention per graph, with exp(t_h W_b) from W_b's eigenvectors (computed once per
/// batch), is cheaper; the operator chooses per batch (issue 16, `algorithm`).
#pragma once

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"
#include "attention/masks/token_layout.h"
#include "graph/sparse_operator.h"

namespace topo::attention {

struct DiffusionMaskOptions {
  explicit DiffusionMaskOptions(int64_t num_heads) : num_heads_(num_heads) {}
  TORCH_ARG(int64_t, num_heads);
  /// Initial diffusion time t (M = exp(tW) ≥ 0 for t ≥ 0).
  TORCH_ARG(double, time) = 1.0;
  TORCH_ARG(graph::Normalization, normalization) = graph::Normalization::kSymmetric;
  /// Relative truncation error of the series (1e-6 is plenty for training; tests of
  /// exactness use 1e-12).
  TORCH_ARG(double, tolerance) = 1e-6;
  /// The series (Alg. 1), dense attention per graph from the eigendecomposition, or the cheaper
  /// of the two by detail::dense_blocks_are_cheaper.
  TORCH_ARG(GraphMaskAlgorithm, algorithm) = GraphMaskAlgorithm::kAuto;
};

/// Parameter `time` [H]. Built over contexts with a graph.
class DiffusionMaskImpl : public MaskImpl {
 public:
  explicit DiffusionMaskImpl(const DiffusionMaskOptions& options_);
  std::shared_ptr<const MaskOperator> build(const MaskContext& context) override;
  void pretty_print(std::ostream& stream) const override;

  DiffusionMaskOptions options;
  torch::Tensor time;
};
TORCH_MODULE(DiffusionMask);

}  // namespace topo::attention
