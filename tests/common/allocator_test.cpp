// SPDX-License-Identifier: Apache-2.0
// reuse_freed_memory: after it, a large tensor comes from the heap (no mmap'd block) and its
// memory stays with the process when freed; the user's own malloc settings are left alone.
#include "common/allocator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace topo {
namespace {

#if defined(__GLIBC__)
TEST(Allocator, LargeBlocksComeFromTheHeapAndStayForReuse) {
  if (std::getenv("MALLOC_MMAP_MAX_") != nullptr ||
      std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr)
    GTEST_SKIP() << "the environment sets glibc's malloc itself";
  ::setenv("MALLOC_TRIM_THRESHOLD_", "131072", 1);
  EXPECT_FALSE(reuse_freed_memory());  // the user's setting wins
  ::unsetenv("MALLOC_TRIM_THRESHOLD_");
  // Before: glibc serves a 64 MiB block by mmap (above its largest mmap threshold, 32 MiB).
  // (hblkhd: bytes in mmap'd blocks, of which start-up made a few.)
  const size_t mapped = mallinfo2().hblkhd;
  {
    const auto big = torch::ones({16 << 20});  // 64 MiB of float32
    EXPECT_GE(mallinfo2().hblkhd, mapped + (size_t{64} << 20));
  }
  ASSERT_TRUE(reuse_freed_memory());
  {
    const auto big = torch::ones({16 << 20});
    EXPECT_LE(mallinfo2().hblkhd, mapped);  // from the heap
    EXPECT_EQ(big.sum().item<float>(), float(16 << 20));
  }
  // Freed, the block stays in the heap (kept for the next step's tensors).
  EXPECT_GE(mallinfo2().fordblks, size_t{64} << 20);
}
#endif

}  // namespace
}  // namespace topo
