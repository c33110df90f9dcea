// SPDX-License-Identifier: Apache-2.0
#include "models/point_cloud_classifier.h"

#include <torch/torch.h>

#include <memory>

#include "common/check.h"
#include "geometry/farthest_point_sampling.h"
#include "geometry/knn.h"
#include "geometry/point_cloud.h"
#include "geometry/voxel_grid.h"
#include "graph/graph.h"

namespace topo::models {

PointCloudClassifierImpl::PointCloudClassifierImpl(const PointCloudClassifierOptions& options_)
    : options(options_) {
  reset();
}

void PointCloudClassifierImpl::reset() {
  const auto& o = options;
  TOPO_CHECK_ARG(o.pos_dim() >= 1, "PointCloudClassifier", "pos_dim", ">= 1", o.pos_dim());
  TOPO_CHECK_ARG(o.num_classes() >= 2, "PointCloudClassifier", "num_classes", ">= 2",
                 o.num_classes());
  TOPO_CHECK_ARG(o.num_stages() >= 1 && o.num_stages() <= o.num_layers(), "PointCloudClassifier",
                 "num_stages", c10::str("in [1, num_layers=", o.num_layers(), "]"), o.num_stages());
  TOPO_CHECK_ARG(o.downsample_ratio() > 0 && o.downsample_ratio() <= 1, "PointCloudClassifier",
                 "downsample_ratio", "in (0, 1]", o.downsample_ratio());
  TOPO_CHECK_ARG(o.knn() >= 1, "PointCloudClassifier", "knn", ">= 1", o.knn());
  const bool voxels = !o.voxels().empty();
  if (voxels) {
    TOPO_CHECK_ARG(static_cast<int64_t>(o.voxels().size()) == o.pos_dim(), "PointCloudClassifier",
                   "voxels", c10::str(o.pos_dim(), " cell counts (one per axis)"),
                   c10::IntArrayRef(o.voxels()));
    for (const int64_t n : o.voxels()) {
      TOPO_CHECK_ARG(n >= 1, "PointCloudClassifier", "voxels", "positive cell counts",
                     c10::IntArrayRef(o.voxels()));
    }
    TOPO_CHECK_ARG(o.num_stages() == 1, "PointCloudClassifier", "num_stages", "1 with voxel tokens",
                   o.num_stages());
  }
  // Voxel tokens carry positions (cell centres) and a grid; point tokens positions and a graph.
  auto specs = o.masks();
  if (voxels) {
    std::string shape;
    for (const int64_t n : o.voxels()) shape += (shape.empty() ? "" : "x") + std::to_string(n);
    for (auto& spec : specs) {
      if (spec.name == "block-toeplitz" && !spec.settings.contains("grid_shape"))
        spec.settings.set("grid_shape", shape);
    }
  }
  const auto masks =
      model_masks(specs, "PointCloudClassifier",
                  voxels ? std::vector<attention::MaskInput>{attention::MaskInput::kPositions,
                                                             attention::MaskInput::kGrid}
                         : std::vector<attention::MaskInput>{attention::MaskInput::kPositions,
                                                             attention::MaskInput::kGraph},
                  o.pos_dim(), o.feature_map());
  const int64_t in = o.pos_dim() + o.feature_dim() + 2 * o.position_frequencies(),
                e = o.embed_dim();
  position_frequencies = register_buffer(
      "position_frequencies",
      torch::randn({o.pos_dim(), o.position_frequencies()}) * o.position_frequency_scale());
  embed = register_module(
      "embed",
      torch::nn::Sequential(torch::nn::Linear(in, e), torch::nn::GELU(), torch::nn::Linear(e, e)));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers(); ++i) {
    blocks->push_back(TransformerBlock(TransformerBlockOptions(e, o.num_heads())
                                           .dropout(o.dropout())
                                           .feature_map(o.feature_map())
                                           .num_features(o.num_features())
                                           .layer_id(i)
                                           .masks(masks)));
  }
  downsample = register_module("downsample", torch::nn::ModuleList());
  for (int64_t i = 1; i < o.num_stages(); ++i) {
    downsample->push_back(torch::nn::Sequential(torch::nn::Linear(e + o.pos_dim(), e),
                                                torch::nn::GELU(), torch::nn::Linear(e, e)));
  }
  norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({e})));
  head =
      register_module("head", torch::nn::Sequential(torch::nn::Linear(2 * e, e), torch::nn::GELU(),
                                                    torch::nn::Dropout(o.dropout()),
                                                    torch::nn::Linear(e, o.num_classes())));
}

torch::Tensor PointCloudClassifierImpl::forward(const torch::Tensor& pos, const torch::Tensor& x,
                                                const torch::Tensor& key_padding_mask) {
  ShapeChecker check("PointCloudClassifier");
  check.bind("d", options.pos_dim(), "the model");
  check(pos, "pos", {"B", "L", "d"});
  if (options.feature_dim() > 0) {
    TOPO_CHECK_ARG(x.defined(), "PointCloudClassifier", "x",
                   c10::str("features [B, L, ", options.feature_dim(), "]"), "undefined");
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
  if (!options.voxels().empty()) {
    const auto [cells, empty, centres] = voxelise(h, pos, key_padding_mask);
    attention::MaskContext context;
    context.batch_size = cells.size(0);
    context.length = cells.size(1);
    context.key_padding_mask = empty;
    context.pos = centres;
    context.options = cells.options();
    auto tokens = cells;
    for (const auto& block : *blocks)
      tokens = block->as<TransformerBlock>()->forward(tokens, empty, &context);
    return pool(tokens, empty);
  }
  const bool graph = needs_graph(options.masks());
  if (options.num_stages() == 1 && !graph) {
    attention::MaskContext context;
    context.batch_size = pos.size(0);
    context.length = pos.size(1);
    context.key_padding_mask = key_padding_mask;
    context.pos = pos;
    context.options = h.options();
    for (const auto& block : *blocks)
      h = block->as<TransformerBlock>()->forward(h, key_padding_mask, &context);
    return pool(h, key_padding_mask);
  }
  // Ragged form (graph b on the first n_b tokens, as the graph masks and FPS expect).
  const auto padding = key_padding_mask.defined()
                           ? key_padding_mask
                           : torch::zeros({pos.size(0), pos.size(1)},
                                          torch::dtype(torch::kBool).device(pos.device()));
  const int64_t clouds = pos.size(0);
  auto batch = torch::repeat_interleave((~padding).sum(1).cpu()).to(pos.device());
  auto flat_pos = geometry::from_padded(pos, padding), flat_h = geometry::from_padded(h, padding);
  const auto stages = stage_starts();
  torch::Tensor stage_padding;
  for (int64_t stage = 0; stage + 1 < static_cast<int64_t>(stages.size()); ++stage) {
    if (stage > 0)
      std::tie(flat_h, flat_pos, batch) = downsample_points(stage - 1, flat_h, flat_pos, batch);
    auto [stage_h, padded_mask] = geometry::to_padded(flat_h, batch, clouds);
    // One context per stage: its kNN graph (and what masks derive from it) is shared by the
    // stage's blocks.
    attention::MaskContext context;
    context.batch_size = clouds;
    context.length = stage_h.size(1);
    context.key_padding_mask = padded_mask;
    context.pos = geometry::to_padded(flat_pos, batch, clouds).first;
    context.options = stage_h.options();
    if (graph) {
      const auto cpu_pos = flat_pos.detach().cpu(), cpu_batch = batch.cpu();
      context.graph =
          std::make_shared<graph::Graph>(geometry::knn_graph(cpu_pos, options.knn(), cpu_batch),
                                         torch::Tensor(), cpu_pos.size(0), cpu_batch);
    }
    for (int64_t i = stages[stage]; i < stages[stage + 1]; ++i) {
      stage_h = blocks[i]->as<TransformerBlock>()->forward(stage_h, padded_mask, &context);
    }
    if (stage + 2 < static_cast<int64_t>(stages.size()))
      flat_h = geometry::from_padded(stage_h, padded_mask);
    h = stage_h;
    stage_padding = padded_mask;
  }
  return pool(h, stage_padding);
}

std::vector<int64_t> PointCloudClassifierImpl::stage_starts() const {
  std::vector<int64_t> starts{0};
  const int64_t n = options.num_layers(), stages = options.num_stages();
  for (int64_t s = 0; s < stages; ++s)
    starts.push_back(starts.back() + n / stages + (s < n % stages ? 1 : 0));
  return starts;
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> PointCloudClassifierImpl::downsample_points(
    int64_t transition, const torch::Tensor& h, const torch::Tensor& pos,
    const torch::Tensor& batch) {
  const auto cpu_pos = pos.detach().cpu(), cpu_batch = batch.cpu();
  const auto kept = geometry::farthest_point_sampling(cpu_pos, cpu_batch,
                                                      options.downsample_ratio(), is_training());
  const auto kept_batch = cpu_batch.index_select(0, kept);
  // Neighbourhoods as a fixed [M, k] table; a cloud with fewer than k points repeats the
  // centre (its own nearest point), which leaves the max unchanged.
  const auto edges =
      geometry::knn(cpu_pos, cpu_pos.index_select(0, kept), options.knn(), cpu_batch, kept_batch);
  const int64_t m = kept.size(0), k = options.knn();
  auto neighbours = kept.unsqueeze(1).repeat({1, k});
  if (edges.size(1) > 0) {
    const auto counts = torch::bincount(edges[0], {}, m);
    const auto first = torch::cumsum(counts, 0) - counts;
    const auto rank = torch::arange(edges.size(1)) - first.index_select(0, edges[0]);
    neighbours.index_put_({edges[0], rank}, edges[1]);
  }
  neighbours = neighbours.to(pos.device());
  const auto centres = pos.index_select(0, kept.to(pos.device()));
  const auto relative =
      pos.index_select(0, neighbours.flatten()).view({m, k, -1}) - centres.unsqueeze(1);
  const auto gathered = h.index_select(0, neighbours.flatten()).view({m, k, -1});
  const auto pooled = std::get<0>(downsample[transition]
                                      ->as<torch::nn::Sequential>()
                                      ->forward(torch::cat({gathered, relative}, -1))
                                      .max(1));
  return {pooled, centres, kept_batch.to(batch.device())};
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> PointCloudClassifierImpl::voxelise(
    const torch::Tensor& h, const torch::Tensor& pos, const torch::Tensor& key_padding_mask) {
  const auto& shape = options.voxels();
  const int64_t d = options.pos_dim(), clouds = pos.size(0);
  const auto padding =
      key_padding_mask.defined()
          ? key_padding_mask
          : torch::zeros({clouds, pos.size(1)}, torch::dtype(torch::kBool).device(pos.device()));
  const auto batch = torch::repeat_interleave((~padding).sum(1).cpu());
  std::vector<double> size, origin(static_cast<size_t>(d), -1.0);
  for (const int64_t n : shape) size.push_back(2.0 / static_cast<double>(n));
  // Clamped just inside [−1, 1]: augmented clouds may step over the edge by a little.
  const auto flat_pos =
      geometry::from_padded(pos, padding).detach().cpu().to(torch::kDouble).clamp(-1.0, 1.0 - 1e-9);
  const auto grid = geometry::voxel_grid(
      flat_pos, geometry::VoxelGridOptions(size).grid_shape(shape).origin(origin), batch);
  auto [cells, empty] = geometry::scatter_to_grid(geometry::from_padded(h, padding), grid, batch);
  // Cell centres in row-major order (the token order of the grid masks).
  std::vector<torch::Tensor> axes;
  for (int64_t a = 0; a < d; ++a) {
    axes.push_back(torch::arange(shape[static_cast<size_t>(a)], pos.options()) *
                       size[static_cast<size_t>(a)] -
                   1.0 + size[static_cast<size_t>(a)] / 2);
  }
  const auto centres =
      torch::stack(torch::meshgrid(axes, "ij"), -1).reshape({1, -1, d}).expand({clouds, -1, d});
  return {cells, empty.to(h.device()), centres};
}

torch::Tensor PointCloudClassifierImpl::pool(torch::Tensor h,
                                             const torch::Tensor& key_padding_mask) {
  h = norm(h);
  // Masked mean and max over the real points.
  const auto real = key_padding_mask.defined()
                        ? (~key_padding_mask).unsqueeze(-1).to(h.scalar_type())
                        : torch::ones({h.size(0), h.size(1), 1}, h.options());
  const auto mean = (h * real).sum(1) / real.sum(1).clamp_min(1);
  const auto max = std::get<0>(h.masked_fill(real == 0, -1e9).max(1));
  return head->forward(torch::cat({mean, max}, -1));
}

}  // namespace topo::models
