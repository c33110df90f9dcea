// SPDX-License-Identifier: Apache-2.0
/// \file
/// Graph-kernel masks on (batches of) graphs, applied by sparse products without forming the
/// N×N kernel: the Markov-process (diffusion) mask M = exp(t_h·W) with a learnable time per
/// head, and the p-step random-walk kernel mask M = Σ_k α_{h,k} W^k with learnable α.
/// W is the graph's normalised adjacency over the padded tokens (graph b fills the first n_b
/// tokens of batch element b; padding tokens are isolated).
#pragma once

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "attention/masks/mask.h"
#include "graph/graph.h"
#include "graph/sparse_operator.h"

namespace topo::attention {

/// W over all batch_size·length tokens (node_to_token), for the masks below.
graph::SparseOperator token_operator(const graph::Graph& graph, int64_t length,
                                     graph::Normalization normalization);

struct DiffusionMaskOptions {
  explicit DiffusionMaskOptions(int64_t num_heads) : num_heads_(num_heads) {}
  TORCH_ARG(int64_t, num_heads);
  /// Initial diffusion time t (M = exp(tW) ≥ 0 for t ≥ 0).
  TORCH_ARG(double, time) = 1.0;
  TORCH_ARG(graph::Normalization, normalization) = graph::Normalization::kSymmetric;
  /// Relative truncation error of the Taylor series.
  TORCH_ARG(double, tolerance) = 1e-8;
};

class DiffusionMaskImpl : public Mask {
 public:
  DiffusionMaskImpl(const DiffusionMaskOptions& options_, const graph::Graph& graph, int64_t length);
  torch::Tensor apply(const torch::Tensor& x) override;
  torch::Tensor dense(int64_t length, const torch::TensorOptions& options) override;
  void pretty_print(std::ostream& stream) const override;

  DiffusionMaskOptions options;
  graph::SparseOperator w;
  int64_t batch_size, length;
  torch::Tensor time;  ///< parameter [H]
};
TORCH_MODULE(DiffusionMask);

struct RandomWalkKernelMaskOptions {
  RandomWalkKernelMaskOptions(int64_t num_heads, int64_t num_steps)
      : num_heads_(num_heads), num_steps_(num_steps) {}
  TORCH_ARG(int64_t, num_heads);
  /// p: the polynomial has α_0 … α_p.
  TORCH_ARG(int64_t, num_steps);
  TORCH_ARG(graph::Normalization, normalization) = graph::Normalization::kSymmetric;
};

/// α starts at 2^(−k); keep α ≥ 0 (and W ≥ 0) for a non-negative mask.
class RandomWalkKernelMaskImpl : public Mask {
 public:
  RandomWalkKernelMaskImpl(const RandomWalkKernelMaskOptions& options_, const graph::Graph& graph,
                           int64_t length);
  torch::Tensor apply(const torch::Tensor& x) override;
  torch::Tensor dense(int64_t length, const torch::TensorOptions& options) override;
  void pretty_print(std::ostream& stream) const override;

  RandomWalkKernelMaskOptions options;
  graph::SparseOperator w;
  int64_t batch_size, length;
  torch::Tensor alpha;  ///< parameter [H, p + 1]
};
TORCH_MODULE(RandomWalkKernelMask);


}  // namespace topo::attention
