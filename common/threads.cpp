// SPDX-License-Identifier: Apache-2.0
#include "common/threads.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>

#include "common/check.h"
#include "common/config.h"

#ifndef _OPENMP
#error "topoformer's kernels must be compiled with OpenMP (link OpenMP::OpenMP_CXX)"
#endif

namespace topo {
namespace {

int from_environment(const char* variable) {
  const char* text = std::getenv(variable);
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  TOPO_CHECK_ARG(end != text && *end == '\0' && value > 0 && value <= 4096, "topo::set_num_threads",
                 variable, "a positive integer", "'" + std::string(text) + "'");
  return static_cast<int>(value);
}

/// OpenBLAS's own thread pool (Debian's libopenblas0-pthread), which LibTorch 1.13's
/// at::set_num_threads leaves alone: found at run time, so other BLAS builds need nothing.
using OpenBlasSetThreads = void (*)(int);
using OpenBlasGetThreads = int (*)();

OpenBlasSetThreads openblas_setter() {
  return reinterpret_cast<OpenBlasSetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
}

OpenBlasGetThreads openblas_getter() {
  return reinterpret_cast<OpenBlasGetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
}

}  // namespace

int blas_threads() {
  const auto get = openblas_getter();
  return get != nullptr ? get() : 0;
}

int set_num_threads(int num_threads) {
  TOPO_CHECK_ARG(num_threads >= 0, "topo::set_num_threads", "num_threads",
                 "non-negative (0 = automatic)", num_threads);
  int chosen = num_threads;
  if (chosen == 0) chosen = from_environment("TOPO_NUM_THREADS");
  if (chosen == 0) chosen = from_environment("OMP_NUM_THREADS");
  if (chosen == 0) chosen = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(chosen);
  // Without this, "1 thread" still ran OpenBLAS with a thread per core, spinning: measured on
  // the main job (2 vCPUs), 195% CPU for the same epoch time as 99% with one BLAS thread, which
  // left nothing for a second data-parallel process (BENCHMARKS.md, "Data-parallel training").
  if (const auto set = openblas_setter()) set(chosen);
  return at::get_num_threads();
}

int num_threads() { return at::get_num_threads(); }

bool compiled_with_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

std::string parallel_info() {
  std::ostringstream out;
  out << "topoformer " << version() << ": " << num_threads() << " intra-op thread(s), OpenMP "
      << (compiled_with_openmp() ? "on" : "off");
  if (blas_threads() > 0) out << ", OpenBLAS " << blas_threads() << " thread(s)";
  out << ", LAPACK " << (at::hasLAPACK() ? "yes" : "no") << ", CUDA "
      << (built_with_cuda() ? "on" : "off");
  return out.str();
}

namespace detail {

int64_t parallel_for_chunks(int64_t n) {
  std::atomic<int64_t> chunks{0};
  at::parallel_for(0, n, 1, [&](int64_t, int64_t) { chunks.fetch_add(1); });
  return chunks.load();
}

}  // namespace detail
}  // namespace topo
