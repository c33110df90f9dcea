// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/graph_random_feature_mask.h"

#include <torch/torch.h>

#include "attention/masks/random_walk_kernel_mask.h"
#include "attention/masks/token_layout.h"
#include "common/check.h"
#include "graph/random_walks.h"
#include "graph/sparse_matmul.h"

namespace topo::attention {
namespace {

/// One batch's walks: query and key features over the token graph.
struct GraphRandomFeatures {
  graph::SparseFeatures query, key;
};

class GraphRandomFeatureOperator : public MaskOperator {
 public:
  GraphRandomFeatureOperator(const GraphRandomFeatures& features, torch::Tensor modulation,
                             int64_t batch_size, int64_t length)
      : features_(features), f_(std::move(modulation)), batch_size_(batch_size), length_(length) {}

  torch::Tensor apply(const torch::Tensor& x) const override {
    ShapeChecker check("GraphRandomFeatureMask::apply");
    check(x, "x", {batch_size_, f_.size(0), length_, "C"});
    const int64_t n = batch_size_ * length_;
    const auto f = f_.to(x.scalar_type());  // [H, K + 1]
    // Φ values per head, linear in f: loads [nnz, K + 1] · fᵀ → [H, nnz].
    const auto values = [&](const graph::SparseFeatures& features) {
      return torch::matmul(f, features.values.to(x.device(), x.scalar_type()).t());
    };
    const auto nodes = detail::tokens_to_nodes(x);
    // Bucket algorithm: z_v = Σ_j Φ_K[j, v] x_j, then out_i = Σ_v Φ_Q[i, v] z_v.
    const auto z = graph::sparse_matmul(features_.key.edge_index.flip(0).to(x.device()),
                                        values(features_.key), nodes, n);
    const auto out = graph::sparse_matmul(features_.query.edge_index.to(x.device()),
                                          values(features_.query), z, n);
    return detail::nodes_to_tokens(out, batch_size_, length_);
  }

  /// The estimate Φ_Q Φ_Kᵀ [B, H, L, L].
  torch::Tensor dense(const torch::TensorOptions& options) const override {
    const auto f = f_.detach().to(torch::kDouble).cpu();
    const auto phi = [&](const graph::SparseFeatures& features) {
      return torch::einsum("hk,kij->hij", {f, features.dense()});
    };
    const auto m = torch::matmul(phi(features_.query), phi(features_.key).transpose(1, 2));
    return detail::diagonal_blocks(m, batch_size_, length_).to(options);
  }

 private:
  GraphRandomFeatures features_;
  torch::Tensor f_;
  int64_t batch_size_, length_;
};

}  // namespace

GraphRandomFeatureMaskImpl::GraphRandomFeatureMaskImpl(
    const GraphRandomFeatureMaskOptions& options_)
    : options(options_) {
  const char* fn = "GraphRandomFeatureMask";
  TOPO_CHECK_ARG(options.num_heads() >= 1, fn, "num_heads", ">= 1", options.num_heads());
  TOPO_CHECK_ARG(options.max_length() >= 0, fn, "max_length", ">= 0", options.max_length());
  TOPO_CHECK_ARG(options.walks_per_node() >= 1, fn, "walks_per_node", ">= 1",
                 options.walks_per_node());
  TOPO_CHECK_ARG(options.halt_probability() >= 0 && options.halt_probability() < 1, fn,
                 "halt_probability", "in [0, 1)", options.halt_probability());
  // f_k = exp(−k/2) initially: softplus⁻¹(y) = log(e^y − 1).
  const auto f0 = torch::exp(-0.5 * torch::arange(options.max_length() + 1, torch::kFloat));
  modulation_logits = register_parameter(
      "modulation_logits",
      torch::log(torch::expm1(f0)).unsqueeze(0).repeat({options.num_heads(), 1}));
}

torch::Tensor GraphRandomFeatureMaskImpl::modulation() {
  return torch::nn::functional::softplus(modulation_logits);
}

std::shared_ptr<const MaskOperator> GraphRandomFeatureMaskImpl::build(const MaskContext& context) {
  const char* fn = "GraphRandomFeatureMask";
  const auto& g = detail::context_graph(context, fn);
  const auto& o = options;
  const auto key = c10::str("grf/", to_string(o.normalization()), "/", o.max_length(), "/",
                            o.walks_per_node(), "/", o.halt_probability(), "/", o.antithetic());
  const auto& features = context.cache->get<GraphRandomFeatures>(key, [&] {
    // The graph moved onto the padded tokens (arcs kept as they are).
    const auto tokens = graph::node_to_token(g, context.length);
    const graph::Graph token_graph(tokens.index({g.edge_index()}), g.weight(),
                                   context.batch_size * context.length, {},
                                   graph::GraphOptions().directed(true));
    const auto w = graph::adjacency_operator(token_graph, o.normalization());
    TOPO_CHECK_ARG(w.values.numel() == 0 || w.values.min().item<double>() >= 0, fn, "context.graph",
                   "non-negative edge weights", "a negative weight");
    const auto walk_options = graph::RandomWalkOptions()
                                  .walks_per_node(o.walks_per_node())
                                  .max_length(o.max_length())
                                  .halt_probability(o.halt_probability())
                                  .antithetic(o.antithetic());
    auto query = graph::graph_random_features(token_graph, w, walk_options);
    auto key_features = graph::graph_random_features(token_graph, w, walk_options);
    return GraphRandomFeatures{std::move(query), std::move(key_features)};
  });
  return std::make_shared<GraphRandomFeatureOperator>(features, modulation(), context.batch_size,
                                                      context.length);
}

torch::Tensor GraphRandomFeatureMaskImpl::expected_dense(const MaskContext& context,
                                                         const torch::TensorOptions& options_) {
  // E[Φ_Q] = E[Φ_K] = Σ_k f_k W^k per head, and the two sides are independent.
  const auto& w =
      detail::cached_token_operator(context, options.normalization(), "GraphRandomFeatureMask");
  const auto phi = detail::dense_power_series(w, modulation());
  const auto m = torch::matmul(phi, phi.transpose(1, 2));
  return detail::diagonal_blocks(m, context.batch_size, context.length).to(options_);
}

void GraphRandomFeatureMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::GraphRandomFeatureMask(heads=" << options.num_heads()
         << ", max_length=" << options.max_length() << ", walks=" << options.walks_per_node()
         << ")";
}

}  // namespace topo::attention
