// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/graph_kernel_mask.h"

#include <torch/torch.h>

#include "attention/masks/token_layout.h"
#include "common/check.h"
#include "graph/graph_kernels.h"

namespace topo::attention {

graph::SparseOperator token_operator(const graph::Graph& graph, int64_t length,
                                     graph::Normalization normalization) {
  auto op = graph::adjacency_operator(graph, normalization);
  const auto tokens = graph::node_to_token(graph, length);
  op.edge_index = tokens.index({op.edge_index});
  op.num_nodes = graph.num_graphs() * length;
  return op;
}

namespace {

void check_input(const char* fn, const torch::Tensor& x, int64_t batch, int64_t length, int64_t heads) {
  ShapeChecker check(fn);
  check.bind("B", batch, "the mask").bind("L", length, "the mask").bind("H", heads, "the mask");
  check(x, "x", {"B", "H", "L", "C"});
}

}  // namespace

DiffusionMaskImpl::DiffusionMaskImpl(const DiffusionMaskOptions& options_, const graph::Graph& graph,
                                     int64_t length_)
    : options(options_), batch_size(graph.num_graphs()), length(length_) {
  TOPO_CHECK_ARG(options.num_heads() >= 1, "DiffusionMask", "num_heads", ">= 1", options.num_heads());
  TOPO_CHECK_ARG(batch_size >= 1, "DiffusionMask", "graph", "at least one graph", "an empty batch");
  w = token_operator(graph, length, options.normalization());
  time = register_parameter("time", torch::full({options.num_heads()}, options.time()));
}

torch::Tensor DiffusionMaskImpl::apply(const torch::Tensor& x) {
  check_input("DiffusionMask::apply", x, batch_size, length, options.num_heads());
  const auto y = graph::diffusion(w, time.to(x.scalar_type()), detail::tokens_to_nodes(x), options.tolerance());
  return detail::nodes_to_tokens(y, batch_size, length);
}

torch::Tensor DiffusionMaskImpl::dense(int64_t length_, const torch::TensorOptions& options_) {
  TORCH_CHECK_VALUE(length_ == length, "DiffusionMask::dense: `length` must be ", length, ", got ", length_);
  const auto t = time.detach().to(torch::kDouble).view({-1, 1, 1});
  const auto m = torch::linalg_matrix_exp(t * w.dense().unsqueeze(0));
  return detail::diagonal_blocks(m, batch_size, length).to(options_);
}

void DiffusionMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::DiffusionMask(heads=" << options.num_heads() << ", tokens=" << w.num_nodes << ")";
}

RandomWalkKernelMaskImpl::RandomWalkKernelMaskImpl(const RandomWalkKernelMaskOptions& options_,
                                                   const graph::Graph& graph, int64_t length_)
    : options(options_), batch_size(graph.num_graphs()), length(length_) {
  TOPO_CHECK_ARG(options.num_heads() >= 1, "RandomWalkKernelMask", "num_heads", ">= 1", options.num_heads());
  TOPO_CHECK_ARG(options.num_steps() >= 0, "RandomWalkKernelMask", "num_steps", ">= 0", options.num_steps());
  TOPO_CHECK_ARG(batch_size >= 1, "RandomWalkKernelMask", "graph", "at least one graph", "an empty batch");
  w = token_operator(graph, length, options.normalization());
  alpha = register_parameter(
      "alpha", torch::pow(0.5, torch::arange(options.num_steps() + 1, torch::kFloat)).repeat({options.num_heads(), 1}));
}

torch::Tensor RandomWalkKernelMaskImpl::apply(const torch::Tensor& x) {
  check_input("RandomWalkKernelMask::apply", x, batch_size, length, options.num_heads());
  const auto y = graph::random_walk_kernel(w, alpha.to(x.scalar_type()), detail::tokens_to_nodes(x));
  return detail::nodes_to_tokens(y, batch_size, length);
}

torch::Tensor RandomWalkKernelMaskImpl::dense(int64_t length_, const torch::TensorOptions& options_) {
  TORCH_CHECK_VALUE(length_ == length, "RandomWalkKernelMask::dense: `length` must be ", length, ", got ",
                    length_);
  const auto a = alpha.detach().to(torch::kDouble);
  const auto wd = w.dense();
  auto power = torch::eye(w.num_nodes, torch::kDouble);
  auto m = a.select(1, 0).view({-1, 1, 1}) * power;
  for (int64_t k = 1; k < a.size(1); ++k) {
    power = torch::matmul(wd, power);
    m = m + a.select(1, k).view({-1, 1, 1}) * power;
  }
  return detail::diagonal_blocks(m, batch_size, length).to(options_);
}

void RandomWalkKernelMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::RandomWalkKernelMask(heads=" << options.num_heads()
         << ", steps=" << options.num_steps() << ")";
}

}  // namespace topo::attention
