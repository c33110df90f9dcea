// SPDX-License-Identifier: Apache-2.0
/// \file
/// Device-parameterised tests: every suite runs on CPU and CUDA; CUDA cases are reported as
/// skipped (not silently dropped) when the build or the machine has no CUDA.
#pragma once

#include <gtest/gtest.h>
#include <torch/types.h>

#include <string>

namespace topo::test {

class DeviceTest : public ::testing::TestWithParam<torch::Device> {
 protected:
  void SetUp() override;
  torch::Device device() const { return GetParam(); }
  torch::TensorOptions options(torch::Dtype dtype = torch::kFloat64) const {
    return torch::TensorOptions().dtype(dtype).device(GetParam());
  }
};

std::string device_name(const ::testing::TestParamInfo<torch::Device>& info);

}  // namespace topo::test

#define TOPO_INSTANTIATE_DEVICE_TESTS(Suite)                                         \
  INSTANTIATE_TEST_SUITE_P(                                                          \
      Devices, Suite,                                                                \
      ::testing::Values(torch::Device(torch::kCPU), torch::Device(torch::kCUDA, 0)), \
      ::topo::test::device_name)
