// SPDX-License-Identifier: Apache-2.0
// The FFT behind the Toeplitz and block-Toeplitz masks (issue 16): Debian's LibTorch runs
// torch::fft on pocketfft; FFTW 3 (libfftw3-dev, single precision) is the usual faster choice.
// Both do the Toeplitz mask's work at L = 16,384: a real forward and inverse transform of length
// n = 32,768 over C = 2,080 columns (one block of m·(d + 1) channels), the token axis contiguous
// (FFTW: one batched r2c and c2r plan, FFTW_MEASURE, made once; LibTorch: rfft + irfft),
// float32, on topo::num_threads() threads. Built when FFTW 3 is found.
#include <benchmark/benchmark.h>
#include <fftw3.h>
#include <torch/torch.h>

#include "attention/masks/fft_utils.h"
#include "common/threads.h"

namespace {

constexpr int kLength = 32768, kColumns = 2080;

double flops(benchmark::State& state) {
  // 2 transforms of 2.5·n·log2(n) flops each (the usual count for a real FFT).
  return 2.0 * 2.5 * kLength * 15.0 * kColumns * double(state.iterations());
}

/// Argument: layout (0 = token axis contiguous, 1 = strided, columns innermost).
void BM_RealFftPocketfft(benchmark::State& state) {
  torch::manual_seed(0);
  const bool strided = state.range(0) == 1;
  const auto x = strided ? torch::randn({kLength, kColumns}) : torch::randn({kColumns, kLength});
  const int64_t dim = strided ? 0 : 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(torch::fft::irfft(torch::fft::rfft(x, kLength, dim), kLength, dim));
  }
  state.counters["GFLOP/s"] = benchmark::Counter(flops(state) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RealFftPocketfft)
    ->DenseRange(0, 1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);

/// Arguments: planning (0 = FFTW_MEASURE, 1 = FFTW_ESTIMATE) and layout (0 = token axis
/// contiguous, 1 = strided with the columns innermost, as [B, H, L, C] tensors hold it).
void BM_RealFftFftw(benchmark::State& state) {
  fftwf_init_threads();
  fftwf_plan_with_nthreads(topo::num_threads());
  const unsigned flags = state.range(0) == 0 ? FFTW_MEASURE : FFTW_ESTIMATE;
  const bool strided = state.range(1) == 1;
  const int half = kLength / 2 + 1;
  auto* real = fftwf_alloc_real(size_t(kColumns) * kLength);
  auto* spectrum = fftwf_alloc_complex(size_t(kColumns) * half);
  int n[] = {kLength};
  const int stride = strided ? kColumns : 1;
  const int real_distance = strided ? 1 : kLength, complex_distance = strided ? 1 : half;
  // Planning with FFTW_MEASURE overwrites the arrays: plan first, then fill.
  auto forward = fftwf_plan_many_dft_r2c(1, n, kColumns, real, nullptr, stride, real_distance,
                                         spectrum, nullptr, stride, complex_distance, flags);
  auto inverse =
      fftwf_plan_many_dft_c2r(1, n, kColumns, spectrum, nullptr, stride, complex_distance, real,
                              nullptr, stride, real_distance, flags);
  torch::manual_seed(0);
  const auto x = torch::randn({kColumns, kLength});
  std::copy(x.data_ptr<float>(), x.data_ptr<float>() + x.numel(), real);
  for (auto _ : state) {
    fftwf_execute(forward);
    fftwf_execute(inverse);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(flops(state) / 1e9, benchmark::Counter::kIsRate);
  fftwf_destroy_plan(forward);
  fftwf_destroy_plan(inverse);
  fftwf_free(real);
  fftwf_free(spectrum);
}
BENCHMARK(BM_RealFftFftw)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);

}  // namespace

/// The Toeplitz mask's whole product at L = 16,384 as masked_linear_attention calls it: one
/// channel block x [1, 4, 16,384, 975] (15 features × 65 value columns) convolved with a kernel
/// [4, 32,768] by detail::fft_convolve, forward only. Argument: 0 = torch::fft, 1 = FFTW.
void BM_FftConvolve(benchmark::State& state) {
  torch::manual_seed(0);
  const auto x = torch::randn({1, 4, 16384, 975});
  const auto kernel = torch::randn({4, 32768});
  const auto backend = state.range(0) == 0 ? topo::attention::detail::FftBackend::kTorch
                                           : topo::attention::detail::FftBackend::kFftw;
  torch::NoGradGuard guard;
  for (auto _ : state) {
    benchmark::DoNotOptimize(topo::attention::detail::fft_convolve(x, kernel, backend));
  }
}
BENCHMARK(BM_FftConvolve)
    ->DenseRange(0, 1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(4);
