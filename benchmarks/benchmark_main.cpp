// SPDX-License-Identifier: Apache-2.0
// Shared main for every benchmark program: sets threads the way the library documents
// (topo::set_num_threads: TOPO_NUM_THREADS, OMP_NUM_THREADS, else all hardware threads) and
// records the configuration in the benchmark context, so BENCHMARKS.md entries are comparable.
#include <benchmark/benchmark.h>

#include "common/allocator.h"
#include "common/threads.h"

int main(int argc, char** argv) {
  topo::reuse_freed_memory();  // as the topoformer command runs (common/allocator.h)
  topo::set_num_threads();
  benchmark::AddCustomContext("topoformer", topo::parallel_info());
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
