// SPDX-License-Identifier: Apache-2.0
// The main job in ~80 lines: classify MNIST digits as 2-D point clouds with topologically
// masked linear attention (FAVOR+ with an FLT spectral RPE over the points' positions).
//
//   classify_pointclouds [mnist_folder] [epochs]
//
// For ModelNet40, swap read_mnist for read_modelnet (3-D clouds, no per-point features):
//   datasets::ModelNetOptions o; o.root = "ModelNet40"; o.num_points = 1024;
//   o.cache_dir = "cache"; auto train = datasets::read_modelnet(o);  (o.split = "test" for the test
//   set)
// and build the model with PointCloudClassifierOptions(/*pos_dim=*/3, /*feature_dim=*/0, 40).
// For 1,024-point shapes add topology and a hierarchy to the options:
//   .masks({{"flt", {}}, {"adjacency", {}}}).knn(16)   // FLT RPE times attention along the kNN
//   graph .num_stages(2).downsample_ratio(0.25)                    // FPS to 256 points after stage
//   1
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "common/allocator.h"
#include "common/threads.h"
#include "datasets/batching.h"
#include "datasets/point_clouds.h"
#include "datasets/transforms.h"
#include "models/point_cloud_classifier.h"
#include "training/steps.h"
#include "training/trainer.h"

using namespace topo;

int main(int argc, char** argv) {
  const std::string folder = argc > 1 ? argv[1] : "examples/data/mnist_10k";
  const int64_t epochs = argc > 2 ? std::stoll(argv[2]) : 10;
  topo::reuse_freed_memory();  // common/allocator.h
  topo::set_num_threads(1);    // tiny tensors: one compute thread, the other core loads data

  // 10,000 digits → clouds of lit pixels in [−1, 1]², intensity as the feature.
  // Pixel coordinates mapped to [−1, 1] from the images' size.
  auto digits =
      datasets::read_mnist(folder + "/images-idx3-ubyte.gz", folder + "/labels-idx1-ubyte.gz", 127,
                           /*centre=*/true);
  const auto split =
      datasets::random_split(static_cast<int64_t>(digits.size()), {0.75, 0.05, 0.2}, 0);
  const auto share = [&](int i) {
    return std::make_shared<const std::vector<datasets::Sample>>(
        datasets::select(digits, split[i]));
  };

  datasets::DataLoaderOptions train_options;
  train_options.batch_size = 32;
  train_options.num_workers = 1;
  train_options.transform =
      datasets::compose({datasets::random_scale(0.85, 1.15), datasets::random_jitter(0.02, 0.05)});
  datasets::DataLoaderOptions eval_options = train_options;
  eval_options.shuffle = false;
  eval_options.transform = nullptr;
  datasets::DataLoader train(share(0), train_options), validation(share(1), eval_options),
      test(share(2), eval_options);

  torch::manual_seed(0);
  models::PointCloudClassifier model(
      models::PointCloudClassifierOptions(/*pos_dim=*/2, /*feature_dim=*/1, /*classes=*/10)
          .embed_dim(64)
          .num_heads(4)
          .num_layers(3));
  const training::StepFunction step = [model](const std::vector<datasets::Sample>& batch) mutable {
    const auto padded = datasets::collate_padded(batch);  // [B, L, ·] + key-padding mask
    return training::classification_output(
        model->forward(padded.pos, padded.x, padded.key_padding_mask), padded.y);
  };
  training::Trainer trainer(
      model.ptr(),
      training::TrainerOptions().epochs(epochs).learning_rate(3e-3).weight_decay(0.02));
  trainer.fit(step, train, &validation);
  const auto result = trainer.evaluate(step, test);
  std::printf("test accuracy: %.4f on %lld digits\n", result.metric,
              static_cast<long long>(result.count));
  return 0;
}
