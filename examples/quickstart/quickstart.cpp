// SPDX-License-Identifier: Apache-2.0
// The smallest program that uses an installed topoformer: set up threads and report the build.
#include <iostream>

#include "common/config.h"
#include "common/threads.h"

int main() {
  topo::set_num_threads();  // all hardware threads unless TOPO_NUM_THREADS/OMP_NUM_THREADS say so
  std::cout << topo::parallel_info() << "\n";
  return 0;
}
