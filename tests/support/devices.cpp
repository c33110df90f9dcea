// SPDX-License-Identifier: Apache-2.0
#include "support/devices.h"

#include <torch/cuda.h>
#include <torch/utils.h>

#include "common/config.h"

namespace topo::test {

void DeviceTest::SetUp() {
  torch::manual_seed(0);
  if (GetParam().is_cuda() && !(topo::built_with_cuda() && torch::cuda::is_available())) {
    GTEST_SKIP() << "CUDA unavailable (built with CUDA: " << topo::built_with_cuda() << ")";
  }
}

std::string device_name(const ::testing::TestParamInfo<torch::Device>& info) {
  return info.param.is_cuda() ? "cuda" + std::to_string(info.param.index()) : "cpu";
}

}  // namespace topo::test
