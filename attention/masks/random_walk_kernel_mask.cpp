// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/random_walk_kernel_mask.h"

#include <torch/torch.h>

#include "attention/masked_linear_attention.h"
#include "attention/masks/token_layout.h"
#include "common/check.h"
#include "graph/graph_kernels.h"

namespace topo::attention {
namespace detail {

torch::Tensor dense_power_series(const graph::SparseOperator& w,
                                 const torch::Tensor& coefficients) {
  const auto a = coefficients.detach().to(torch::kDouble).cpu();
  const auto wd = w.dense();
  auto power = torch::eye(w.num_nodes, torch::kDouble);
  auto m = a.select(1, 0).view({-1, 1, 1}) * power;
  for (int64_t k = 1; k < a.size(1); ++k) {
    power = torch::matmul(wd, power);
    m = m + a.select(1, k).view({-1, 1, 1}) * power;
  }
  return m;
}

}  // namespace detail

namespace {

class RandomWalkKernelOperator : public MaskOperator {
 public:
  RandomWalkKernelOperator(graph::SparseOperator w, torch::Tensor alpha, MaskContext context,
                           const RandomWalkKernelMaskOptions& options)
      : w_(std::move(w)),
        alpha_(std::move(alpha)),
        context_(std::move(context)),
        batch_size_(context_.batch_size),
        length_(context_.length),
        options_(options) {}

  /// Dense attention per graph, Σ_k α_hk W_b^k = U_b (Σ_k α_hk Λ_b^k) U_bᵀ, when chosen.
  std::optional<torch::Tensor> attend(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                      const torch::Tensor& v,
                                      const torch::Tensor& key_padding_mask) const override {
    if (!dense_chosen(phi_q.size(3), v.size(3))) return std::nullopt;
    const auto& blocks =
        detail::cached_spectral_blocks(context_, options_.normalization(), "RandomWalkKernelMask");
    if (!blocks.defined()) return std::nullopt;  // directed: the series
    const auto powers = blocks.values.to(phi_q.options())
                            .unsqueeze(-1)
                            .pow(torch::arange(alpha_.size(1), phi_q.options()));  // [B, L, P+1]
    const auto f = torch::matmul(powers, alpha_.to(phi_q.scalar_type()).t()).permute({2, 0, 1});
    return dense_masked_linear_attention(phi_q, phi_k, v, detail::spectral_mask_blocks(blocks, f),
                                         key_padding_mask);
  }

  torch::Tensor apply(const torch::Tensor& x) const override {
    ShapeChecker check("RandomWalkKernelMask::apply");
    check(x, "x", {batch_size_, alpha_.size(0), length_, "C"});
    const auto y =
        graph::random_walk_kernel(w_, alpha_.to(x.scalar_type()), detail::tokens_to_nodes(x));
    return detail::nodes_to_tokens(y, batch_size_, length_);
  }

  torch::Tensor dense(const torch::TensorOptions& options) const override {
    return detail::diagonal_blocks(detail::dense_power_series(w_, alpha_), batch_size_, length_)
        .to(options);
  }

 private:
  bool dense_chosen(int64_t features, int64_t value_dim) const {
    switch (options_.algorithm()) {
      case GraphMaskAlgorithm::kSeries:
        return false;
      case GraphMaskAlgorithm::kDense:
        return true;
      case GraphMaskAlgorithm::kAuto:
        break;
    }
    return !context_.graph->directed() &&
           detail::dense_blocks_are_cheaper(
               batch_size_, alpha_.size(0), length_, features, value_dim, w_.edge_index.size(1),
               double(alpha_.size(1) - 1),
               detail::has_spectral_blocks(context_, options_.normalization()));
  }

  graph::SparseOperator w_;
  torch::Tensor alpha_;
  MaskContext context_;  // its cache holds the eigendecomposition once made
  int64_t batch_size_, length_;
  RandomWalkKernelMaskOptions options_;
};

}  // namespace

RandomWalkKernelMaskImpl::RandomWalkKernelMaskImpl(const RandomWalkKernelMaskOptions& options_)
    : options(options_) {
  TOPO_CHECK_ARG(options.num_heads() >= 1, "RandomWalkKernelMask", "num_heads", ">= 1",
                 options.num_heads());
  TOPO_CHECK_ARG(options.num_steps() >= 0, "RandomWalkKernelMask", "num_steps", ">= 0",
                 options.num_steps());
  alpha = register_parameter("alpha",
                             torch::pow(0.5, torch::arange(options.num_steps() + 1, torch::kFloat))
                                 .repeat({options.num_heads(), 1}));
}

std::shared_ptr<const MaskOperator> RandomWalkKernelMaskImpl::build(const MaskContext& context) {
  const auto& w =
      detail::cached_token_operator(context, options.normalization(), "RandomWalkKernelMask");
  return std::make_shared<RandomWalkKernelOperator>(w, alpha, context, options);
}

void RandomWalkKernelMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::RandomWalkKernelMask(heads=" << options.num_heads()
         << ", steps=" << options.num_steps()
         << ", normalization=" << to_string(options.normalization())
         << ", algorithm=" << to_string(options.algorithm()) << ")";
}

}  // namespace topo::attention
