// SPDX-License-Identifier: Apache-2.0
// One training step (forward + backward) of the main job's PointCloudClassifier on a batch of
// 32 real MNIST digits (2-D clouds, ~150 points each), for each topology option: FLT RPE only
// (the main job), plus an adjacency / diffusion mask on the kNN graph, and two stages with
// farthest point sampling between them. Run with TOPO_NUM_THREADS=1 to match the main job.
// And energies and forces of periodic copper crystals of 10^3 to 10^5 atoms in one call.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <cmath>

#include "datasets/batching.h"
#include "datasets/point_clouds.h"
#include "models/molecular_transformer.h"
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

/// Energies and forces of one periodic copper crystal of ~N atoms (an fcc supercell of the
/// cubic 3.61 Å cell, atoms displaced by 0.05 Å) in one call, with the molecular model's
/// defaults (64 features, 3 layers, local-RPE mask and density channels at a 5 Å cutoff,
/// float32). Counters: atoms per second and the process's peak resident memory (run one size
/// per process, --benchmark_filter=.../N, for a clean peak).
void BM_PeriodicEnergyForces(benchmark::State& state) {
  const int64_t target = state.range(0);
  const auto reps = static_cast<int64_t>(std::llround(std::cbrt(double(target) / 4.0)));
  const auto basis =
      torch::tensor({{0.0, 0.0, 0.0}, {0.5, 0.5, 0.0}, {0.5, 0.0, 0.5}, {0.0, 0.5, 0.5}});
  const auto grid =
      torch::stack(
          torch::meshgrid({torch::arange(reps), torch::arange(reps), torch::arange(reps)}, "ij"),
          -1)
          .reshape({-1, 1, 3})
          .to(torch::kFloat);
  const double a = 3.61;
  torch::manual_seed(0);
  const auto pos = ((grid + basis.unsqueeze(0)).reshape({-1, 3}) * a +
                    0.05 * torch::randn({grid.size(0) * 4, 3}))
                       .unsqueeze(0);
  const int64_t n = pos.size(1);
  const auto cell = (torch::eye(3) * (a * double(reps))).unsqueeze(0);
  const auto z = torch::full({1, n}, 29, torch::kLong);
  models::MolecularTransformer model;
  model->eval();
  for (auto _ : state) {
    const auto out = model->predict(z, pos, {}, cell);
    benchmark::DoNotOptimize(out.forces.data_ptr<float>());
  }
  state.counters["atoms"] = double(n);
  state.counters["atoms_per_s"] =
      benchmark::Counter(double(n), benchmark::Counter::kIsIterationInvariantRate);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  state.counters["peak_rss_MiB"] = double(usage.ru_maxrss) / 1024.0;
}
BENCHMARK(BM_PeriodicEnergyForces)
    ->Arg(1000)
    ->Arg(10000)
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(2);

}  // namespace
