// SPDX-License-Identifier: Apache-2.0
#include "common/threads.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "support/tensor_assertions.h"

namespace topo {
namespace {

class ThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = at::get_num_threads(); }
  void TearDown() override {
    unsetenv("TOPO_NUM_THREADS");
    at::set_num_threads(saved_);
  }
  int saved_ = 1;
};

TEST_F(ThreadsTest, ExplicitCountWins) {
  EXPECT_EQ(set_num_threads(3), 3);
  EXPECT_EQ(num_threads(), 3);
}

TEST_F(ThreadsTest, EnvironmentVariableIsHonoured) {
  setenv("TOPO_NUM_THREADS", "2", 1);
  EXPECT_EQ(set_num_threads(), 2);
  setenv("TOPO_NUM_THREADS", "two", 1);
  EXPECT_THROW_WITH(set_num_threads(), "`TOPO_NUM_THREADS` must be a positive integer, got 'two'");
}

TEST_F(ThreadsTest, RejectsNegativeCount) {
  EXPECT_THROW_WITH(set_num_threads(-1), "topo::set_num_threads: `num_threads` must be");
}

TEST_F(ThreadsTest, OwnParallelLoopsRunInParallel) {
  EXPECT_TRUE(compiled_with_openmp());
  set_num_threads(2);
  EXPECT_EQ(detail::parallel_for_chunks(1000), 2);
  set_num_threads(1);
  EXPECT_EQ(detail::parallel_for_chunks(1000), 1);
}

TEST_F(ThreadsTest, OpenBlasFollowsTheCount) {
  // Debian's libopenblas0-pthread (installed by scripts/install_dependencies.sh) keeps its own
  // pool, which at::set_num_threads leaves alone. Other BLAS builds have nothing to set.
  std::ifstream maps("/proc/self/maps");
  const std::string mapped((std::istreambuf_iterator<char>(maps)),
                           std::istreambuf_iterator<char>());
  if (mapped.find("openblas") == std::string::npos) GTEST_SKIP() << "the BLAS is not OpenBLAS";
  set_num_threads(1);
  EXPECT_EQ(blas_threads(), 1);
  set_num_threads(2);
  EXPECT_EQ(blas_threads(), 2);
  EXPECT_NE(parallel_info().find("OpenBLAS 2 thread(s)"), std::string::npos);
}

TEST_F(ThreadsTest, InfoMentionsThreads) {
  set_num_threads(2);
  EXPECT_NE(parallel_info().find("2 intra-op thread(s), OpenMP on"), std::string::npos);
}

}  // namespace
}  // namespace topo
