// SPDX-License-Identifier: Apache-2.0
#include <torch/fft.h>
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "attention/masks/fft_utils.h"
#include "common/check.h"
#include "common/threads.h"

#ifdef TOPO_HAS_FFTW
#include <fftw3.h>
#endif

namespace topo::attention::detail {
namespace {

/// The first n_1..n_d cells of the grid axes of `y` [B, H, s.., C].
torch::Tensor crop_grid(torch::Tensor y, const torch::Tensor& like) {
  for (int64_t axis = 2; axis + 1 < like.dim(); ++axis) y = y.narrow(axis, 0, like.size(axis));
  return y;
}

std::vector<int64_t> grid_dims(int64_t d) {
  std::vector<int64_t> dims(d);
  for (int64_t axis = 0; axis < d; ++axis) dims[axis] = axis + 2;
  return dims;
}

torch::Tensor convolve_torch(const torch::Tensor& x, const torch::Tensor& kernel) {
  const std::vector<int64_t> sizes(kernel.sizes().begin() + 1, kernel.sizes().end());
  const auto dims = grid_dims(static_cast<int64_t>(sizes.size()));
  std::vector<int64_t> kernel_dims(dims.size());
  for (size_t a = 0; a < dims.size(); ++a) kernel_dims[a] = dims[a] - 1;
  const auto kernel_fft = torch::fft::rfftn(kernel, sizes, kernel_dims).unsqueeze(0).unsqueeze(-1);
  return crop_grid(torch::fft::irfftn(torch::fft::rfftn(x, sizes, dims) * kernel_fft, sizes, dims),
                   x);
}

#ifdef TOPO_HAS_FFTW

/// k'[m] = k[−m mod s] along every grid axis: the kernel of the adjoint (a correlation).
torch::Tensor reversed(const torch::Tensor& kernel) {
  auto k = kernel;
  for (int64_t axis = 1; axis < kernel.dim(); ++axis) k = k.flip(axis).roll(1, axis);
  return k;
}

/// Σ_{b,C} pad(g) ⋆ pad(x) over sizes s..: the kernel's gradient [H, s..] by torch::fft.
torch::Tensor correlate_torch(const torch::Tensor& g, const torch::Tensor& x,
                              const std::vector<int64_t>& sizes) {
  const auto dims = grid_dims(static_cast<int64_t>(sizes.size()));
  const auto product = torch::fft::rfftn(g, sizes, dims) * torch::fft::rfftn(x, sizes, dims).conj();
  std::vector<int64_t> kernel_dims(dims.size());
  for (size_t a = 0; a < dims.size(); ++a) kernel_dims[a] = dims[a] - 1;
  return torch::fft::irfftn(product.sum(0).sum(-1), sizes, kernel_dims);
}

/// FFTW's two precisions behind one interface.
template <typename T>
struct Fftw;
template <>
struct Fftw<float> {
  using Plan = fftwf_plan;
  using Complex = fftwf_complex;
  static Plan r2c(int rank, const fftw_iodim64* dims, int howmany_rank, const fftw_iodim64* howmany,
                  float* in, Complex* out) {
    return fftwf_plan_guru64_dft_r2c(rank, dims, howmany_rank, howmany, in, out, FFTW_ESTIMATE);
  }
  static Plan c2r(int rank, const fftw_iodim64* dims, int howmany_rank, const fftw_iodim64* howmany,
                  Complex* in, float* out) {
    return fftwf_plan_guru64_dft_c2r(rank, dims, howmany_rank, howmany, in, out,
                                     FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
  }
  static void execute_r2c(Plan p, float* in, Complex* out) { fftwf_execute_dft_r2c(p, in, out); }
  static void execute_c2r(Plan p, Complex* in, float* out) { fftwf_execute_dft_c2r(p, in, out); }
  static void threads(int n) { fftwf_plan_with_nthreads(n); }
  static void destroy(Plan p) { fftwf_destroy_plan(p); }
  static bool init() { return fftwf_init_threads() != 0; }
};
template <>
struct Fftw<double> {
  using Plan = fftw_plan;
  using Complex = fftw_complex;
  static Plan r2c(int rank, const fftw_iodim64* dims, int howmany_rank, const fftw_iodim64* howmany,
                  double* in, Complex* out) {
    return fftw_plan_guru64_dft_r2c(rank, dims, howmany_rank, howmany, in, out, FFTW_ESTIMATE);
  }
  static Plan c2r(int rank, const fftw_iodim64* dims, int howmany_rank, const fftw_iodim64* howmany,
                  Complex* in, double* out) {
    return fftw_plan_guru64_dft_c2r(rank, dims, howmany_rank, howmany, in, out,
                                    FFTW_ESTIMATE | FFTW_DESTROY_INPUT);
  }
  static void execute_r2c(Plan p, double* in, Complex* out) { fftw_execute_dft_r2c(p, in, out); }
  static void execute_c2r(Plan p, Complex* in, double* out) { fftw_execute_dft_c2r(p, in, out); }
  static void threads(int n) { fftw_plan_with_nthreads(n); }
  static void destroy(Plan p) { fftw_destroy_plan(p); }
  static bool init() { return fftw_init_threads() != 0; }
};

/// One real transform over the last d axes of contiguous [B, H, C, s_1..s_d] tensors (the
/// complex side halves s_d, as torch::fft::rfftn does), all B·H·C columns in one plan, each
/// column contiguous. (With the columns innermost, as [B, H, L, C] holds them, FFTW copied every
/// column pair through a buffer, fftwf_cpy2d_pair, and ran no faster than pocketfft;
/// BENCHMARKS.md.) Plans are made once per shape and thread count (FFTW_ESTIMATE: measured as fast
/// as FFTW_MEASURE here) under a lock, as FFTW's planner is not thread-safe; executing them on new
/// arrays of the same layout and alignment is (FFTW manual, "New-array Execute Functions").
template <typename T>
void transform(const torch::Tensor& real, const torch::Tensor& spectrum, bool forward) {
  using F = Fftw<T>;
  static std::mutex mutex;
  static std::map<std::tuple<bool, int, std::vector<int64_t>, int64_t, int64_t>, typename F::Plan>
      plans;
  // Strides from the sizes: is_contiguous() ignores the strides of size-1 dimensions, so the
  // tensors' own may differ from the layout their memory has.
  const int64_t d = real.dim() - 3;
  std::vector<fftw_iodim64> dims(d);
  int64_t real_stride = 1, complex_stride = 1;
  for (int64_t axis = d - 1; axis >= 0; --axis) {
    dims[axis] = {real.size(3 + axis), real_stride, complex_stride};
    if (!forward) std::swap(dims[axis].is, dims[axis].os);
    real_stride *= real.size(3 + axis);
    complex_stride *= spectrum.size(3 + axis);
  }
  fftw_iodim64 howmany{real.size(0) * real.size(1) * real.size(2), real_stride, complex_stride};
  if (!forward) std::swap(howmany.is, howmany.os);
  auto* r = real.data_ptr<T>();
  auto* c = reinterpret_cast<typename F::Complex*>(spectrum.data_ptr<c10::complex<T>>());
  // A plan runs on new arrays of the same alignment (SIMD loads): part of the key.
  const auto alignment = [](const void* p) {
    return static_cast<int64_t>(reinterpret_cast<uintptr_t>(p) % 64);
  };
  // Under the lock: planning is not thread-safe, and the cache may destroy plans when full
  // (shapes vary with the batch's length and the last channel block), which must not happen
  // while another thread executes one. The transforms themselves run on FFTW's threads.
  std::lock_guard<std::mutex> lock(mutex);
  static const bool initialised = F::init();
  TORCH_CHECK(initialised, "fft_convolve: FFTW could not start its threads");
  const int threads = topo::num_threads();
  const std::tuple<bool, int, std::vector<int64_t>, int64_t, int64_t> key{
      forward, threads, real.sizes().vec(), alignment(r), alignment(c)};
  auto found = plans.find(key);
  if (found == plans.end()) {
    if (plans.size() >= 64) {
      for (auto& entry : plans) F::destroy(entry.second);
      plans.clear();
    }
    F::threads(threads);
    // Planning with FFTW_ESTIMATE reads and writes nothing, so the live arrays serve.
    const auto plan = forward ? F::r2c(int(d), dims.data(), 1, &howmany, r, c)
                              : F::c2r(int(d), dims.data(), 1, &howmany, c, r);
    TORCH_CHECK(plan, "fft_convolve: FFTW could not plan a transform of ", real.sizes());
    found = plans.emplace(key, plan).first;
  }
  if (forward) {
    F::execute_r2c(found->second, r, c);
  } else {
    F::execute_c2r(found->second, c, r);
  }
}

/// x [B, H, n.., C] → its columns zero-padded to `sizes`, contiguous [B, H, C, s..].
torch::Tensor to_columns(const torch::Tensor& x, const std::vector<int64_t>& sizes) {
  const int64_t d = static_cast<int64_t>(sizes.size());
  std::vector<int64_t> pad(2 * d, 0);  // constant_pad_nd lists the last axis first
  for (int64_t axis = 0; axis < d; ++axis)
    pad[2 * (d - 1 - axis) + 1] = sizes[axis] - x.size(2 + axis);
  return torch::constant_pad_nd(x.movedim(-1, 2), pad).contiguous();
}

/// [B, H, C, s..] → the first n.. cells of `like` [B, H, n.., C], in like's layout.
torch::Tensor from_columns(torch::Tensor y, const torch::Tensor& like) {
  for (int64_t axis = 3; axis < y.dim(); ++axis) y = y.narrow(axis, 0, like.size(axis - 1));
  return y.movedim(2, -1);
}

/// rfftn over the last d axes of contiguous [B, H, C, s..], unnormalised.
torch::Tensor rfft_columns(const torch::Tensor& real) {
  auto shape = real.sizes().vec();
  shape.back() = shape.back() / 2 + 1;
  auto spectrum = torch::empty(shape, real.options().dtype(c10::toComplexType(real.scalar_type())));
  if (real.scalar_type() == torch::kFloat) {
    transform<float>(real, spectrum, true);
  } else {
    transform<double>(real, spectrum, true);
  }
  return spectrum;
}

/// The inverse of rfft_columns to [B, H, C, `sizes`..], unnormalised; consumes `spectrum`.
torch::Tensor irfft_columns(torch::Tensor spectrum, const std::vector<int64_t>& sizes) {
  spectrum = spectrum.resolve_conj().resolve_neg().contiguous();  // data_ptr ignores those bits
  auto shape = spectrum.sizes().vec();
  for (size_t axis = 0; axis < sizes.size(); ++axis) shape[3 + axis] = sizes[axis];
  auto real =
      torch::empty(shape, spectrum.options().dtype(c10::toRealValueType(spectrum.scalar_type())));
  if (real.scalar_type() == torch::kFloat) {
    transform<float>(real, spectrum, false);
  } else {
    transform<double>(real, spectrum, false);
  }
  return real;
}

/// The kernel [H, s..] as a spectrum [1, H, 1, s.. (last halved)].
torch::Tensor kernel_spectrum(const torch::Tensor& kernel) {
  return rfft_columns(kernel.unsqueeze(0).unsqueeze(2).contiguous());
}

double volume(const std::vector<int64_t>& sizes) {
  double v = 1;
  for (auto s : sizes) v *= double(s);
  return v;
}

/// y = crop(c ⊛ pad(x)), with the adjoints by correlation: ∂x = crop(c ⋆ pad(∂y)) and
/// ∂c = Σ_{b,C} pad(x) ⋆ pad(∂y). Saves x and the kernel, not their spectra: the backward
/// recomputes them, so a channel block's spectra live only while it is transformed.
class FftwConvolution : public torch::autograd::Function<FftwConvolution> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& kernel) {
    ctx->save_for_backward({x, kernel});
    const std::vector<int64_t> sizes(kernel.sizes().begin() + 1, kernel.sizes().end());
    const auto product = rfft_columns(to_columns(x, sizes)) * kernel_spectrum(kernel);
    return (from_columns(irfft_columns(product, sizes), x) / volume(sizes)).contiguous();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &kernel = saved[1];
    const std::vector<int64_t> sizes(kernel.sizes().begin() + 1, kernel.sizes().end());
    const double scale = volume(sizes);
    torch::Tensor grad_x, grad_kernel;
    if (torch::GradMode::is_enabled()) {  // create_graph: differentiable ops, for 2nd order
      if (ctx->needs_input_grad(0)) grad_x = convolve_torch(grads[0], reversed(kernel));
      if (ctx->needs_input_grad(1)) grad_kernel = correlate_torch(grads[0], x, sizes);
      return {grad_x, grad_kernel};
    }
    const auto g = rfft_columns(to_columns(grads[0], sizes));
    if (ctx->needs_input_grad(0)) {
      grad_x = (from_columns(irfft_columns(g * kernel_spectrum(kernel).conj(), sizes), x) / scale)
                   .contiguous();
    }
    if (ctx->needs_input_grad(1)) {
      const auto correlation =
          (g * rfft_columns(to_columns(x, sizes)).conj()).sum(0, true).sum(2, true);
      grad_kernel = irfft_columns(correlation, sizes).squeeze(2).squeeze(0) / scale;
    }
    return {grad_x, grad_kernel};
  }
};

#endif  // TOPO_HAS_FFTW

}  // namespace

bool fftw_available() {
#ifdef TOPO_HAS_FFTW
  return true;
#else
  return false;
#endif
}

torch::Tensor fft_convolve(const torch::Tensor& x, const torch::Tensor& kernel,
                           FftBackend backend) {
  TOPO_CHECK_ARG(x.dim() >= 4 && kernel.dim() == x.dim() - 2 && kernel.size(0) == x.size(1),
                 "fft_convolve", "kernel", "[H, s_1..s_d] for x [B, H, n_1..n_d, C]",
                 shape_string(kernel) + " for x " + shape_string(x));
  for (int64_t axis = 1; axis < kernel.dim(); ++axis) {
    TOPO_CHECK_ARG(kernel.size(axis) >= x.size(axis + 1), "fft_convolve", "kernel",
                   "sizes >= the grid's", shape_string(kernel) + " for x " + shape_string(x));
  }
  const bool fftw_fits = fftw_available() && x.device().is_cpu() && kernel.device().is_cpu() &&
                         (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kDouble) &&
                         kernel.scalar_type() == x.scalar_type();
  TOPO_CHECK_ARG(backend != FftBackend::kFftw || fftw_fits, "fft_convolve", "backend",
                 "kFftw only with FFTW built in, on CPU float32/float64 tensors",
                 fftw_available() ? "tensors it does not take" : "a build without FFTW");
#ifdef TOPO_HAS_FFTW
  if (fftw_fits && backend != FftBackend::kTorch) return FftwConvolution::apply(x, kernel);
#endif
  return convolve_torch(x, kernel);
}

}  // namespace topo::attention::detail
