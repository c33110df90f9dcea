// SPDX-License-Identifier: Apache-2.0
#include "models/point_cloud_classifier.h"

#include <torch/torch.h>

#include "common/check.h"

namespace topo::models {

PointCloudClassifierImpl::PointCloudClassifierImpl(const PointCloudClassifierOptions& options_) : options(options_) {
  reset();
}

void PointCloudClassifierImpl::reset() {
  const auto& o = options;
  TOPO_CHECK_ARG(o.pos_dim() >= 1, "PointCloudClassifier", "pos_dim", ">= 1", o.pos_dim());
  TOPO_CHECK_ARG(o.num_classes() >= 2, "PointCloudClassifier", "num_classes", ">= 2", o.num_classes());
  const int64_t in = o.pos_dim() + o.feature_dim() + 2 * o.position_frequencies(), e = o.embed_dim();
  position_frequencies = register_buffer(
      "position_frequencies", torch::randn({o.pos_dim(), o.position_frequencies()}) * o.position_frequency_scale());
  embed = register_module("embed", torch::nn::Sequential(torch::nn::Linear(in, e), torch::nn::GELU(), torch::nn::Linear(e, e)));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    blocks->push_back(TransformerBlock(TransformerBlockOptions(e, o.num_heads())
                                           .dropout(o.dropout())
                                           .feature_map(o.feature_map())
                                           .num_features(o.num_features())
                                           .layer_id(i)
                                           .rpe_dim(o.rpe_features() > 0 ? o.pos_dim() : 0)
                                           .rpe_features(std::max<int64_t>(o.rpe_features(), 1))
                                           .rpe_length_scale(o.rpe_length_scale())));
  }
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({e})));
  head = register_module("head", torch::nn::Sequential(torch::nn::Linear(2 * e, e), torch::nn::GELU(),
                                                       torch::nn::Dropout(o.dropout()), torch::nn::Linear(e, o.num_classes())));
}

torch::Tensor PointCloudClassifierImpl::forward(const torch::Tensor& pos, const torch::Tensor& x,
                                                const torch::Tensor& key_padding_mask) {
  ShapeChecker check("PointCloudClassifier");
  check.bind("d", options.pos_dim(), "the model");
  check(pos, "pos", {"B", "L", "d"});
  if (options.feature_dim() > 0) {
    TOPO_CHECK_ARG(x.defined(), "PointCloudClassifier", "x", c10::str("features [B, L, ", options.feature_dim(), "]"), "undefined");
    check(x, "x", {"B", "L", options.feature_dim()});
  }
  check.optional(key_padding_mask, "key_padding_mask", {"B", "L"});
  std::vector<torch::Tensor> inputs = {pos};
  if (options.feature_dim() > 0) inputs.push_back(x);
  if (options.position_frequencies() > 0) {
    const auto angle = 2 * M_PI * torch::matmul(pos, position_frequencies.to(pos.scalar_type()));
    inputs.push_back(torch::sin(angle));
    inputs.push_back(torch::cos(angle));
  }
  auto h = embed->forward(torch::cat(inputs, -1));
  for (const auto& block : *blocks) h = block->as<TransformerBlock>()->forward(h, key_padding_mask, pos);
  h = norm(h);
  // Masked mean and max over the real points.
  const auto real = key_padding_mask.defined() ? (~key_padding_mask).unsqueeze(-1).to(h.scalar_type())
                                               : torch::ones({h.size(0), h.size(1), 1}, h.options());
  const auto mean = (h * real).sum(1) / real.sum(1).clamp_min(1);
  const auto max = std::get<0>(h.masked_fill(real == 0, -1e9).max(1));
  return head->forward(torch::cat({mean, max}, -1));
}

}  // namespace topo::models
