// SPDX-License-Identifier: Apache-2.0
#include "common/allocator.h"

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace topo {

bool reuse_freed_memory() {
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_MMAP_MAX_") != nullptr ||
      std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr)
    return false;
  // Both or neither: without trimming but with mmap, blocks over 32 MiB still fault in anew.
  const bool applied = mallopt(M_MMAP_MAX, 0) == 1;
  return applied && mallopt(M_TRIM_THRESHOLD, -1) == 1;  // −1: the largest size_t, never trim
#else
  return false;
#endif
}

}  // namespace topo
