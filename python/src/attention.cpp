// SPDX-License-Identifier: Apache-2.0
// Feature maps, (masked) linear attention, the masks of the registry and the attention modules
// for Python. Inputs follow PyTorch Geometric's node layout (x [N, E], edge_index, pos [N, d],
// batch [N]) or the padded layout ([B, L, E] with key_padding_mask and pos [B, L, d]).
#include <torch/torch.h>

#include "attention/feature_map.h"
#include "attention/linear_attention.h"
#include "attention/masked_linear_attention.h"
#include "attention/random_projection.h"
#include "bindings.h"
#include "common/check.h"
#include "geometry/point_cloud.h"
#include "graph/graph.h"
#include "models/graph_attention.h"
#include "models/transformer_block.h"

namespace topo::python {
namespace {

using attention::MaskContext;
using attention::MaskImpl;
using attention::MaskOperator;
using attention::MaskSpec;

attention::FeatureRole role_from_string(const std::string& role) {
  if (role == "query") return attention::FeatureRole::kQuery;
  if (role == "key") return attention::FeatureRole::kKey;
  if (role == "causal-key") return attention::FeatureRole::kCausalKey;
  TORCH_CHECK_VALUE(false,
                    "feature_map: `role` must be \"query\", \"key\" or \"causal-key\", got \"",
                    role, "\"");
}

/// [(name, settings dict)] → mask specs.
std::vector<MaskSpec> to_specs(const std::vector<std::pair<std::string, py::dict>>& masks,
                               const std::string& where) {
  std::vector<MaskSpec> specs;
  for (const auto& [name, settings] : masks)
    specs.push_back({name, to_mask_settings(settings, where)});
  return specs;
}

/// The tokens of one batch and the structure masks are built from.
struct Tokens {
  MaskContext context;
  torch::Tensor padding;  ///< [B, L] true = padded (node layout: the nodes' slots)
  torch::Tensor batch;    ///< node layout: [N] graph/cloud id; padded layout: undefined
};

/// Node layout when `x` is [N, E] (graphs or clouds by `batch`), padded layout when [B, L, E].
/// The graph (edge_index over the N nodes) and positions are optional: masks that need them
/// report their absence.
Tokens make_tokens(const char* fn, const torch::Tensor& x, const torch::Tensor& key_padding_mask,
                   const torch::Tensor& pos, const torch::Tensor& edge_index,
                   const torch::Tensor& batch, const torch::Tensor& edge_weight) {
  Tokens t;
  if (x.dim() == 2) {
    TOPO_CHECK_ARG(
        !key_padding_mask.defined(), fn, "key_padding_mask",
        "absent for node-layout inputs x [N, E] (`batch` says which nodes belong together)",
        "a tensor");
    if (edge_index.defined()) {
      auto graphs = models::make_graph_batch(x, edge_index, batch, edge_weight);
      t.context = graphs.context;
      t.batch = graphs.batch;
    } else {
      t.batch = batch.defined()
                    ? batch
                    : torch::zeros({x.size(0)}, torch::dtype(torch::kLong).device(x.device()));
      TOPO_CHECK_ARG(t.batch.dim() == 1 && t.batch.size(0) == x.size(0), fn, "batch",
                     c10::str("[N=", x.size(0), "] (one id per node)"), shape_string(t.batch));
      const int64_t count = t.batch.numel() ? t.batch.max().item<int64_t>() + 1 : 0;
      const auto counts = torch::bincount(t.batch.cpu(), {}, count);
      const int64_t length = count ? counts.max().item<int64_t>() : 0;
      t.context.batch_size = count;
      t.context.length = length;
      t.context.key_padding_mask =
          (torch::arange(length).unsqueeze(0) >= counts.unsqueeze(1)).to(x.device());
    }
    t.padding = t.context.key_padding_mask;
    if (pos.defined()) {
      TOPO_CHECK_ARG(pos.dim() == 2 && pos.size(0) == x.size(0), fn, "pos",
                     c10::str("[N=", x.size(0), ", d] (node layout, as x)"), shape_string(pos));
      t.context.pos = geometry::to_padded(pos, t.batch, t.context.batch_size).first;
    }
  } else {
    TOPO_CHECK_ARG(x.dim() == 3, fn, "x", "[N, E] (node layout) or [B, L, E] (padded layout)",
                   shape_string(x));
    TOPO_CHECK_ARG(!edge_index.defined() && !batch.defined(), fn, "edge_index",
                   "absent for padded inputs [B, L, E] (graphs take the node layout x [N, E] "
                   "with edge_index and batch)",
                   "a tensor");
    t.context.batch_size = x.size(0);
    t.context.length = x.size(1);
    t.context.key_padding_mask = key_padding_mask;
    t.padding = key_padding_mask;
    if (pos.defined()) {
      TOPO_CHECK_ARG(pos.dim() == 3 && pos.size(0) == x.size(0) && pos.size(1) == x.size(1), fn,
                     "pos", c10::str("[B=", x.size(0), ", L=", x.size(1), ", d]"),
                     shape_string(pos));
      t.context.pos = pos;
    }
  }
  t.context.options = x.options();
  return t;
}

torch::Tensor to_tokens(const Tokens& t, const torch::Tensor& x) {
  return x.dim() == 2 ? geometry::to_padded(x, t.batch, t.context.batch_size).first : x;
}
torch::Tensor from_tokens(const Tokens& t, const torch::Tensor& x, const torch::Tensor& out) {
  return x.dim() == 2 ? geometry::from_padded(out, t.padding) : out;
}

py::dict setting_info(const attention::MaskSettingInfo& s) {
  py::dict d;
  d["name"] = s.name;
  std::visit([&](const auto& v) { d["default"] = v; }, s.default_value);
  d["help"] = s.help;
  d["min"] = s.min ? py::cast(*s.min) : py::none();
  d["max"] = s.max ? py::cast(*s.max) : py::none();
  d["choices"] = s.choices;
  return d;
}

}  // namespace

void bind_attention(py::module_& m) {
  using OT = std::optional<torch::Tensor>;

  m.def("feature_map_names", &models::feature_map_names);
  m.def(
      "feature_map",
      [](const torch::Tensor& x, const std::string& kind, const OT& projection,
         const std::string& role, const OT& key_padding_mask, std::optional<double> epsilon,
         bool normalize_inputs) {
        return attention::feature_map(x, models::feature_map_kind_from_string(kind),
                                      value_or_undefined(projection), role_from_string(role),
                                      value_or_undefined(key_padding_mask), epsilon,
                                      normalize_inputs);
      },
      py::arg("x"), py::arg("kind") = "softmax", py::arg("projection") = py::none(),
      py::arg("role") = "query", py::arg("key_padding_mask") = py::none(),
      py::arg("epsilon") = py::none(), py::arg("normalize_inputs") = true);
  m.def(
      "random_projection",
      [](int64_t num_features, int64_t dim, bool orthogonal, const std::string& norm,
         uint64_t seed) {
        TORCH_CHECK_VALUE(norm == "chi" || norm == "sqrt-dim",
                          "random_projection: `norm` must be \"chi\" or \"sqrt-dim\", got \"", norm,
                          "\"");
        return attention::random_projection(attention::RandomProjectionOptions(num_features, dim)
                                                .orthogonal(orthogonal)
                                                .norm(norm == "chi"
                                                          ? attention::ProjectionNorm::kChi
                                                          : attention::ProjectionNorm::kSqrtDim)
                                                .seed(seed)
                                                .dtype(torch::kFloat64));
      },
      py::arg("num_features"), py::arg("dim"), py::arg("orthogonal") = true,
      py::arg("norm") = "chi", py::arg("seed") = 0);
  m.def(
      "linear_attention",
      [](const torch::Tensor& phi_q, const torch::Tensor& phi_k, const torch::Tensor& v,
         bool causal, const OT& key_padding_mask, const OT& segment_ids, const OT& key_segment_ids,
         int64_t chunk_size) {
        return attention::linear_attention(
            phi_q, phi_k, v,
            attention::LinearAttentionFuncOptions()
                .causal(causal)
                .key_padding_mask(value_or_undefined(key_padding_mask))
                .segment_ids(value_or_undefined(segment_ids))
                .key_segment_ids(value_or_undefined(key_segment_ids))
                .chunk_size(chunk_size));
      },
      py::arg("phi_q"), py::arg("phi_k"), py::arg("v"), py::arg("causal") = false,
      py::arg("key_padding_mask") = py::none(), py::arg("segment_ids") = py::none(),
      py::arg("key_segment_ids") = py::none(), py::arg("chunk_size") = 128);

  // --- masks ------------------------------------------------------------------------------
  m.def("mask_names", &attention::mask_names);
  m.def("describe_masks", &attention::describe_masks);
  m.def("mask_info", [](const std::string& name) {
    const auto& info = attention::mask_info(name);
    py::dict d;
    d["name"] = info.name;
    d["description"] = info.description;
    d["input"] = attention::to_string(info.input);
    py::list settings;
    for (const auto& s : info.settings) settings.append(setting_info(s));
    d["settings"] = settings;
    return d;
  });

  py::class_<MaskOperator, std::shared_ptr<MaskOperator>>(
      m, "MaskOperator", py::module_local(), "The product by one batch's mask M (never formed)")
      .def("apply", &MaskOperator::apply, py::arg("x"),
           "M·x along the token axis: x [B, H, S, C] → [B, H, L, C]")
      .def(
          "dense",
          [](const MaskOperator& op, const OT& like) {
            return op.dense(like ? like->options() : torch::TensorOptions(torch::kFloat64));
          },
          py::arg("like") = py::none(),
          "the dense M [B or 1, H or 1, L, S] (tests, tiny inputs), in `like`'s dtype (float64)")
      .def_property_readonly("is_causal", &MaskOperator::is_causal);

  py::class_<MaskImpl, torch::nn::Module, std::shared_ptr<MaskImpl>>(m, "Mask", py::module_local())
      .def(
          "build",
          [](MaskImpl& mask, const torch::Tensor& x, const OT& key_padding_mask, const OT& pos,
             const OT& edge_index, const OT& batch, const OT& edge_weight) {
            const auto t = make_tokens("Mask.build", x, value_or_undefined(key_padding_mask),
                                       value_or_undefined(pos), value_or_undefined(edge_index),
                                       value_or_undefined(batch), value_or_undefined(edge_weight));
            // Operators are immutable in use; pybind11's holders cannot hold const objects.
            return std::const_pointer_cast<MaskOperator>(mask.build(t.context));
          },
          py::arg("x"), py::arg("key_padding_mask") = py::none(), py::arg("pos") = py::none(),
          py::arg("edge_index") = py::none(), py::arg("batch") = py::none(),
          py::arg("edge_weight") = py::none(),
          "The operator of this batch; `x` gives the layout, dtype and device as in the "
          "attention modules");
  m.def(
      "make_mask",
      [](const std::string& name, int64_t num_heads, const py::dict& settings) {
        return attention::make_mask(name, num_heads, to_mask_settings(settings, name));
      },
      py::arg("name"), py::arg("num_heads"), py::arg("settings") = py::dict());
  m.def(
      "masked_linear_attention",
      [](const torch::Tensor& phi_q, const torch::Tensor& phi_k, const torch::Tensor& v,
         const MaskOperator& mask, const OT& key_padding_mask) {
        return attention::masked_linear_attention(phi_q, phi_k, v, mask,
                                                  value_or_undefined(key_padding_mask));
      },
      py::arg("phi_q"), py::arg("phi_k"), py::arg("v"), py::arg("mask"),
      py::arg("key_padding_mask") = py::none());

  // --- modules ----------------------------------------------------------------------------
  using Masks = std::vector<std::pair<std::string, py::dict>>;
  const std::vector<attention::MaskInput> every_input = {
      attention::MaskInput::kSequence, attention::MaskInput::kGrid,
      attention::MaskInput::kPositions, attention::MaskInput::kGraph};
  m.def(
      "make_linear_attention",
      [every_input](int64_t embed_dim, int64_t num_heads, const Masks& masks,
                    const std::string& feature_map, int64_t num_features, int64_t redraw_interval,
                    int64_t layer_id, uint64_t seed, bool causal, bool bias, int64_t chunk_size,
                    int64_t pos_dim) {
        const auto kind = models::feature_map_kind_from_string(feature_map);
        std::vector<std::shared_ptr<MaskImpl>> modules;
        for (const auto& spec :
             models::model_masks(to_specs(masks, "MaskedLinearAttention"), "MaskedLinearAttention",
                                 every_input, pos_dim, kind)) {
          modules.push_back(attention::make_mask(spec.name, num_heads, spec.settings));
        }
        return std::static_pointer_cast<torch::nn::Module>(
            std::make_shared<attention::LinearAttentionImpl>(
                attention::LinearAttentionOptions(embed_dim, num_heads)
                    .feature_map(attention::FeatureMapOptions(0)
                                     .kind(kind)
                                     .num_features(num_features)
                                     .redraw_interval(redraw_interval)
                                     .layer_id(layer_id)
                                     .seed(seed))
                    .masks(modules)
                    .causal(causal)
                    .bias(bias)
                    .chunk_size(chunk_size)));
      },
      py::arg("embed_dim"), py::arg("num_heads"), py::arg("masks"), py::arg("feature_map"),
      py::arg("num_features"), py::arg("redraw_interval"), py::arg("layer_id"), py::arg("seed"),
      py::arg("causal"), py::arg("bias"), py::arg("chunk_size"), py::arg("pos_dim"));
  m.def(
      "linear_attention_forward",
      [](torch::nn::Module& module, const torch::Tensor& x, const OT& key_padding_mask,
         const OT& pos, const OT& edge_index, const OT& batch, const OT& edge_weight) {
        auto& attn = dynamic_cast<attention::LinearAttentionImpl&>(module);
        auto t = make_tokens("MaskedLinearAttention", x, value_or_undefined(key_padding_mask),
                             value_or_undefined(pos), value_or_undefined(edge_index),
                             value_or_undefined(batch), value_or_undefined(edge_weight));
        const auto tokens = to_tokens(t, x);
        const auto out = attn.forward(tokens, tokens, tokens, t.padding, {}, &t.context);
        return from_tokens(t, x, out);
      },
      py::arg("module"), py::arg("x"), py::arg("key_padding_mask") = py::none(),
      py::arg("pos") = py::none(), py::arg("edge_index") = py::none(),
      py::arg("batch") = py::none(), py::arg("edge_weight") = py::none());

  m.def(
      "make_graph_attention_layer",
      [](int64_t embed_dim, int64_t num_heads, const Masks& masks, const std::string& feature_map,
         int64_t num_features, double dropout, int64_t mlp_ratio, int64_t layer_id) {
        return std::static_pointer_cast<torch::nn::Module>(
            std::make_shared<models::GraphAttentionLayerImpl>(
                models::GraphAttentionLayerOptions(embed_dim, num_heads)
                    .masks(to_specs(masks, "GraphAttentionLayer"))
                    .feature_map(models::feature_map_kind_from_string(feature_map))
                    .num_features(num_features)
                    .dropout(dropout)
                    .mlp_ratio(mlp_ratio)
                    .layer_id(layer_id)));
      },
      py::arg("embed_dim"), py::arg("num_heads"), py::arg("masks"), py::arg("feature_map"),
      py::arg("num_features"), py::arg("dropout"), py::arg("mlp_ratio"), py::arg("layer_id"));
  m.def(
      "graph_attention_layer_forward",
      [](torch::nn::Module& module, const torch::Tensor& x, const torch::Tensor& edge_index,
         const OT& batch, const OT& edge_weight) {
        return dynamic_cast<models::GraphAttentionLayerImpl&>(module).forward(
            x, edge_index, value_or_undefined(batch), value_or_undefined(edge_weight));
      },
      py::arg("module"), py::arg("x"), py::arg("edge_index"), py::arg("batch") = py::none(),
      py::arg("edge_weight") = py::none());
  // One batch of graphs made once and shared by several layers (and epochs, when the graphs do
  // not change): the masks' structure (operators, eigendecompositions, walks) is then computed
  // once, as models::make_graph_batch does for C++ models. Random structure (grf walks, random
  // spanning trees) is drawn once for as long as the batch is reused.
  py::class_<models::GraphBatch>(m, "GraphBatch", py::module_local(),
                                 "Graphs in the padded token layout with their masks' structure "
                                 "cache; made by make_graph_batch")
      .def_property_readonly("batch", [](const models::GraphBatch& g) { return g.batch; })
      .def_property_readonly("num_graphs",
                             [](const models::GraphBatch& g) { return g.context.batch_size; })
      .def_property_readonly("max_nodes",
                             [](const models::GraphBatch& g) { return g.context.length; })
      .def("__repr__", [](const models::GraphBatch& g) {
        return c10::str("GraphBatch(num_graphs=", g.context.batch_size,
                        ", max_nodes=", g.context.length, ", nodes=", g.batch.size(0), ")");
      });
  m.def(
      "make_graph_batch",
      [](const torch::Tensor& x, const torch::Tensor& edge_index, const OT& batch,
         const OT& edge_weight) {
        return models::make_graph_batch(x, edge_index, value_or_undefined(batch),
                                        value_or_undefined(edge_weight));
      },
      py::arg("x"), py::arg("edge_index"), py::arg("batch") = py::none(),
      py::arg("edge_weight") = py::none());
  m.def(
      "graph_attention_layer_forward_batch",
      [](torch::nn::Module& module, const torch::Tensor& x, const models::GraphBatch& graph) {
        return dynamic_cast<models::GraphAttentionLayerImpl&>(module).forward_batch(x, graph);
      },
      py::arg("module"), py::arg("x"), py::arg("graph"));

  m.def(
      "make_transformer_block",
      [every_input](int64_t embed_dim, int64_t num_heads, const Masks& masks, int64_t pos_dim,
                    const std::string& feature_map, int64_t num_features, double dropout,
                    int64_t mlp_ratio, int64_t layer_id) {
        const auto kind = models::feature_map_kind_from_string(feature_map);
        return std::static_pointer_cast<torch::nn::Module>(
            std::make_shared<models::TransformerBlockImpl>(
                models::TransformerBlockOptions(embed_dim, num_heads)
                    .masks(models::model_masks(to_specs(masks, "PointCloudBlock"),
                                               "PointCloudBlock", every_input, pos_dim, kind))
                    .feature_map(kind)
                    .num_features(num_features)
                    .dropout(dropout)
                    .mlp_ratio(mlp_ratio)
                    .layer_id(layer_id)));
      },
      py::arg("embed_dim"), py::arg("num_heads"), py::arg("masks"), py::arg("pos_dim"),
      py::arg("feature_map"), py::arg("num_features"), py::arg("dropout"), py::arg("mlp_ratio"),
      py::arg("layer_id"));
  m.def(
      "transformer_block_forward",
      [](torch::nn::Module& module, const torch::Tensor& x, const OT& pos, const OT& batch,
         const OT& edge_index, const OT& key_padding_mask) {
        auto& block = dynamic_cast<models::TransformerBlockImpl&>(module);
        auto t = make_tokens("PointCloudBlock", x, value_or_undefined(key_padding_mask),
                             value_or_undefined(pos), value_or_undefined(edge_index),
                             value_or_undefined(batch), {});
        const auto out = block.forward(to_tokens(t, x), t.padding, &t.context);
        return from_tokens(t, x, out);
      },
      py::arg("module"), py::arg("x"), py::arg("pos") = py::none(), py::arg("batch") = py::none(),
      py::arg("edge_index") = py::none(), py::arg("key_padding_mask") = py::none());
}

}  // namespace topo::python
