// SPDX-License-Identifier: Apache-2.0
// Attention cost against sequence length L (batch 1, 4 heads, head dim 64, m = 128 features):
// exact softmax, exact softmax with a dense additive mask, linear attention (bidirectional
// and causal) and masked linear attention with each mask. Second argument: 0 = forward,
// 1 = forward + backward. Counters: peak_MB is the process's peak resident memory during the
// benchmark (reset before it starts), so it includes inputs and autograd buffers.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <string>

#include "attention/combiner_attention.h"
#include "attention/feature_map.h"
#include "attention/linear_attention.h"
#include "attention/masked_linear_attention.h"
#include "attention/masks/block_toeplitz_mask.h"
#include "attention/masks/causal_mask.h"
#include "attention/masks/dense_mask.h"
#include "attention/masks/low_rank_mask.h"
#include "attention/masks/registry.h"
#include "attention/masks/toeplitz_mask.h"

namespace {

using namespace topo::attention;

constexpr int64_t kHeads = 4, kHeadDim = 64, kFeatures = 128;

void reset_peak_memory() { std::ofstream("/proc/self/clear_refs") << "5"; }

double peak_memory_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

struct Inputs {
  torch::Tensor q, k, v;
};

Inputs make_inputs(int64_t length, bool grad) {
  torch::manual_seed(0);
  Inputs in{torch::randn({1, kHeads, length, kHeadDim}) * 0.5,
            torch::randn({1, kHeads, length, kHeadDim}) * 0.5,
            torch::randn({1, kHeads, length, kHeadDim})};
  if (grad) {
    in.q.requires_grad_();
    in.k.requires_grad_();
    in.v.requires_grad_();
  }
  return in;
}

// Runs `attention` (forward, or forward + backward of sum(out)) and records time and memory.
void run(benchmark::State& state, const std::function<torch::Tensor(const Inputs&)>& attention) {
  const int64_t length = state.range(0);
  const bool backward = state.range(1) == 1;
  c10::AutoGradMode grad_mode(backward);  // forward-only points build no autograd graph
  const auto in = make_inputs(length, backward);
  reset_peak_memory();
  for (auto _ : state) {
    auto out = attention(in);
    if (backward) out.sum().backward();
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.counters["peak_MB"] = peak_memory_mb();
  state.counters["L"] = static_cast<double>(length);
}

torch::Tensor favor(const torch::Tensor& x, FeatureRole role) {
  static const auto projection = [] {
    std::vector<torch::Tensor> heads;
    for (int64_t h = 0; h < kHeads; ++h) {
      heads.push_back(random_projection(RandomProjectionOptions(kFeatures, kHeadDim).seed(h)));
    }
    return torch::stack(heads);
  }();
  return feature_map(x, FeatureMapKind::kSoftmaxPositive, projection, role);
}

torch::Tensor exact_softmax(const Inputs& in, const torch::Tensor& bias) {
  auto logits = torch::matmul(in.q, in.k.transpose(-1, -2)) / std::sqrt(double(kHeadDim));
  if (bias.defined()) logits = logits + bias;
  return torch::matmul(torch::softmax(logits, -1), in.v);
}

void BM_ExactSoftmax(benchmark::State& state) {
  run(state, [](const Inputs& in) { return exact_softmax(in, {}); });
}

void BM_ExactSoftmaxDenseMask(benchmark::State& state) {
  // A Toeplitz RPE bias materialised densely: what masked softmax attention costs.
  const int64_t length = state.range(0);
  ToeplitzMask toeplitz(
      ToeplitzMaskOptions(kHeads, length).semantics(MaskSemantics::kLogitAdditive));
  MaskContext context;
  context.batch_size = 1;
  context.length = length;
  const auto bias = toeplitz->build(context)->dense(torch::kFloat32).log().detach();
  run(state, [&](const Inputs& in) { return exact_softmax(in, bias); });
}

void BM_LinearAttention(benchmark::State& state) {
  run(state, [](const Inputs& in) {
    return linear_attention(favor(in.q, FeatureRole::kQuery), favor(in.k, FeatureRole::kKey), in.v);
  });
}

void BM_CausalLinearAttention(benchmark::State& state) {
  run(state, [](const Inputs& in) {
    return linear_attention(favor(in.q, FeatureRole::kQuery), favor(in.k, FeatureRole::kCausalKey),
                            in.v, LinearAttentionFuncOptions().causal(true));
  });
}

void masked(benchmark::State& state, MaskImpl& mask, FeatureRole key_role = FeatureRole::kKey) {
  run(state, [&](const Inputs& in) {
    MaskContext context;
    context.batch_size = in.q.size(0);
    context.length = in.q.size(2);
    return masked_linear_attention(favor(in.q, FeatureRole::kQuery), favor(in.k, key_role), in.v,
                                   *mask.build(context));
  });
}

void masked(benchmark::State& state, const MaskOperator& mask) {
  run(state, [&](const Inputs& in) {
    return masked_linear_attention(favor(in.q, FeatureRole::kQuery), favor(in.k, FeatureRole::kKey),
                                   in.v, mask);
  });
}

void BM_MaskedToeplitz(benchmark::State& state) {
  ToeplitzMask mask(ToeplitzMaskOptions(kHeads, state.range(0)));
  masked(state, *mask);
}

void BM_MaskedCausal(benchmark::State& state) {
  CausalMask mask;
  masked(state, *mask, FeatureRole::kCausalKey);
}

void BM_MaskedBlockToeplitz2D(benchmark::State& state) {
  const auto side = static_cast<int64_t>(std::lround(std::sqrt(double(state.range(0)))));
  BlockToeplitzMask mask(BlockToeplitzMaskOptions(kHeads, {side, side}));
  masked(state, *mask);
}

void BM_MaskedLowRank(benchmark::State& state) {
  const int64_t length = state.range(0);
  const LowRankMaskOperator mask(torch::rand({1, kHeads, length, 8}),
                                 torch::rand({1, kHeads, length, 8}));
  masked(state, mask);
}

void BM_MaskedDense(benchmark::State& state) {
  const int64_t length = state.range(0);
  const DenseMaskOperator mask(torch::rand({1, kHeads, length, length}));
  masked(state, mask);
}

void combiner(benchmark::State& state, CombinerVariant variant) {
  run(state, [&](const Inputs& in) {
    return combiner_attention(in.q, in.k, in.v, CombinerFuncOptions().variant(variant));
  });
}
void BM_CombinerFixed(benchmark::State& state) { combiner(state, CombinerVariant::kFixed); }
void BM_CombinerLogsparse(benchmark::State& state) { combiner(state, CombinerVariant::kLogsparse); }
void BM_CombinerAxial(benchmark::State& state) { combiner(state, CombinerVariant::kAxialVertical); }
void BM_CombinerMixture(benchmark::State& state) {
  combiner(state, CombinerVariant::kAxialMixture);
}

// The multi-head module as users call it ([1, L, 256] tokens, 4 heads, causal mask, m = 128),
// forward + backward: the C++ side of benchmarks/python_overhead.py, which times the same module
// through the Python package.
void BM_MaskedAttentionModule(benchmark::State& state) {
  const int64_t length = state.range(0);
  torch::manual_seed(0);
  LinearAttention attention(LinearAttentionOptions(kHeads * kHeadDim, kHeads)
                                .feature_map(FeatureMapOptions(0).num_features(kFeatures))
                                .masks({make_mask("causal", kHeads)}));
  const auto x = torch::randn({1, length, kHeads * kHeadDim});
  reset_peak_memory();
  for (auto _ : state) {
    auto out = attention->forward(x, x, x);
    out.sum().backward();
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.counters["peak_MB"] = peak_memory_mb();
}

// Lengths 1k … max_forward (forward) and 1k … max_backward (forward + backward); 2-D grids
// need squares (1024, 4096, 16384, 65536).
void lengths(benchmark::internal::Benchmark* b, int64_t max_forward, int64_t max_backward,
             bool squares_only = false) {
  const int64_t factor = squares_only ? 4 : 2;
  for (int64_t l = 1024; l <= max_forward; l *= factor) b->Args({l, 0});
  for (int64_t l = 1024; l <= max_backward; l *= factor) b->Args({l, 1});
  b->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
}

// Dense softmax needs an L×L tensor per head: 17 GB for 4 heads at 32,768 and 69 GB at 65,536,
// so it stops at 16,384. Alg. 1 keeps φ(K) ⊗ (V, 1) (L·m·(d+1) floats) for the backward pass,
// which bounds the lengths trained here on 24 GB.
BENCHMARK(BM_ExactSoftmax)->Apply([](auto* b) { lengths(b, 16384, 16384); });
BENCHMARK(BM_ExactSoftmaxDenseMask)->Apply([](auto* b) { lengths(b, 16384, 8192); });
BENCHMARK(BM_LinearAttention)->Apply([](auto* b) { lengths(b, 65536, 65536); });
BENCHMARK(BM_CausalLinearAttention)->Apply([](auto* b) { lengths(b, 65536, 65536); });
BENCHMARK(BM_MaskedCausal)->Apply([](auto* b) { lengths(b, 65536, 16384); });
BENCHMARK(BM_MaskedToeplitz)->Apply([](auto* b) { lengths(b, 65536, 16384); });
// And forward + backward at 65,536 tokens (issue 16's memory target: within 24 GB; the FFTW
// path's backward recomputes spectra instead of keeping them).
BENCHMARK(BM_MaskedBlockToeplitz2D)->Apply([](auto* b) {
  lengths(b, 65536, 4096, true);
  b->Args({65536, 1});
});
BENCHMARK(BM_MaskedLowRank)->Apply([](auto* b) { lengths(b, 65536, 16384); });
BENCHMARK(BM_MaskedDense)->Apply([](auto* b) { lengths(b, 4096, 4096); });
BENCHMARK(BM_CombinerFixed)->Apply([](auto* b) { lengths(b, 65536, 16384); });
BENCHMARK(BM_CombinerLogsparse)->Apply([](auto* b) { lengths(b, 65536, 16384); });
BENCHMARK(BM_CombinerAxial)->Apply([](auto* b) { lengths(b, 65536, 16384); });
BENCHMARK(BM_CombinerMixture)->Apply([](auto* b) { lengths(b, 65536, 16384); });
BENCHMARK(BM_MaskedAttentionModule)->Arg(16384)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
