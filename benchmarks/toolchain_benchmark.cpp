// SPDX-License-Identifier: Apache-2.0
// Toolchain sanity: is LibTorch on OpenBLAS (not the 27x slower reference BLAS), and do
// topoformer's own at::parallel_for loops scale with threads (OpenMP compiled in)?
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>

namespace {

void BM_MatmulFloat32(benchmark::State& state) {
  const int64_t n = state.range(0);
  const auto a = torch::randn({n, n});
  const auto b = torch::randn({n, n});
  for (auto _ : state) benchmark::DoNotOptimize(a.matmul(b));
  state.counters["FLOP/s"] =
      benchmark::Counter(2.0 * n * n * n * state.iterations(), benchmark::Counter::kIsRate,
                         benchmark::Counter::kIs1000);
}
BENCHMARK(BM_MatmulFloat32)->Arg(256)->Arg(1024)->Unit(benchmark::kMillisecond);

// A loop written like topoformer's kernels, at 1 and 2 intra-op threads.
void BM_OwnParallelFor(benchmark::State& state) {
  const int saved = at::get_num_threads();
  at::set_num_threads(static_cast<int>(state.range(0)));
  auto x = torch::rand({1 << 22}, torch::kFloat64);
  double* data = x.data_ptr<double>();
  for (auto _ : state) {
    at::parallel_for(0, x.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) data[i] = std::sin(data[i]) + 1e-3;
    });
    benchmark::ClobberMemory();
  }
  at::set_num_threads(saved);
  state.SetItemsProcessed(state.iterations() * x.numel());
}
BENCHMARK(BM_OwnParallelFor)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
