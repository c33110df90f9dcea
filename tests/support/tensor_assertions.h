// SPDX-License-Identifier: Apache-2.0
/// \file
/// GoogleTest assertions for tensors that say where and by how much they differ.
#pragma once

#include <gtest/gtest.h>
#include <torch/types.h>

#include <string>

namespace topo::test {

/// Tolerances for `tensors_close`; a negative value means "the default for the dtype":
/// float64 rtol 1e-10 / atol 1e-12, float32 rtol 1e-4 / atol 1e-5, reduced rtol 1e-2 / atol 1e-3.
struct Tolerance {
  double rtol = -1.0;
  double atol = -1.0;
};

/// Success when shapes match and |actual - expected| <= atol + rtol * |expected| everywhere
/// (NaNs must be in the same places). The failure message gives shape, dtype, device, the
/// number of mismatches and the largest absolute and relative errors with their indices.
::testing::AssertionResult tensors_close(const std::string& actual_expr,
                                         const torch::Tensor& actual, const torch::Tensor& expected,
                                         Tolerance tol = {});

}  // namespace topo::test

/// EXPECT_TENSOR_CLOSE(actual, expected) or EXPECT_TENSOR_CLOSE(actual, expected, {rtol, atol}).
#define EXPECT_TENSOR_CLOSE(actual, ...) \
  EXPECT_TRUE(::topo::test::tensors_close(#actual, (actual), __VA_ARGS__))
#define ASSERT_TENSOR_CLOSE(actual, ...) \
  ASSERT_TRUE(::topo::test::tensors_close(#actual, (actual), __VA_ARGS__))

/// Expects `statement` to throw a std::exception whose what() contains `substring`.
#define EXPECT_THROW_WITH(statement, substring)                                                   \
  do {                                                                                            \
    try {                                                                                         \
      (void)(statement);                                                                          \
      ADD_FAILURE() << "Expected `" #statement "` to throw an error containing \"" << (substring) \
                    << "\", but it did not throw";                                                \
    } catch (const std::exception& error__) {                                                     \
      const std::string message__ = error__.what();                                               \
      EXPECT_NE(message__.find(substring), std::string::npos)                                     \
          << "`" #statement "` threw, but the message does not contain \"" << (substring)         \
          << "\":\n"                                                                              \
          << message__;                                                                           \
    }                                                                                             \
  } while (false)
