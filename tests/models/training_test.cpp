// SPDX-License-Identifier: Apache-2.0
// One short training run per task on real fixture data: the loss falls. Full-quality runs
// are benchmarks (BENCHMARKS.md), not tests.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "datasets/batching.h"
#include "datasets/graphs.h"
#include "datasets/molecules.h"
#include "datasets/point_clouds.h"
#include "models/graph_attention.h"
#include "models/molecular_transformer.h"
#include "models/point_cloud_classifier.h"
#include "support/test_data.h"
#include "training/trainer.h"

namespace topo::models {
namespace {

using training::StepFunction;
using training::StepOutput;
using training::Trainer;
using training::TrainerOptions;

const std::string kData = std::string(TOPO_TEST_DATA_DIR) + "/datasets/";

/// Trains `epochs` epochs with a constant learning rate; returns the per-epoch training loss.
std::vector<double> train_losses(const std::shared_ptr<torch::nn::Module>& model,
                                 const StepFunction& step,
                                 const std::vector<datasets::Sample>& samples, int64_t batch_size,
                                 int64_t epochs, double learning_rate) {
  datasets::DataLoaderOptions lo;
  lo.batch_size = batch_size;
  lo.seed = 7;
  datasets::DataLoader loader(std::make_shared<const std::vector<datasets::Sample>>(samples), lo);
  Trainer trainer(model, TrainerOptions()
                             .epochs(epochs)
                             .learning_rate(learning_rate)
                             .schedule("constant")
                             .warmup_fraction(0)
                             .weight_decay(0)
                             .progress(false));
  std::vector<double> losses;
  for (const auto& record : trainer.fit(step, loader)) losses.push_back(record.train_loss);
  return losses;
}

TEST(TrainingRun, PointCloudClassifierOnMnistDigitsWithGraphMaskAndStages) {
  auto digits =
      datasets::read_mnist(kData + "mnist_200-images-idx3-ubyte.gz",
                           kData + "mnist_200-labels-idx1-ubyte.gz", 127, /*centre=*/true);
  digits.resize(64);
  torch::manual_seed(30);
  PointCloudClassifier model(
      PointCloudClassifierOptions(2, 1, 10)
          .embed_dim(16)
          .num_heads(2)
          .num_layers(2)
          .num_features(8)
          .masks({{"flt", {{"features", int64_t{16}}, {"length_scale", 0.3}}}, {"adjacency", {}}})
          .knn(8)
          .num_stages(2)
          .downsample_ratio(0.25));
  const auto losses = train_losses(
      model.ptr(),
      [model](const std::vector<datasets::Sample>& batch) mutable {
        const auto p = datasets::collate_padded(batch);
        const auto logits = model->forward(p.pos, p.x, p.key_padding_mask);
        return StepOutput{torch::nn::functional::cross_entropy(logits, p.y), 0.0,
                          static_cast<int64_t>(batch.size())};
      },
      digits, 16, 6, 3e-3);
  EXPECT_LT(losses.back(), 0.8 * losses.front())
      << "first " << losses.front() << ", last " << losses.back();
}

TEST(TrainingRun, MolecularTransformerOnEthanolEnergiesAndForces) {
  const auto set = datasets::read_extended_xyz(kData + "ethanol_head.extxyz", {"energy"});
  auto samples = set.samples;
  // Energies relative to their mean (the per-element offsets are fitted separately in practice).
  double mean = 0;
  for (const auto& s : samples) mean += s.y[0].item<double>() / samples.size();
  for (auto& s : samples) s.y = s.y - mean;
  torch::manual_seed(31);
  MolecularTransformer model(
      MolecularTransformerOptions().embed_dim(16).num_heads(4).num_layers(1).num_features(8).cutoff(
          4.0));
  const auto losses = train_losses(
      model.ptr(),
      [model](const std::vector<datasets::Sample>& batch) mutable {
        const auto p = datasets::collate_padded(batch);
        const auto [energy, forces] =
            model->energy_and_forces(p.z, p.pos, p.key_padding_mask, /*create_graph=*/true);
        const auto loss = torch::mse_loss(energy, p.y.squeeze(-1).to(torch::kFloat)) +
                          10 * torch::mse_loss(forces, p.forces);
        return StepOutput{loss, 0.0, static_cast<int64_t>(batch.size())};
      },
      samples, 5, 40, 1e-2);
  EXPECT_LT(losses.back(), 0.5 * losses.front())
      << "first " << losses.front() << ", last " << losses.back();
}

TEST(TrainingRun, GraphTransformerOnMutag) {
  const auto set = datasets::read_tu_dataset(kData + "MUTAG", "MUTAG");
  torch::manual_seed(32);
  GraphTransformer model(GraphTransformerOptions(set.samples[0].x.size(1), set.num_classes)
                             .embed_dim(16)
                             .num_heads(2)
                             .num_layers(2)
                             .masks({{"adjacency", {}}})
                             .dropout(0));
  const auto losses = train_losses(
      model.ptr(),
      [model](const std::vector<datasets::Sample>& batch) mutable {
        const auto b = datasets::collate(batch);
        const auto logits = model->forward(b.data.x, b.data.edge_index, b.batch);
        return StepOutput{torch::nn::functional::cross_entropy(logits, b.data.y), 0.0,
                          b.num_graphs};
      },
      set.samples, 32, 8, 3e-3);
  EXPECT_LT(losses.back(), 0.85 * losses.front())
      << "first " << losses.front() << ", last " << losses.back();
}

}  // namespace
}  // namespace topo::models
