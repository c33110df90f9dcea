// SPDX-License-Identifier: Apache-2.0
// reuse_freed_memory's CPU allocator: a freed large block is reused by the next tensor of its
// size, the cache keeps to its limit (blocks beyond it go back at once), small tensors stay with
// malloc, and TOPO_CPU_CACHE_MB=0 leaves LibTorch's allocator in place.
#include "common/allocator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>

#include "support/tensor_assertions.h"

namespace topo {
namespace {

TEST(Allocator, CachesLargeBlocksForReuseWithinItsLimit) {
  // One test: the allocator, once installed, stays for the process.
  ::setenv("TOPO_CPU_CACHE_MB", "0", 1);
  EXPECT_FALSE(reuse_freed_memory());  // opted out: nothing installed
  EXPECT_EQ(cached_cpu_bytes(), 0u);
  ::setenv("TOPO_CPU_CACHE_MB", "lots", 1);
  EXPECT_THROW_WITH(reuse_freed_memory(), "TOPO_CPU_CACHE_MB must be a number of MiB >= 0");
  ::unsetenv("TOPO_CPU_CACHE_MB");

  ASSERT_TRUE(reuse_freed_memory(int64_t{256} << 20));
  void* first = nullptr;
  {
    const auto big = torch::ones({16 << 20});  // 64 MiB of float32
    first = big.data_ptr();
    EXPECT_EQ(cached_cpu_bytes(), 0u);
  }
  EXPECT_EQ(cached_cpu_bytes(), size_t{64} << 20);  // kept, not unmapped
  {
    // A much smaller large tensor does not take a block four times its size.
    const auto smaller = torch::zeros({4 << 20});  // 16 MiB
    EXPECT_NE(smaller.data_ptr(), first);
    EXPECT_EQ(cached_cpu_bytes(), size_t{64} << 20);
    // The next tensor of that size (within 25%) takes the same block, and sees its own values.
    const auto again = torch::full({15 << 20}, 2.0f);
    EXPECT_EQ(again.data_ptr(), first);
    EXPECT_EQ(cached_cpu_bytes(), 0u);
    EXPECT_EQ(again.sum().item<double>(), 2.0 * double(15 << 20));
    // Small tensors come from malloc, not the cache.
    const auto small = torch::ones({1000});
    EXPECT_EQ(small.sum().item<float>(), 1000.0f);
  }
  EXPECT_EQ(cached_cpu_bytes(), size_t{80} << 20);  // 64 + 16 MiB
  // Beyond the limit: a 512 MiB block goes back at once; a lower limit gives back the least
  // recently freed (the 64 MiB block, freed before the 16 MiB one).
  { const auto huge = torch::empty({128 << 20}); }
  EXPECT_EQ(cached_cpu_bytes(), size_t{80} << 20);
  ASSERT_TRUE(reuse_freed_memory(int64_t{32} << 20));
  EXPECT_EQ(cached_cpu_bytes(), size_t{16} << 20);
  // A newly freed block displaces the stale one, not the other way round.
  { const auto fresh = torch::empty({6 << 20}); }  // 24 MiB
  EXPECT_EQ(cached_cpu_bytes(), size_t{24} << 20);
  // Training-like churn keeps values right.
  for (int step = 0; step < 20; ++step) {
    const auto a = torch::full({(step % 3 + 1) << 18}, float(step));
    const auto b = a * 2;
    EXPECT_EQ(b.max().item<float>(), 2.0f * float(step));
  }
  reuse_freed_memory(int64_t{256} << 20);
}

}  // namespace
}  // namespace topo
