// SPDX-License-Identifier: Apache-2.0
/// \file
/// Error conventions: user errors name the function, the argument, the expected and
/// the actual value and throw c10::Error subclasses; internal invariants say "topoformer bug".
#pragma once

#include <c10/util/Exception.h>
#include <torch/types.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

/// Checks a user-supplied argument; throws c10::ValueError with
/// "<function>: `<arg>` must be <expected>, got <actual>".
#define TOPO_CHECK_ARG(cond, function, arg, expected, actual) \
  TORCH_CHECK_VALUE((cond), function, ": `", arg, "` must be ", expected, ", got ", actual)

/// Checks an internal invariant. A failure is a bug in topoformer, never a user error.
#define TOPO_INTERNAL_ASSERT(cond, ...)                                                           \
  TORCH_CHECK((cond), "topoformer bug: internal assertion `" #cond "` failed at ", __FILE__, ":", \
              __LINE__, ". ", ::c10::str(__VA_ARGS__),                                            \
              " Please report it to the topoformer issue tracker.")

/// Throws for an op that was given a CUDA tensor in a build without CUDA kernels.
#define TOPO_FAIL_NO_CUDA(function)                                                           \
  TORCH_CHECK_NOT_IMPLEMENTED(false, function,                                                \
                              ": input is on a CUDA device but topoformer was built without " \
                              "CUDA; reconfigure with -DTOPO_WITH_CUDA=ON and a CUDA LibTorch")

namespace topo {

/// One expected dimension of a tensor in a `ShapeChecker` call: a name that binds on first use
/// ("L"), an exact size (64), or the wildcard "*".
class Dim {
 public:
  Dim(const char* name) : name_(name) {}             // NOLINT(google-explicit-constructor)
  Dim(std::string name) : name_(std::move(name)) {}  // NOLINT(google-explicit-constructor)
  Dim(int64_t size) : size_(size) {}                 // NOLINT(google-explicit-constructor)
  Dim(int size) : size_(size) {}                     // NOLINT(google-explicit-constructor)

  bool is_named() const { return !name_.empty(); }
  bool is_wildcard() const { return name_ == "*"; }
  const std::string& name() const { return name_; }
  int64_t size() const { return size_; }

 private:
  std::string name_;
  int64_t size_ = -1;
};

/// Named-dimension shape checker (the Open3D `Dim` idea). Names bind to the size first seen,
/// and later tensors must agree:
///
///   ShapeChecker check("linear_attention");
///   check(q, "q", {"B", "H", "L", "D"});
///   check(k, "k", {"B", "H", "S", "D"});   // throws if k's D differs from q's
///   check(v, "v", {"B", "H", "S", "*"});
///   const int64_t L = check.dim("L");
///
/// Messages read: "linear_attention: `k` has shape [2, 4, 9, 16], expected [B=2, H=4, S, D=8]
/// (D bound by `q`)".
class ShapeChecker {
 public:
  explicit ShapeChecker(std::string function) : function_(std::move(function)) {}

  /// Checks rank and every dimension of `tensor`; binds the names it sees first.
  ShapeChecker& operator()(const torch::Tensor& tensor, const std::string& arg,
                           std::initializer_list<Dim> dims);
  /// Same, for an optional tensor: an undefined tensor passes.
  ShapeChecker& optional(const torch::Tensor& tensor, const std::string& arg,
                         std::initializer_list<Dim> dims);

  /// The size bound to `name`; throws a topoformer-bug error if `name` was never bound.
  int64_t dim(const std::string& name) const;
  bool has(const std::string& name) const;
  /// Binds `name` to `size` as if `source` had that size (e.g. a grid's number of cells).
  ShapeChecker& bind(const std::string& name, int64_t size, const std::string& source);

  /// Requires a floating-point dtype (float32 or float64 unless `allow_reduced` for bf16/half).
  ShapeChecker& floating(const torch::Tensor& tensor, const std::string& arg,
                         bool allow_reduced = false);
  /// Requires `tensor` to have `dtype`.
  ShapeChecker& dtype(const torch::Tensor& tensor, const std::string& arg, torch::Dtype dtype);
  /// Requires all defined tensors to share the dtype of the first one.
  ShapeChecker& same_dtype(const std::vector<std::pair<torch::Tensor, std::string>>& tensors);
  /// Requires all defined tensors to share the device of the first one.
  ShapeChecker& same_device(const std::vector<std::pair<torch::Tensor, std::string>>& tensors);

  const std::string& function() const { return function_; }

 private:
  struct Binding {
    std::string name;
    int64_t size;
    std::string source;
  };
  const Binding* find(const std::string& name) const;
  std::string describe(std::initializer_list<Dim> dims) const;

  std::string function_;
  std::vector<Binding> bindings_;
};

/// "[2, 3, 4]" for error messages.
std::string shape_string(const torch::Tensor& tensor);
/// "values in [min, max]" of a (non-empty) integer tensor, for index errors.
std::string value_range(const torch::Tensor& tensor);

}  // namespace topo
