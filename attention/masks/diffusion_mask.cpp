// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/diffusion_mask.h"

#include <torch/torch.h>

#include "attention/masked_linear_attention.h"
#include "attention/masks/token_layout.h"
#include "common/check.h"
#include "graph/graph_kernels.h"

namespace topo::attention {
namespace {

class DiffusionOperator : public MaskOperator {
 public:
  DiffusionOperator(const graph::SparseOperator& w, torch::Tensor time, MaskContext context,
                    const DiffusionMaskOptions& options)
      : w_(w),
        time_(std::move(time)),
        context_(std::move(context)),
        batch_size_(context_.batch_size),
        length_(context_.length),
        options_(options) {}

  /// Dense attention per graph, exp(t_h W_b) = U_b exp(t_h Λ_b) U_bᵀ, when chosen.
  std::optional<torch::Tensor> attend(const torch::Tensor& phi_q, const torch::Tensor& phi_k,
                                      const torch::Tensor& v,
                                      const torch::Tensor& key_padding_mask) const override {
    if (!dense_chosen(phi_q.size(3), v.size(3))) return std::nullopt;
    const auto& blocks =
        detail::cached_spectral_blocks(context_, options_.normalization(), "DiffusionMask");
    if (!blocks.defined()) return std::nullopt;  // directed: the series
    const auto t = time_.to(phi_q.scalar_type()).view({-1, 1, 1});
    const auto f = torch::exp(t * blocks.values.to(phi_q.options()).unsqueeze(0));  // [H, B, L]
    return dense_masked_linear_attention(phi_q, phi_k, v, detail::spectral_mask_blocks(blocks, f),
                                         key_padding_mask);
  }

  torch::Tensor apply(const torch::Tensor& x) const override {
    ShapeChecker check("DiffusionMask::apply");
    check(x, "x", {batch_size_, time_.size(0), length_, "C"});
    const auto y = graph::diffusion(w_, time_.to(x.scalar_type()), detail::tokens_to_nodes(x),
                                    options_.tolerance());
    return detail::nodes_to_tokens(y, batch_size_, length_);
  }

  torch::Tensor dense(const torch::TensorOptions& options) const override {
    const auto t = time_.detach().to(torch::kDouble).cpu().view({-1, 1, 1});
    const auto m = torch::linalg_matrix_exp(t * w_.dense().unsqueeze(0));
    return detail::diagonal_blocks(m, batch_size_, length_).to(options);
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
    if (context_.graph->directed()) return false;
    const double t_max = time_.detach().abs().max().item<double>();
    return detail::dense_blocks_are_cheaper(
        batch_size_, time_.size(0), length_, features, value_dim, w_.edge_index.size(1),
        double(graph::diffusion_products(w_, t_max, options_.tolerance())),
        detail::has_spectral_blocks(context_, options_.normalization()));
  }

  graph::SparseOperator w_;  // shares its tensors with the context's cache
  torch::Tensor time_;
  MaskContext context_;  // its cache holds the eigendecomposition once made
  int64_t batch_size_, length_;
  DiffusionMaskOptions options_;
};

}  // namespace

DiffusionMaskImpl::DiffusionMaskImpl(const DiffusionMaskOptions& options_) : options(options_) {
  TOPO_CHECK_ARG(options.num_heads() >= 1, "DiffusionMask", "num_heads", ">= 1",
                 options.num_heads());
  TOPO_CHECK_ARG(options.tolerance() > 0 && options.tolerance() < 1, "DiffusionMask", "tolerance",
                 "in (0, 1)", options.tolerance());
  time = register_parameter("time", torch::full({options.num_heads()}, options.time()));
}

std::shared_ptr<const MaskOperator> DiffusionMaskImpl::build(const MaskContext& context) {
  const auto& w = detail::cached_token_operator(context, options.normalization(), "DiffusionMask");
  return std::make_shared<DiffusionOperator>(w, time, context, options);
}

void DiffusionMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::DiffusionMask(heads=" << options.num_heads()
         << ", normalization=" << to_string(options.normalization())
         << ", tolerance=" << options.tolerance()
         << ", algorithm=" << to_string(options.algorithm()) << ")";
}

}  // namespace topo::attention
