// SPDX-License-Identifier: Apache-2.0
// Transformer block and point-cloud classifier properties; the trainer's exact resume,
// NaN stop, early stopping, logs and plot.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "datasets/batching.h"
#include "geometry/farthest_point_sampling.h"
#include "models/graph_attention.h"
#include "models/plots.h"
#include "models/molecular_transformer.h"
#include "models/point_cloud_classifier.h"
#include "models/trainer.h"
#include "models/transformer_block.h"
#include "support/tensor_assertions.h"

namespace topo::models {
namespace {

namespace fs = std::filesystem;

TEST(TransformerBlock, PaddingAndPermutationInvariance) {
  torch::manual_seed(0);
  for (const auto kind : {attention::FeatureMapKind::kSoftmaxPositive, attention::FeatureMapKind::kRelu}) {
    TransformerBlock block(TransformerBlockOptions(16, 4).feature_map(kind).rpe_dim(3).rpe_features(8));
    block->eval();
    const auto x = torch::randn({1, 7, 16}), pos = torch::randn({1, 7, 3});
    const auto out = block->forward(x, {}, pos);
    // Extra padded tokens (garbage content) change nothing.
    auto pad = torch::zeros({1, 10}, torch::kBool);
    pad[0].slice(0, 7).fill_(true);
    const auto padded = block->forward(torch::cat({x, torch::randn({1, 3, 16}) * 50}, 1), pad, torch::cat({pos, torch::randn({1, 3, 3})}, 1));
    EXPECT_TENSOR_CLOSE(padded.slice(1, 0, 7), out, {1e-4, 1e-5});
    // Permuting tokens (with their positions) permutes the outputs.
    const auto perm = torch::randperm(7);
    EXPECT_TENSOR_CLOSE(block->forward(x.index_select(1, perm), {}, pos.index_select(1, perm)), out.index_select(1, perm), {1e-4, 1e-5});
  }
  // Combiner attention as the alternative: padding-invariant too.
  TransformerBlock combiner(TransformerBlockOptions(16, 4).combiner(true).combiner_variant(attention::CombinerVariant::kLogsparse));
  combiner->eval();
  const auto xc = torch::randn({1, 7, 16});
  auto padc = torch::zeros({1, 9}, torch::kBool);
  padc[0].slice(0, 7).fill_(true);
  EXPECT_TENSOR_CLOSE(combiner->forward(torch::cat({xc, torch::randn({1, 2, 16})}, 1), padc).slice(1, 0, 7), combiner->forward(xc),
                      {1e-4, 1e-5});
  TransformerBlock with_rpe(TransformerBlockOptions(16, 4).rpe_dim(2));
  EXPECT_THROW_WITH(with_rpe->forward(torch::randn({1, 5, 16})), "`pos` must be positions [B, L, rpe_dim]");
}

TEST(PointCloudClassifier, InvariantToPointOrderAndPaddingAndTrainsEveryParameter) {
  torch::manual_seed(1);
  PointCloudClassifier model(PointCloudClassifierOptions(2, 1, 5).embed_dim(16).num_heads(2).num_layers(2).num_features(8).dropout(0));
  model->eval();
  const auto pos = torch::rand({2, 9, 2}), x = torch::rand({2, 9, 1});
  const auto logits = model(pos, x);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{2, 5}));
  const auto perm = torch::randperm(9);
  EXPECT_TENSOR_CLOSE(model(pos.index_select(1, perm), x.index_select(1, perm)), logits, {1e-4, 1e-5});
  auto pad = torch::zeros({2, 12}, torch::kBool);
  pad.slice(1, 9).fill_(true);
  EXPECT_TENSOR_CLOSE(model(torch::cat({pos, torch::rand({2, 3, 2})}, 1), torch::cat({x, torch::rand({2, 3, 1})}, 1), pad),
                      logits, {1e-4, 1e-5});
  model->train();
  torch::nn::functional::cross_entropy(model(pos, x), torch::tensor({1, 3})).backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
  }
}

/// A tiny separable 2-class problem of 2-D clouds for trainer tests.
std::shared_ptr<const std::vector<datasets::Sample>> toy_data(int64_t n) {
  torch::manual_seed(2);
  std::vector<datasets::Sample> out;
  for (int64_t i = 0; i < n; ++i) {
    datasets::Sample s;
    const int64_t label = i % 2;
    s.pos = torch::randn({6, 2}) * 0.3 + (label ? 1.0 : -1.0);
    s.x = torch::ones({6, 1});
    s.y = torch::tensor(label, torch::kLong);
    out.push_back(s);
  }
  return std::make_shared<const std::vector<datasets::Sample>>(out);
}

StepFunction step_for(PointCloudClassifier model, double poison = 1.0) {
  return [model, poison](const std::vector<datasets::Sample>& batch) mutable {
    const auto padded = datasets::collate_padded(batch);
    const auto logits = model->forward(padded.pos, padded.x, padded.key_padding_mask) * poison;
    return StepOutput{torch::nn::functional::cross_entropy(logits, padded.y),
                      (logits.argmax(1) == padded.y).sum().item<double>(), static_cast<int64_t>(batch.size())};
  };
}

PointCloudClassifier toy_model() {
  torch::manual_seed(3);
  return PointCloudClassifier(PointCloudClassifierOptions(2, 1, 2).embed_dim(8).num_heads(2).num_layers(1).num_features(8).dropout(0.1));
}

fs::path fresh_folder(const std::string& name) {
  const auto dir = fs::temp_directory_path() / ("topo_models_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Trainer, ResumedRunContinuesExactly) {
  const auto data = toy_data(40);
  datasets::DataLoaderOptions lo;
  lo.batch_size = 8;
  lo.seed = 4;
  lo.transform = datasets::random_jitter(0.05, 0.1);
  const auto dir = fresh_folder("resume");
  const auto options = TrainerOptions().epochs(4).learning_rate(5e-3).progress(false);
  // Straight through.
  torch::manual_seed(5);
  auto straight = toy_model();
  {
    datasets::DataLoader loader(data, lo);
    Trainer trainer(straight.ptr(), TrainerOptions(options).checkpoint_path((dir / "a.pt").string()));
    trainer.fit(step_for(straight), loader);
  }
  // Two epochs, "crash", then resume from the checkpoint in a fresh process-like setup.
  torch::manual_seed(5);
  auto first = toy_model();
  {
    datasets::DataLoader loader(data, lo);
    Trainer trainer(first.ptr(), TrainerOptions(options).epochs(4).checkpoint_path((dir / "b.pt").string()));
    // The same schedule, interrupted during the third epoch (after 2 × 5 batches).
    struct Interrupt {};
    int64_t batches = 0;
    const auto interrupting = [&, inner = step_for(first)](const std::vector<datasets::Sample>& b) mutable {
      if (++batches > 2 * 5) throw Interrupt{};
      return inner(b);
    };
    EXPECT_THROW(trainer.fit(interrupting, loader), Interrupt);
  }
  torch::manual_seed(123);  // whatever the process state, the checkpoint restores it
  auto resumed = toy_model();
  {
    datasets::DataLoader loader(data, lo);
    Trainer trainer(resumed.ptr(), TrainerOptions(options).checkpoint_path((dir / "b.pt").string()).resume(true));
    EXPECT_EQ(trainer.start_epoch(), 2);
    trainer.fit(step_for(resumed), loader);
  }
  const auto a = straight->parameters(), b = resumed->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].equal(b[i])) << "parameter " << i;
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << "left over: " << entry.path();
  }
}

TEST(Trainer, StopsOnNanLossNamingTheStepAndStopsEarly) {
  const auto data = toy_data(16);
  datasets::DataLoaderOptions lo;
  lo.batch_size = 4;
  auto model = toy_model();
  datasets::DataLoader loader(data, lo);
  Trainer trainer(model.ptr(), TrainerOptions().epochs(2).progress(false));
  EXPECT_THROW_WITH(trainer.fit(step_for(model, std::nan("")), loader), "loss is nan at epoch 1, batch 1 (global step 1)");
  // Early stopping: a constant validation metric never improves after the first epoch.
  const auto dir = fresh_folder("early");
  auto model2 = toy_model();
  datasets::DataLoader train(data, lo), validation(data, lo);
  Trainer patient(model2.ptr(), TrainerOptions().epochs(20).learning_rate(1e-9).early_stopping_patience(2).progress(false)
                                    .metrics_csv((dir / "m.csv").string()).metrics_json((dir / "m.json").string()));
  const auto records = patient.fit(step_for(model2), train, &validation);
  EXPECT_LT(records.size(), 20u);
  std::ifstream csv(dir / "m.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds");
  plot_learning_curves((dir / "m.csv").string(), (dir / "curves.png").string());
  EXPECT_GT(fs::file_size(dir / "curves.png"), 1000u);
  geometry::SpectralRPE rpe(geometry::SpectralRPEOptions(2, 3));
  plot_spectral_rpe(*rpe, (dir / "rpe.png").string());
  EXPECT_GT(fs::file_size(dir / "rpe.png"), 1000u);
  geometry::LocalRPE local(geometry::LocalRPEOptions(3, 2.0).num_bins(4));
  plot_local_rpe(*local, (dir / "local.png").string());
  EXPECT_GT(fs::file_size(dir / "local.png"), 1000u);
  EXPECT_THROW_WITH(plot_learning_curves((dir / "missing.csv").string(), (dir / "x.png").string()), "missing.csv");
}

TEST(Trainer, ExtraMetricsAreAggregatedLoggedAndKeptAcrossAResume) {
  const auto data = toy_data(12);
  datasets::DataLoaderOptions lo;
  lo.batch_size = 5;  // batches of 5, 5, 2: the aggregate must weight by count
  auto model = toy_model();
  auto inner = step_for(model);
  const StepFunction step = [&](const std::vector<datasets::Sample>& batch) {
    auto out = inner(batch);
    const double n = static_cast<double>(batch.size());
    out.extra.push_back({"size_rmse", n * n * n, n, true});  // per-sample value n² → root mean square
    out.extra.push_back({"half", 0.5 * n, n});
    return out;
  };
  datasets::DataLoader loader(data, lo), validation(data, lo);
  Trainer plain(model.ptr(), TrainerOptions().epochs(1).progress(false));
  const auto eval = plain.evaluate(step, validation);
  ASSERT_EQ(eval.extra.size(), 2u);
  EXPECT_EQ(eval.extra[0].first, "size_rmse");
  EXPECT_NEAR(eval.extra[0].second, std::sqrt((5.0 * 25 + 5.0 * 25 + 2.0 * 4) / 12), 1e-12);  // n samples of n² per batch
  EXPECT_NEAR(eval.extra[1].second, 0.5, 1e-12);
  const auto dir = fresh_folder("extra");
  const auto options = TrainerOptions().epochs(2).progress(false).checkpoint_path((dir / "c.pt").string())
                           .metrics_csv((dir / "m.csv").string()).metrics_json((dir / "m.json").string());
  {
    Trainer trainer(model.ptr(), options);
    trainer.fit(step, loader, &validation);
  }
  {
    Trainer resumed(model.ptr(), TrainerOptions(options).epochs(3).resume(true));
    const auto records = resumed.fit(step, loader, &validation);
    ASSERT_EQ(records.size(), 1u);
  }
  std::ifstream csv(dir / "m.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,"
                    "train_size_rmse,train_half,val_size_rmse,val_half");
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    EXPECT_NE(line.find(",0.5,"), std::string::npos) << "row " << rows << " (from the checkpoint for rows 1-2): " << line;
  }
  EXPECT_EQ(rows, 3);
}

}  // namespace
}  // namespace topo::models

namespace topo::models {
namespace {

TEST(MolecularTransformer, InvariantEnergiesEquivariantForcesThatAreTheGradient) {
  torch::manual_seed(10);
  MolecularTransformer model(MolecularTransformerOptions().embed_dim(16).num_heads(2).num_layers(2).num_features(8).cutoff(3.0));
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
  const double numeric = -(model(z, plus, pad)[1] - model(z, minus, pad)[1]).item<double>() / (2 * h);
  EXPECT_NEAR(forces[1][2][0].item<double>(), numeric, 1e-6);
  // Training on forces needs the double backward.
  model->train();
  const auto [e, f] = model->energy_and_forces(z, pos, pad, /*create_graph=*/true);
  (e.pow(2).sum() + f.pow(2).sum()).backward();
  EXPECT_GT(model->embedding->weight.grad().abs().sum().item<double>(), 0.0);
  EXPECT_THROW_WITH(model(torch::tensor({{6, 200}}), torch::randn({1, 2, 3}, torch::kDouble)), "atomic numbers in [1, 100]");
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
  MolecularTransformer flt(MolecularTransformerOptions().embed_dim(16).num_heads(2).num_layers(2).num_features(8).cutoff(3.0)
                               .flt_features(8));
  flt->to(torch::kDouble);
  flt->eval();
  const auto [energy, forces] = flt->energy_and_forces(z, pos, pad);
  EXPECT_TENSOR_CLOSE(flt(z, pos + shift, pad), energy, {1e-9, 1e-9});
  const double h = 1e-5;
  auto plus = pos.clone(), minus = pos.clone();
  plus[0][3][1] += h;
  minus[0][3][1] -= h;
  EXPECT_NEAR(forces[0][3][1].item<double>(), -(flt(z, plus, pad)[0] - flt(z, minus, pad)[0]).item<double>() / (2 * h), 1e-6);
  // A diffusion mask over the radius graph instead of the local RPE: distances only, so
  // rotation- and translation-invariant; its diffusion times train.
  MolecularTransformer diffusion(MolecularTransformerOptions().embed_dim(16).num_heads(2).num_layers(2).num_features(8).cutoff(3.0)
                                     .local_rpe(false).graph_mask(GraphMaskKind::kDiffusion));
  diffusion->to(torch::kDouble);
  const auto e = diffusion(z, pos, pad);
  EXPECT_TENSOR_CLOSE(diffusion(z, torch::matmul(pos, q.t()) + shift, pad), e, {1e-9, 1e-9});
  e.sum().backward();
  EXPECT_GT(diffusion->graph_mask_parameters[0].grad().abs().sum().item<double>(), 0.0);
  auto inner_pad = pad.clone();
  inner_pad[0][5] = false;
  inner_pad[0][2] = true;
  auto z_inner = z.clone();
  z_inner[0][5] = 1;
  EXPECT_THROW_WITH(diffusion(z_inner, pos, inner_pad), "padding after each molecule's atoms");
  EXPECT_THROW_WITH(MolecularTransformer(MolecularTransformerOptions().graph_mask(GraphMaskKind::kAdjacency)),
                    "one mask over the radius graph");
}

TEST(GraphAttentionLayer, EveryMaskOnAGraphBatchIsPermutationEquivariantAndTrains) {
  torch::manual_seed(11);
  // Two graphs: a 5-cycle and a path of 4 nodes.
  const auto edges = torch::tensor({{0, 1, 2, 3, 4, 5, 6, 7}, {1, 2, 3, 4, 0, 6, 7, 8}});
  const auto batch = torch::tensor({0, 0, 0, 0, 0, 1, 1, 1, 1});
  const auto x = torch::randn({9, 8});
  for (const auto kind : {GraphMaskKind::kNone, GraphMaskKind::kAdjacency, GraphMaskKind::kDiffusion, GraphMaskKind::kRandomWalkKernel,
                          GraphMaskKind::kGraphRandomFeatures, GraphMaskKind::kSpanningTree}) {
    GraphAttentionLayer layer(GraphAttentionLayerOptions(8, 2).mask(kind));
    const auto out = layer(x, edges, batch);
    EXPECT_EQ(out.sizes(), x.sizes());
    if (kind != GraphMaskKind::kGraphRandomFeatures && kind != GraphMaskKind::kSpanningTree) {
      // Relabel the cycle's nodes: outputs follow (random-walk masks resample, so skip them).
      const auto perm = torch::tensor({2, 0, 4, 1, 3, 5, 6, 7, 8});
      const auto inverse = torch::argsort(perm);
      const auto out_p = layer(x.index_select(0, perm), inverse.index({edges}), batch);
      EXPECT_TENSOR_CLOSE(out_p, out.index_select(0, perm), {1e-4, 1e-5});
    }
    out.sum().backward();
    if (layer->mask_parameter.defined()) {
      ASSERT_TRUE(layer->mask_parameter.grad().defined());
      EXPECT_GT(layer->mask_parameter.grad().abs().sum().item<float>(), 0.0f);
    }
  }
  GraphTransformer model(GraphTransformerOptions(8, 3).embed_dim(16).num_heads(2).num_layers(2));
  EXPECT_EQ(model(x, edges, batch).sizes(), (std::vector<int64_t>{2, 3}));
}

}  // namespace
}  // namespace topo::models

namespace topo::models {
namespace {

TEST(PointCloudClassifier, GraphMasksOnTheKnnGraphAreOrderAndPaddingInvariantAndTrain) {
  for (const auto kind : {GraphMaskKind::kAdjacency, GraphMaskKind::kDiffusion, GraphMaskKind::kRandomWalkKernel}) {
    torch::manual_seed(20);
    PointCloudClassifier model(
        PointCloudClassifierOptions(3, 0, 4).embed_dim(16).num_heads(2).num_layers(2).num_features(8).dropout(0).graph_mask(kind).knn(4));
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
    if (kind != GraphMaskKind::kAdjacency) {
      EXPECT_GT(model->graph_mask_parameters[1].grad().abs().sum().item<float>(), 0.0f);
    }
  }
}

TEST(PointCloudClassifier, DownsamplingMaxPoolsEachFarthestPointNeighbourhood) {
  torch::manual_seed(21);
  const int64_t k = 3;
  PointCloudClassifier model(
      PointCloudClassifierOptions(2, 1, 3).embed_dim(8).num_heads(2).num_layers(3).num_features(8).dropout(0).num_stages(2).downsample_ratio(0.5).knn(k));
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
    const auto nearest = same.index_select(0, std::get<1>(d.sort()).slice(0, 0, std::min<int64_t>(k, same.size(0))));
    const auto out = mlp.forward(torch::cat({h.index_select(0, nearest), pos.index_select(0, nearest) - centre}, 1));
    EXPECT_TENSOR_CLOSE(pooled[i], std::get<0>(out.max(0)), {1e-5, 1e-6});
  }
  // The whole model: padding-invariant, and every parameter trains.
  const auto cloud = torch::rand({1, 10, 2}), x = torch::rand({1, 10, 1});
  const auto alone = model(cloud, x);
  auto pad = torch::zeros({2, 10}, torch::kBool);
  pad[1].slice(0, 6).fill_(true);
  const auto batched = model(torch::cat({cloud, torch::rand({1, 10, 2})}), torch::cat({x, torch::rand({1, 10, 1})}), pad);
  EXPECT_TENSOR_CLOSE(batched[0], alone[0], {1e-4, 1e-5});
  model->train();
  torch::nn::functional::cross_entropy(batched, torch::tensor({0, 2})).backward();
  for (const auto& p : model->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
  }
  EXPECT_THROW_WITH(PointCloudClassifier(PointCloudClassifierOptions(2, 0, 3).num_layers(2).num_stages(3)),
                    "num_stages");
}

}  // namespace
}  // namespace topo::models
