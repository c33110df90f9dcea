// SPDX-License-Identifier: Apache-2.0
/// \file
/// How the process's heap treats the large, short-lived tensors of training.
///
/// glibc's malloc serves blocks above its mmap threshold (at most 32 MiB) with fresh mmap'd
/// pages and returns freed memory above 128 KiB at the top of the heap to the kernel. A training
/// step allocates and frees the same large blocks thousands of times (each term of a diffusion
/// series, each Alg. 1 channel block), so every step pays for page faults and zeroed pages:
/// measured on the 2-vCPU machine, a Cora run with the diffusion mask spent 21 of its 29 minutes
/// in the kernel (`time`: sys 21m5s, user 7m31s; perf: clear_page_erms, exc_page_fault, brk).
/// PyTorch users meet the same with jemalloc or tcmalloc; Debian's LibTorch uses the system
/// malloc, so topoformer's programs keep freed memory for reuse instead.
#pragma once

namespace topo {

/// Makes glibc's malloc keep freed memory for reuse: no mmap'd blocks (M_MMAP_MAX 0) and no
/// trimming of the heap (M_TRIM_THRESHOLD beyond any size). The process then holds its peak
/// heap until it exits. Called by the `topoformer` command, `topoformer-lammps`, the examples
/// and the benchmarks; a program of yours may call it first thing in main(). The user's own
/// MALLOC_MMAP_MAX_ or MALLOC_TRIM_THRESHOLD_ wins: nothing is changed when either is set.
/// Returns true when the settings were applied (false: not glibc, or the user's settings).
bool reuse_freed_memory();

}  // namespace topo
