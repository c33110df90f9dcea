// SPDX-License-Identifier: Apache-2.0
/// \file
/// The one place to choose how many threads topoformer and LibTorch use.
///
/// LibTorch picks hardware_concurrency()/2 intra-op threads on x86_64, i.e. 1 on a 2-vCPU
/// machine. `topo::set_num_threads()` (called by the `topoformer` command and the examples)
/// restores "all hardware threads" unless the user asks otherwise. topoformer's own parallel
/// loops are compiled with OpenMP, so `at::parallel_for` in them really runs in parallel.
#pragma once

#include <cstdint>
#include <string>

namespace topo {

/// Sets LibTorch's intra-op thread count (and OpenBLAS's, whose own pool LibTorch leaves alone)
/// and returns the count now in use.
///
/// `num_threads > 0` sets exactly that many. `num_threads == 0` (the default) takes, in order,
/// the environment variable TOPO_NUM_THREADS, then OMP_NUM_THREADS, then all hardware threads.
/// Throws c10::ValueError for a negative count or an unparsable environment variable.
int set_num_threads(int num_threads = 0);

/// LibTorch's current intra-op thread count.
int num_threads();

/// OpenBLAS's thread count, or 0 when the BLAS in use is not OpenBLAS.
int blas_threads();

/// Whether topoformer's own kernels were compiled with OpenMP (they always are in supported
/// builds; false means `at::parallel_for` in them runs serially).
bool compiled_with_openmp();

/// A one-line summary for logs: version, threads, OpenMP, BLAS/LAPACK, CUDA.
std::string parallel_info();

namespace detail {
/// How many chunks `at::parallel_for` splits [0, n) into inside topoformer's own code with
/// grain 1 (more than one only when it was compiled with OpenMP and threads > 1).
int64_t parallel_for_chunks(int64_t n);
}  // namespace detail

}  // namespace topo
