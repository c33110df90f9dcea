// SPDX-License-Identifier: Apache-2.0
// One training step (forward + backward) of the main job's PointCloudClassifier on a batch of
// 32 real MNIST digits (2-D clouds, ~150 points each), for each topology option: FLT RPE only
// (the main job), plus an adjacency / diffusion mask on the kNN graph, and two stages with
// farthest point sampling between them. Run with TOPO_NUM_THREADS=1 to match the main job.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "datasets/batching.h"
#include "datasets/point_clouds.h"
#include "models/point_cloud_classifier.h"

namespace {

using namespace topo;

const datasets::PaddedBatch& digits() {
  static const datasets::PaddedBatch batch = [] {
    auto samples =
        datasets::read_mnist(TOPO_SOURCE_DIR "/examples/data/mnist_10k/images-idx3-ubyte.gz",
                             TOPO_SOURCE_DIR "/examples/data/mnist_10k/labels-idx1-ubyte.gz", 127,
                             /*centre=*/true);
    samples.resize(32);
    return datasets::collate_padded(samples);
  }();
  return batch;
}

void BM_PointCloudClassifierStep(benchmark::State& state) {
  const int64_t variant = state.range(0);
  auto options =
      models::PointCloudClassifierOptions(2, 1, 10);  // the main job's defaults otherwise
  auto masks = options.masks();  // the FLT RPE, times a mask of the kNN graph in variants 1 and 2
  if (variant == 1) options.masks({masks[0], {"adjacency", {}}}).knn(8);
  if (variant == 2) options.masks({masks[0], {"diffusion", {}}}).knn(8);
  if (variant == 3) options.num_stages(2).downsample_ratio(0.25).knn(8);
  torch::manual_seed(0);
  models::PointCloudClassifier model(options);
  const auto& b = digits();
  for (auto _ : state) {
    model->zero_grad();
    torch::nn::functional::cross_entropy(model(b.pos, b.x, b.key_padding_mask), b.y).backward();
  }
  state.SetLabel(variant == 0   ? "FLT RPE"
                 : variant == 1 ? "+ kNN adjacency mask"
                 : variant == 2 ? "+ kNN diffusion mask"
                                : "2 stages (FPS 1/4)");
}
BENCHMARK(BM_PointCloudClassifierStep)->DenseRange(0, 3)->Unit(benchmark::kMillisecond);

}  // namespace
