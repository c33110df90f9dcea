// SPDX-License-Identifier: Apache-2.0
/// \file
/// How the process treats the large, short-lived tensors of training.
///
/// Debian's LibTorch allocates CPU tensors with glibc's malloc, which serves blocks above its
/// mmap threshold (at most 32 MiB) with fresh mmap'd pages and returns them to the kernel when
/// freed. A training step allocates and frees the same large blocks thousands of times (each
/// term of a diffusion series, each Alg. 1 channel block), so every step pays for page faults
/// and zeroed pages: measured on the 2-vCPU machine, a Cora run with the diffusion mask spent 21
/// of its 29 minutes in the kernel (`time`: sys 21m5s, user 7m31s; perf: clear_page_erms,
/// exc_page_fault, brk). Turning mmap off altogether (session 9's fix) made the heap fragment:
/// dense masked softmax at 16,384 tokens (4 GiB tensors) then needed over 24 GiB instead of
/// 12.6 GiB. So large blocks get a cache of their own, as PyTorch's CUDA allocator does.
#pragma once

#include <cstddef>

namespace topo {

/// Installs topoformer's CPU allocator for LibTorch: blocks of 1 MiB and more are mmap'd in
/// multiples of 2 MiB and, when freed, kept in a cache of at most `cache_limit_bytes` (blocks
/// larger than that go back to the kernel at once); a request takes the smallest cached block
/// that fits with at most 25% to spare. Smaller blocks stay with malloc. When mmap fails the
/// cache is emptied and the request retried. Called by the `topoformer` command,
/// `topoformer-lammps`, the examples and the benchmarks; a program of yours may call it first
/// thing in main(). The default limit is TOPO_CPU_CACHE_MB (MiB) when set, else an eighth of
/// the physical memory, at most 4 GiB; TOPO_CPU_CACHE_MB=0 leaves LibTorch's allocator in place.
/// A later call changes the limit (0: nothing more is cached; the allocator, once installed,
/// stays). Returns true when the allocator is in place.
bool reuse_freed_memory(long long cache_limit_bytes = -1);

/// Bytes held in the cache now (freed blocks kept for reuse); 0 before reuse_freed_memory.
size_t cached_cpu_bytes();

}  // namespace topo
