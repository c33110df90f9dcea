// SPDX-License-Identifier: Apache-2.0
// Transformer block, point-cloud classifier, molecular transformer and graph-layer properties.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "attention/masks/registry.h"
#include "datasets/batching.h"
#include "geometry/farthest_point_sampling.h"
#include "geometry/point_cloud.h"
#include "models/graph_attention.h"
#include "models/molecular_transformer.h"
#include "models/point_cloud_classifier.h"
#include "models/transformer_block.h"
#include "support/tensor_assertions.h"

namespace topo::models {
namespace {

namespace fs = std::filesystem;

TEST(TransformerBlock, PaddingAndPermutationInvariance) {
  torch::manual_seed(0);
  for (const auto kind :
       {attention::FeatureMapKind::kSoftmaxPositive, attention::FeatureMapKind::kRelu}) {
    TransformerBlock block(TransformerBlockOptions(16, 4).feature_map(kind).masks(
        model_masks({{"flt", {{"features", int64_t{8}}}}}, "test",
                    {attention::MaskInput::kPositions}, 3, kind)));
    block->eval();
    const auto context = [](const torch::Tensor& pos, const torch::Tensor& pad) {
      attention::MaskContext c;
      c.batch_size = pos.size(0);
      c.length = pos.size(1);
      c.pos = pos;
      c.key_padding_mask = pad;
      return c;
    };
    const auto x = torch::randn({1, 7, 16}), pos = torch::randn({1, 7, 3});
    const auto plain = context(pos, {});
    const auto out = block->forward(x, {}, &plain);
    // Extra padded tokens (garbage content) change nothing.
    auto pad = torch::zeros({1, 10}, torch::kBool);
    pad[0].slice(0, 7).fill_(true);
    const auto with_padding = context(torch::cat({pos, torch::randn({1, 3, 3})}, 1), pad);
    const auto padded =
        block->forward(torch::cat({x, torch::randn({1, 3, 16}) * 50}, 1), pad, &with_padding);
    EXPECT_TENSOR_CLOSE(padded.slice(1, 0, 7), out, {1e-4, 1e-5});
    // Permuting tokens (with their positions) permutes the outputs.
    const auto perm = torch::randperm(7);
    const auto permuted = context(pos.index_select(1, perm), {});
    EXPECT_TENSOR_CLOSE(block->forward(x.index_select(1, perm), {}, &permuted),
                        out.index_select(1, perm), {1e-4, 1e-5});
  }
  // Combiner attention as the alternative: padding-invariant too.
  TransformerBlock combiner(TransformerBlockOptions(16, 4).combiner(true).combiner_variant(
      attention::CombinerVariant::kLogsparse));
  combiner->eval();
  const auto xc = torch::randn({1, 7, 16});
  auto padc = torch::zeros({1, 9}, torch::kBool);
  padc[0].slice(0, 7).fill_(true);
  EXPECT_TENSOR_CLOSE(
      combiner->forward(torch::cat({xc, torch::randn({1, 2, 16})}, 1), padc).slice(1, 0, 7),
      combiner->forward(xc), {1e-4, 1e-5});
  TransformerBlock with_rpe(TransformerBlockOptions(16, 4).masks({{"flt", {{"dim", int64_t{2}}}}}));
  EXPECT_THROW_WITH(with_rpe->forward(torch::randn({1, 5, 16})),
                    "FLTMask: `context.pos` must be token positions");
  EXPECT_THROW_WITH(
      TransformerBlock(TransformerBlockOptions(16, 4).combiner(true).masks({{"causal", {}}})),
      "`masks` must be empty with Combiner attention");
  EXPECT_THROW_WITH(
      model_masks({{"causal", {}}}, "PointCloudClassifier", {attention::MaskInput::kPositions}, 2,
                  attention::FeatureMapKind::kRelu),
      "PointCloudClassifier: `masks` must be masks over what its tokens carry (positions), got "
      "\"causal\", which needs a sequence");
  // Two masks that both need Alg. 1 cannot be multiplied; a low-rank one combines with any.
  EXPECT_THROW_WITH(TransformerBlock(TransformerBlockOptions(16, 4)
                                         .feature_map(attention::FeatureMapKind::kRelu)
                                         .masks({{"causal", {}}, {"toeplitz", {}}})),
                    "at most one mask that is not low-rank");
}

TEST(PointCloudClassifier, InvariantToPointOrderAndPaddingAndTrainsEveryParameter) {
  torch::manual_seed(1);
  PointCloudClassifier model(PointCloudClassifierOptions(2, 1, 5)
                                 .embed_dim(16)
                                 .num_heads(2)
                                 .num_layers(2)
                                 .num_features(8)
                                 .dropout(0));
  model->eval();
  const auto pos = torch::rand({2, 9, 2}), x = torch::rand({2, 9, 1});
  const auto logits = model(pos, x);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 5}));
  const auto perm = torch::randperm(9);
  EXPECT_TENSOR_CLOSE(model(pos.index_select(1, perm), x.index_select(1, perm)), logits,
                      {1e-4, 1e-5});
  auto pad = torch::zeros({2, 12}, torch::kBool);
  pad.slice(1, 9).fill_(true);
  EXPECT_TENSOR_CLOSE(model(torch::cat({pos, torch::rand({2, 3, 2})}, 1),
                            torch::cat({x, torch::rand({2, 3, 1})}, 1), pad),
                      logits, {1e-4, 1e-5});
  model->train();
  torch::nn::functional::cross_entropy(model(pos, x), torch::tensor({1, 3})).backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
  }
}

}  // namespace
}  // namespace topo::models

namespace topo::models {
namespace {

TEST(MolecularTransformer, InvariantEnergiesEquivariantForcesThatAreTheGradient) {
  torch::manual_seed(10);
  MolecularTransformer model(
      MolecularTransformerOptions().embed_dim(16).num_heads(2).num_layers(2).num_features(8).cutoff(
          3.0));
  model->to(torch::kDouble);
  model->eval();
  const auto z = torch::tensor({{6, 1, 1, 8, 1, 0}, {6, 6, 1, 1, 1, 1}});
  auto pad = torch::zeros({2, 6}, torch::kBool);
  pad[0][5] = true;
  const auto pos = torch::randn({2, 6, 3}, torch::kDouble) * 1.2;
  const auto [energy, forces] = model->energy_and_forces(z, pos, pad);
  // Rotation + translation: same energy, rotated forces.
  auto [q, r] = torch::linalg_qr(torch::randn({3, 3}, torch::kDouble));
  const auto moved = torch::matmul(pos, q.t()) + torch::tensor({1.0, -2.0, 0.5}, torch::kDouble);
  const auto [energy2, forces2] = model->energy_and_forces(z, moved, pad);
  EXPECT_TENSOR_CLOSE(energy2, energy, {1e-9, 1e-9});
  EXPECT_TENSOR_CLOSE(forces2, torch::matmul(forces, q.t()), {1e-7, 1e-9});
  // Forces are −∂E/∂r: central differences on one coordinate.
  const double h = 1e-5;
  auto plus = pos.clone(), minus = pos.clone();
  plus[1][2][0] += h;
  minus[1][2][0] -= h;
  const double numeric =
      -(model(z, plus, pad)[1] - model(z, minus, pad)[1]).item<double>() / (2 * h);
  EXPECT_NEAR(forces[1][2][0].item<double>(), numeric, 1e-6);
  // Training on forces needs the double backward.
  model->train();
  const auto [e, f] = model->energy_and_forces(z, pos, pad, /*create_graph=*/true);
  (e.pow(2).sum() + f.pow(2).sum()).backward();
  EXPECT_GT(model->embedding->weight.grad().abs().sum().item<double>(), 0.0);
  EXPECT_THROW_WITH(model(torch::tensor({{6, 200}}), torch::randn({1, 2, 3}, torch::kDouble)),
                    "atomic numbers in [1, 100]");
}

// Intensive readouts (issue 18): n copies of a molecule too far apart to interact give the
// molecule's value (mean, attention pooling) or n times it (sum); padding changes nothing.
TEST(MolecularTransformer, ReadoutsAreIntensiveOrExtensive) {
  const auto z = torch::tensor({6, 1, 1, 8, 1});
  const auto pos = torch::randn({5, 3}, torch::kDouble);
  const auto copies = [&](int64_t n) {
    std::vector<torch::Tensor> zs, ps;
    for (int64_t c = 0; c < n; ++c) {
      zs.push_back(z);
      ps.push_back(pos + torch::tensor({50.0 * c, 0.0, 0.0}, torch::kDouble));
    }
    return std::make_pair(torch::cat(zs).unsqueeze(0), torch::cat(ps).unsqueeze(0));
  };
  for (auto readout : {Readout::kSum, Readout::kMean, Readout::kAttention}) {
    torch::manual_seed(3);
    MolecularTransformer model(MolecularTransformerOptions()
                                   .embed_dim(16)
                                   .num_heads(2)
                                   .num_layers(2)
                                   .num_features(8)
                                   .cutoff(3.0)
                                   .readout(readout));
    model->to(torch::kDouble);
    model->eval();
    const auto [z1, p1] = copies(1);
    const auto [z3, p3] = copies(3);
    if (readout == Readout::kAttention) {
      // The pooling starts uniform (= the mean); trained logits make it another readout.
      const double uniform = model->forward(z1, p1).item<double>();
      torch::NoGradGuard no_grad;
      model->pool->weight.normal_(0.0, 1.0);
      EXPECT_GT(std::abs(model->forward(z1, p1).item<double>() - uniform), 1e-6);
    }
    if (readout != Readout::kSum) {
      EXPECT_THROW_WITH(model->energy_and_forces(z1, p1), "`readout` must be sum");
    }
    const double one = model->forward(z1, p1).item<double>();
    const double three = model->forward(z3, p3).item<double>();
    const double expected = readout == Readout::kSum ? 3 * one : one;
    EXPECT_NEAR(three, expected, 1e-9 * std::abs(expected) + 1e-12) << to_string(readout);
    // A padded batch of the molecule and its three copies gives both values.
    auto z_batch = torch::zeros({2, 15}, torch::kLong);
    auto p_batch = torch::zeros({2, 15, 3}, torch::kDouble);
    auto pad = torch::ones({2, 15}, torch::kBool);
    z_batch[0].slice(0, 0, 5) = z1[0];
    p_batch[0].slice(0, 0, 5) = p1[0];
    pad[0].slice(0, 0, 5) = false;
    z_batch[1] = z3[0];
    p_batch[1] = p3[0];
    pad[1] = false;
    const auto both = model->forward(z_batch, p_batch, pad);
    EXPECT_NEAR(both[0].item<double>(), one, 1e-9 * std::abs(one) + 1e-12);
    EXPECT_NEAR(both[1].item<double>(), three, 1e-9 * std::abs(three) + 1e-12);
    EXPECT_EQ(readout_from_string(to_string(readout)), readout);
  }
  EXPECT_THROW_WITH(readout_from_string("max"), "\"sum\", \"mean\" or \"attention\"");
  // The intensive reference fit regresses on element fractions: a target equal to the mean of
  // per-element values is recovered exactly (H 1, C 4, O 7: mean over CH4O-like molecules).
  std::vector<datasets::Sample> molecules;
  for (const auto& atoms : {std::vector<int64_t>{6, 1, 1, 1, 1}, std::vector<int64_t>{8, 1, 1},
                            std::vector<int64_t>{6, 8, 1, 1}}) {
    datasets::Sample s;
    s.z = torch::tensor(atoms);
    const auto values = torch::tensor({0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0, 7.0}, torch::kDouble)
                            .index_select(0, s.z);
    s.y = values.mean().view({1});
    molecules.push_back(s);
  }
  const auto references = fit_atom_references(molecules, 8, Readout::kMean);
  EXPECT_NEAR(references[1].item<double>(), 1.0, 1e-9);
  EXPECT_NEAR(references[6].item<double>(), 4.0, 1e-9);
  EXPECT_NEAR(references[8].item<double>(), 7.0, 1e-9);
}

TEST(MolecularTransformer, FltRpeAndRadiusGraphMasks) {
  torch::manual_seed(12);
  const auto z = torch::tensor({{6, 1, 1, 8, 1, 0}, {6, 6, 1, 1, 1, 1}});
  auto pad = torch::zeros({2, 6}, torch::kBool);
  pad[0][5] = true;
  const auto pos = torch::randn({2, 6, 3}, torch::kDouble) * 1.2;
  const auto shift = torch::tensor({1.0, -2.0, 0.5}, torch::kDouble);
  auto [q, r] = torch::linalg_qr(torch::randn({3, 3}, torch::kDouble));
  // FLT on top of the local RPE: translation-invariant, forces are −∂E/∂r.
  MolecularTransformer flt(MolecularTransformerOptions()
                               .embed_dim(16)
                               .num_heads(2)
                               .num_layers(2)
                               .num_features(8)
                               .cutoff(3.0)
                               .masks({{"local-rpe", {}}, {"flt", {{"features", int64_t{8}}}}}));
  flt->to(torch::kDouble);
  flt->eval();
  const auto [energy, forces] = flt->energy_and_forces(z, pos, pad);
  EXPECT_TENSOR_CLOSE(flt(z, pos + shift, pad), energy, {1e-9, 1e-9});
  const double h = 1e-5;
  auto plus = pos.clone(), minus = pos.clone();
  plus[0][3][1] += h;
  minus[0][3][1] -= h;
  EXPECT_NEAR(forces[0][3][1].item<double>(),
              -(flt(z, plus, pad)[0] - flt(z, minus, pad)[0]).item<double>() / (2 * h), 1e-6);
  // A diffusion mask over the radius graph instead of the local RPE: distances only, so
  // rotation- and translation-invariant; its diffusion times train.
  MolecularTransformer diffusion(MolecularTransformerOptions()
                                     .embed_dim(16)
                                     .num_heads(2)
                                     .num_layers(2)
                                     .num_features(8)
                                     .cutoff(3.0)
                                     .masks({{"diffusion", {}}}));
  diffusion->to(torch::kDouble);
  const auto e = diffusion(z, pos, pad);
  EXPECT_TENSOR_CLOSE(diffusion(z, torch::matmul(pos, q.t()) + shift, pad), e, {1e-9, 1e-9});
  e.sum().backward();
  EXPECT_GT(diffusion->named_parameters()["blocks.0.self_attn.mask_0.time"]
                .grad()
                .abs()
                .sum()
                .item<double>(),
            0.0);
  auto inner_pad = pad.clone();
  inner_pad[0][5] = false;
  inner_pad[0][2] = true;
  auto z_inner = z.clone();
  z_inner[0][5] = 1;
  EXPECT_THROW_WITH(diffusion(z_inner, pos, inner_pad), "padding after each molecule's atoms");
  EXPECT_THROW_WITH(MolecularTransformer(MolecularTransformerOptions().masks(
                        {{"local-rpe", {}}, {"adjacency", {}}})),
                    "at most one mask that is not low-rank");
}

TEST(GraphAttentionLayer, EveryMaskOnAGraphBatchIsPermutationEquivariantAndTrains) {
  torch::manual_seed(11);
  // Two graphs: a 5-cycle and a path of 4 nodes.
  const auto edges = torch::tensor({{0, 1, 2, 3, 4, 5, 6, 7}, {1, 2, 3, 4, 0, 6, 7, 8}});
  const auto batch = torch::tensor({0, 0, 0, 0, 0, 1, 1, 1, 1});
  const auto x = torch::randn({9, 8});
  std::vector<std::string> kinds{"none"};
  for (const auto& info : attention::mask_registry()) {
    if (info.input == attention::MaskInput::kGraph) kinds.push_back(info.name);
  }
  EXPECT_EQ(kinds.size(), 7u);  // none + every graph and tree mask of the registry
  for (const auto& kind : kinds) {
    std::vector<attention::MaskSpec> masks;
    if (kind != "none") masks.push_back({kind, {}});
    GraphAttentionLayer layer(GraphAttentionLayerOptions(8, 2).masks(masks));
    const auto out = layer(x, edges, batch);
    EXPECT_EQ(out.sizes(), x.sizes());
    if (kind != "grf" && kind != "spanning-tree" && kind != "tree-function") {
      // Relabel the cycle's nodes: outputs follow (random-walk masks resample, so skip them).
      const auto perm = torch::tensor({2, 0, 4, 1, 3, 5, 6, 7, 8});
      const auto inverse = torch::argsort(perm);
      const auto out_p = layer(x.index_select(0, perm), inverse.index({edges}), batch);
      EXPECT_TENSOR_CLOSE(out_p, out.index_select(0, perm), {1e-4, 1e-5});
    }
    (out * torch::randn_like(out)).sum().backward();
    for (const auto& p : layer->named_parameters()) {
      if (p.key().find("mask_") == std::string::npos) continue;
      ASSERT_TRUE(p.value().grad().defined()) << kind << " " << p.key();
      EXPECT_GT(p.value().grad().abs().sum().item<float>(), 0.0f) << kind << " " << p.key();
    }
  }
  GraphTransformer model(GraphTransformerOptions(8, 3).embed_dim(16).num_heads(2).num_layers(2));
  EXPECT_EQ(model(x, edges, batch).sizes(), (std::vector<int64_t>{2, 3}));
}

TEST(GraphAttentionLayer, MlpRatioZeroIsAttentionWithItsResidualOnly) {
  torch::manual_seed(12);
  const auto edges = torch::tensor({{0, 1, 2, 3}, {1, 2, 3, 4}});
  const auto x = torch::randn({5, 8});
  GraphAttentionLayer full(GraphAttentionLayerOptions(8, 2));
  GraphAttentionLayer light(GraphAttentionLayerOptions(8, 2).mlp_ratio(0));
  const auto count = [](const torch::nn::Module& m) {
    int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
  };
  // The MLP (8→16→8 with biases) and its norm are gone; the attention is the same.
  EXPECT_EQ(count(*full) - count(*light), (8 * 16 + 16) + (16 * 8 + 8) + 2 * 8);
  EXPECT_FALSE(light->block->mlp);
  EXPECT_FALSE(light->block->norm2);
  // Same attention weights → the light layer's output is the full one's before its MLP step.
  torch::NoGradGuard no_grad;
  for (const auto& p : light->named_parameters())
    p.value().copy_(full->named_parameters()[p.key()]);
  const auto graphs = make_graph_batch(x, edges);
  auto context = graphs.context;
  const auto [padded, padding] = geometry::to_padded(x, graphs.batch, 1);
  auto block = full->block;
  const auto h = block->norm1(padded);
  const auto [q, k, v] = block->self_attn->project(h, h, h);
  const auto y =
      padded + block->self_attn->merge(block->self_attn->attend(q, k, v, padding, {}, &context));
  EXPECT_TENSOR_CLOSE(light(x, edges), y.squeeze(0), {1e-5, 1e-6});
  EXPECT_TENSOR_CLOSE(full(x, edges), (y + block->mlp->forward(block->norm2(y))).squeeze(0),
                      {1e-5, 1e-6});
  // A batch made for another device: named, before any kernel sees the mismatch.
  EXPECT_THROW_WITH(light->forward_batch(x.to(torch::kMeta), graphs),
                    "GraphAttentionLayer: `x` must be on the device of the graph batch (cpu");
  EXPECT_THROW_WITH(GraphAttentionLayer(GraphAttentionLayerOptions(8, 2).mlp_ratio(-1)),
                    "GraphAttentionLayer: `mlp_ratio` must be >= 0 (0: no MLP), got -1");
  EXPECT_THROW_WITH(TransformerBlock(TransformerBlockOptions(8, 2).mlp_ratio(-2)),
                    "TransformerBlock: `mlp_ratio` must be >= 0 (0: no MLP), got -2");
}

}  // namespace
}  // namespace topo::models

namespace topo::models {
namespace {

TEST(PointCloudClassifier, GraphMasksOnTheKnnGraphAreOrderAndPaddingInvariantAndTrain) {
  for (const std::string kind : {"adjacency", "diffusion", "random-walk"}) {
    torch::manual_seed(20);
    PointCloudClassifier model(PointCloudClassifierOptions(3, 0, 4)
                                   .embed_dim(16)
                                   .num_heads(2)
                                   .num_layers(2)
                                   .num_features(8)
                                   .dropout(0)
                                   .masks({{"flt", {}}, {kind, {}}})
                                   .knn(4));
    model->eval();
    const auto pos = torch::rand({2, 11, 3});
    const auto logits = model(pos);
    EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 4}));
    const auto perm = torch::randperm(11);
    EXPECT_TENSOR_CLOSE(model(pos.index_select(1, perm)), logits, {1e-4, 1e-5});
    // Padding anywhere (here: in front of cloud 0's points) changes nothing.
    auto pad = torch::zeros({2, 14}, torch::kBool);
    pad[0].slice(0, 0, 3).fill_(true);
    pad[1].slice(0, 11).fill_(true);
    const auto junk = torch::rand({3, 3}) * 9;
    const auto padded = torch::stack({torch::cat({junk, pos[0]}), torch::cat({pos[1], junk})});
    EXPECT_TENSOR_CLOSE(model->forward(padded, {}, pad), logits, {1e-4, 1e-5});
    model->train();
    torch::nn::functional::cross_entropy(model(pos), torch::tensor({1, 3})).backward();
    for (const auto& p : model->named_parameters()) {
      ASSERT_TRUE(p.value().grad().defined()) << p.key();
    }
    if (kind != "adjacency") {
      const auto p =
          model->named_parameters()[kind == "diffusion" ? "blocks.1.self_attn.mask_1.time"
                                                        : "blocks.1.self_attn.mask_1.alpha"];
      EXPECT_GT(p.grad().abs().sum().item<float>(), 0.0f);
    }
  }
}

TEST(PointCloudClassifier, DownsamplingMaxPoolsEachFarthestPointNeighbourhood) {
  torch::manual_seed(21);
  const int64_t k = 3;
  PointCloudClassifier model(PointCloudClassifierOptions(2, 1, 3)
                                 .embed_dim(8)
                                 .num_heads(2)
                                 .num_layers(3)
                                 .num_features(8)
                                 .dropout(0)
                                 .num_stages(2)
                                 .downsample_ratio(0.5)
                                 .knn(k));
  EXPECT_EQ(model->stage_starts(), (std::vector<int64_t>{0, 2, 3}));
  model->eval();
  // Cloud 0 has 7 points, cloud 1 only 2 (< k: its neighbourhoods repeat the centre).
  const auto pos = torch::rand({9, 2}), h = torch::randn({9, 8});
  const auto batch = torch::tensor({0, 0, 0, 0, 0, 0, 0, 1, 1});
  const auto [pooled, centres, kept_batch] = model->downsample_points(0, h, pos, batch);
  const auto kept = geometry::farthest_point_sampling(pos, batch, 0.5, false);
  ASSERT_EQ(kept.size(0), 4 + 1);
  EXPECT_TRUE(centres.equal(pos.index_select(0, kept)));
  EXPECT_TRUE(kept_batch.equal(batch.index_select(0, kept)));
  // Brute force: distances to every point of the same cloud, the k nearest, MLP, max.
  auto& mlp = *model->downsample[0]->as<torch::nn::Sequential>();
  for (int64_t i = 0; i < kept.size(0); ++i) {
    const auto centre = pos[kept[i].item<int64_t>()];
    const auto same = (batch == kept_batch[i]).nonzero().flatten();
    const auto d = (pos.index_select(0, same) - centre).norm(2, 1);
    const auto nearest =
        same.index_select(0, std::get<1>(d.sort()).slice(0, 0, std::min<int64_t>(k, same.size(0))));
    const auto out = mlp.forward(
        torch::cat({h.index_select(0, nearest), pos.index_select(0, nearest) - centre}, 1));
    EXPECT_TENSOR_CLOSE(pooled[i], std::get<0>(out.max(0)), {1e-5, 1e-6});
  }
  // The whole model: padding-invariant, and every parameter trains.
  const auto cloud = torch::rand({1, 10, 2}), x = torch::rand({1, 10, 1});
  const auto alone = model(cloud, x);
  auto pad = torch::zeros({2, 10}, torch::kBool);
  pad[1].slice(0, 6).fill_(true);
  const auto batched = model(torch::cat({cloud, torch::rand({1, 10, 2})}),
                             torch::cat({x, torch::rand({1, 10, 1})}), pad);
  EXPECT_TENSOR_CLOSE(batched[0], alone[0], {1e-4, 1e-5});
  model->train();
  torch::nn::functional::cross_entropy(batched, torch::tensor({0, 2})).backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
  }
  EXPECT_THROW_WITH(
      PointCloudClassifier(PointCloudClassifierOptions(2, 0, 3).num_layers(2).num_stages(3)),
      "num_stages");
}

}  // namespace
}  // namespace topo::models
