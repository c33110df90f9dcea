// SPDX-License-Identifier: Apache-2.0
#include "models/transformer_block.h"

#include <torch/torch.h>

#include <algorithm>

#include "common/check.h"

namespace topo::models {
namespace {

const std::vector<std::pair<std::string, attention::FeatureMapKind>>& feature_maps() {
  static const std::vector<std::pair<std::string, attention::FeatureMapKind>> maps = {
      {"softmax", attention::FeatureMapKind::kSoftmaxPositive},
      {"softmax-hyperbolic", attention::FeatureMapKind::kSoftmaxHyperbolic},
      {"relu-random", attention::FeatureMapKind::kReluRandom},
      {"relu", attention::FeatureMapKind::kRelu},
      {"elu", attention::FeatureMapKind::kEluPlusOne},
      {"softmax-exact", attention::FeatureMapKind::kSoftmaxExact}};
  return maps;
}

}  // namespace

attention::FeatureMapKind feature_map_kind_from_string(const std::string& name) {
  std::string list;
  for (const auto& [text, kind] : feature_maps()) {
    if (text == name) return kind;
    list += (list.empty() ? "\"" : ", \"") + text + "\"";
  }
  TOPO_CHECK_ARG(false, "feature_map_kind_from_string", "name", "one of " + list,
                 "\"" + name + "\"");
  return attention::FeatureMapKind::kSoftmaxPositive;
}

std::string to_string(attention::FeatureMapKind kind) {
  for (const auto& [text, k] : feature_maps()) {
    if (k == kind) return text;
  }
  return "?";
}

std::vector<std::string> feature_map_names() {
  std::vector<std::string> names;
  for (const auto& entry : feature_maps()) names.push_back(entry.first);
  return names;
}

std::vector<attention::MaskSpec> model_masks(const std::vector<attention::MaskSpec>& masks,
                                             const char* model,
                                             const std::vector<attention::MaskInput>& inputs,
                                             int64_t pos_dim,
                                             attention::FeatureMapKind feature_map) {
  std::vector<attention::MaskSpec> out;
  std::string offered;
  for (const auto input : inputs)
    offered += (offered.empty() ? "" : ", ") + attention::to_string(input);
  for (auto spec : masks) {
    const auto& info = attention::mask_info(spec.name);
    TOPO_CHECK_ARG(
        std::find(inputs.begin(), inputs.end(), info.input) != inputs.end(), model, "masks",
        c10::str("masks over what its tokens carry (", offered, ")"),
        c10::str("\"", spec.name, "\", which needs a ", attention::to_string(info.input)));
    if (spec.name == "flt") {
      if (!spec.settings.contains("dim")) spec.settings.set("dim", pos_dim);
      TOPO_CHECK_ARG(spec.settings.integer("dim") == pos_dim, model, "masks",
                     c10::str("flt with dim = ", pos_dim, " (the positions' dimension)"),
                     c10::str("dim = ", spec.settings.integer("dim")));
      if (!spec.settings.contains("semantics")) {
        spec.settings.set(
            "semantics", std::string(attention::is_softmax_kernel(feature_map) ? "logit-additive"
                                                                               : "multiplicative"));
      }
    }
    attention::resolve_mask_settings(spec.name, spec.settings);  // reports bad settings now
    out.push_back(std::move(spec));
  }
  return out;
}

bool needs_graph(const std::vector<attention::MaskSpec>& masks) {
  return std::any_of(masks.begin(), masks.end(), [](const attention::MaskSpec& spec) {
    return attention::mask_info(spec.name).input == attention::MaskInput::kGraph;
  });
}

TransformerBlockImpl::TransformerBlockImpl(const TransformerBlockOptions& options_)
    : options(options_) {
  reset();
}

void TransformerBlockImpl::reset() {
  const auto& o = options;
  TOPO_CHECK_ARG(o.num_heads() >= 1 && o.embed_dim() % o.num_heads() == 0, "TransformerBlock",
                 "embed_dim", c10::str("a multiple of num_heads = ", o.num_heads()), o.embed_dim());
  TOPO_CHECK_ARG(o.mlp_ratio() >= 0, "TransformerBlock", "mlp_ratio", ">= 0 (0: no MLP)",
                 o.mlp_ratio());
  TOPO_CHECK_ARG(!(o.combiner() && !o.masks().empty()), "TransformerBlock", "masks",
                 "empty with Combiner attention", c10::str(o.masks().size(), " masks"));
  norm1 =
      register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_dim()})));
  // Registered before self_attn as before, so blocks with an MLP keep their parameter order
  // (checkpoints, optimizer state).
  if (o.mlp_ratio() > 0) {
    norm2 = register_module("norm2",
                            torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.embed_dim()})));
  }
  std::vector<std::shared_ptr<attention::MaskImpl>> masks;
  for (const auto& spec : o.masks())
    masks.push_back(attention::make_mask(spec.name, o.num_heads(), spec.settings));
  self_attn = register_module(
      "self_attn",
      attention::LinearAttention(attention::LinearAttentionOptions(o.embed_dim(), o.num_heads())
                                     .feature_map(attention::FeatureMapOptions(1)
                                                      .kind(o.feature_map())
                                                      .num_features(o.num_features())
                                                      .redraw_interval(o.redraw_interval())
                                                      .layer_id(o.layer_id()))
                                     .masks(masks)));
  if (o.mlp_ratio() > 0) {
    mlp = register_module(
        "mlp",
        torch::nn::Sequential(torch::nn::Linear(o.embed_dim(), o.mlp_ratio() * o.embed_dim()),
                              torch::nn::GELU(), torch::nn::Dropout(o.dropout()),
                              torch::nn::Linear(o.mlp_ratio() * o.embed_dim(), o.embed_dim())));
  }
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x,
                                            const torch::Tensor& key_padding_mask,
                                            const attention::MaskContext* context) {
  ShapeChecker check("TransformerBlock");
  check.bind("E", options.embed_dim(), "the block");
  check(x, "x", {"B", "L", "E"});
  check.optional(key_padding_mask, "key_padding_mask", {"B", "L"});
  const auto h = norm1(x);
  const auto [q, k, v] = self_attn->project(h, h, h);
  const auto attended = options.combiner()
                            ? attention::combiner_attention(q, k, v,
                                                            attention::CombinerFuncOptions()
                                                                .variant(options.combiner_variant())
                                                                .key_padding_mask(key_padding_mask))
                            : self_attn->attend(q, k, v, key_padding_mask, {}, context);
  auto y = x + dropout(self_attn->merge(attended));
  if (!mlp) return y;
  return y + dropout(mlp->forward(norm2(y)));
}

}  // namespace topo::models
