// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/graph_random_feature_mask.h"

#include <torch/torch.h>

#include <cmath>

#include "attention/masks/token_layout.h"
#include "common/check.h"
#include "graph/sparse_matmul.h"

namespace topo::attention {

GraphRandomFeatureMaskImpl::GraphRandomFeatureMaskImpl(const GraphRandomFeatureMaskOptions& options_,
                                                       const graph::Graph& graph, int64_t length_)
    : options(options_), batch_size(graph.num_graphs()), length(length_) {
  const char* fn = "GraphRandomFeatureMask";
  TOPO_CHECK_ARG(options.num_heads() >= 1, fn, "num_heads", ">= 1", options.num_heads());
  TOPO_CHECK_ARG(options.max_length() >= 0, fn, "max_length", ">= 0", options.max_length());
  TOPO_CHECK_ARG(batch_size >= 1, fn, "graph", "at least one graph", "an empty batch");
  // The graph moved onto the padded tokens (arcs kept as they are).
  const auto tokens = graph::node_to_token(graph, length);
  token_graph = graph::Graph(tokens.index({graph.edge_index()}), graph.weight(), batch_size * length, {},
                             graph::GraphOptions().directed(true));
  w = graph::adjacency_operator(token_graph, options.normalization());
  TOPO_CHECK_ARG(w.values.numel() == 0 || w.values.min().item<double>() >= 0, fn, "graph",
                 "non-negative edge weights", "a negative weight");
  // f_k = exp(−k/2) initially: softplus⁻¹(y) = log(e^y − 1).
  const auto f0 = torch::exp(-0.5 * torch::arange(options.max_length() + 1, torch::kFloat));
  modulation_logits = register_parameter(
      "modulation_logits", torch::log(torch::expm1(f0)).unsqueeze(0).repeat({options.num_heads(), 1}));
  resample();
}

void GraphRandomFeatureMaskImpl::resample() {
  const auto walk_options = graph::RandomWalkOptions()
                                .walks_per_node(options.walks_per_node())
                                .max_length(options.max_length())
                                .halt_probability(options.halt_probability())
                                .antithetic(options.antithetic());
  query_features = graph::graph_random_features(token_graph, w, walk_options);
  key_features = graph::graph_random_features(token_graph, w, walk_options);
}

torch::Tensor GraphRandomFeatureMaskImpl::modulation() {
  return torch::nn::functional::softplus(modulation_logits);
}

torch::Tensor GraphRandomFeatureMaskImpl::apply(const torch::Tensor& x) {
  ShapeChecker check("GraphRandomFeatureMask::apply");
  check.bind("B", batch_size, "the mask").bind("L", length, "the mask").bind("H", options.num_heads(), "the mask");
  check(x, "x", {"B", "H", "L", "C"});
  const int64_t n = batch_size * length;
  const auto f = modulation().to(x.scalar_type());  // [H, K + 1]
  // Φ values per head, linear in f: loads [nnz, K + 1] · fᵀ → [H, nnz].
  const auto values = [&](const graph::SparseFeatures& features) {
    return torch::matmul(f, features.values.to(x.device(), x.scalar_type()).t());
  };
  const auto nodes = detail::tokens_to_nodes(x);
  // Bucket algorithm: z_v = Σ_j Φ_K[j, v] x_j, then out_i = Σ_v Φ_Q[i, v] z_v.
  const auto z = graph::sparse_matmul(key_features.edge_index.flip(0).to(x.device()), values(key_features),
                                      nodes, n);
  const auto out = graph::sparse_matmul(query_features.edge_index.to(x.device()), values(query_features), z, n);
  return detail::nodes_to_tokens(out, batch_size, length);
}

torch::Tensor GraphRandomFeatureMaskImpl::dense(int64_t length_, const torch::TensorOptions& options_) {
  TORCH_CHECK_VALUE(length_ == length, "GraphRandomFeatureMask::dense: `length` must be ", length, ", got ",
                    length_);
  const auto f = modulation().detach().to(torch::kDouble);
  const auto phi = [&](const graph::SparseFeatures& features) {
    return torch::einsum("hk,kij->hij", {f, features.dense()});
  };
  const auto m = torch::matmul(phi(query_features), phi(key_features).transpose(1, 2));
  return detail::diagonal_blocks(m, batch_size, length).to(options_);
}

torch::Tensor GraphRandomFeatureMaskImpl::expected_dense(const torch::TensorOptions& options_) {
  // E[Φ_Q] = E[Φ_K] = Σ_k f_k W^k per head, and the two sides are independent.
  const auto f = modulation().detach().to(torch::kDouble);
  const auto wd = w.dense();
  auto power = torch::eye(w.num_nodes, torch::kDouble);
  auto phi = f.select(1, 0).view({-1, 1, 1}) * power;
  for (int64_t k = 1; k < f.size(1); ++k) {
    power = torch::matmul(wd, power);
    phi = phi + f.select(1, k).view({-1, 1, 1}) * power;
  }
  const auto m = torch::matmul(phi, phi.transpose(1, 2));
  return detail::diagonal_blocks(m, batch_size, length).to(options_);
}

void GraphRandomFeatureMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::GraphRandomFeatureMask(heads=" << options.num_heads()
         << ", max_length=" << options.max_length() << ", walks=" << options.walks_per_node() << ")";
}

}  // namespace topo::attention
