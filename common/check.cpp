// SPDX-License-Identifier: Apache-2.0
#include "common/check.h"

#include <sstream>

namespace topo {

std::string shape_string(const torch::Tensor& tensor) {
  std::ostringstream out;
  out << tensor.sizes();
  return out.str();
}

const ShapeChecker::Binding* ShapeChecker::find(const std::string& name) const {
  for (const auto& binding : bindings_) {
    if (binding.name == name) return &binding;
  }
  return nullptr;
}

bool ShapeChecker::has(const std::string& name) const { return find(name) != nullptr; }

int64_t ShapeChecker::dim(const std::string& name) const {
  const Binding* binding = find(name);
  TOPO_INTERNAL_ASSERT(binding != nullptr, function_, " asked for unbound dimension ", name);
  return binding->size;
}

ShapeChecker& ShapeChecker::bind(const std::string& name, int64_t size, const std::string& source) {
  const Binding* binding = find(name);
  if (binding == nullptr) {
    bindings_.push_back({name, size, source});
  } else {
    TORCH_CHECK(binding->size == size, function_, ": ", source, " requires ", name, "=", size,
                " but ", name, "=", binding->size, " was bound by `", binding->source, "`");
  }
  return *this;
}

std::string ShapeChecker::describe(std::initializer_list<Dim> dims) const {
  std::ostringstream out;
  out << "[";
  bool first = true;
  for (const Dim& dim : dims) {
    if (!first) out << ", ";
    first = false;
    if (!dim.is_named()) {
      out << dim.size();
    } else if (const Binding* binding = find(dim.name())) {
      out << dim.name() << "=" << binding->size;
    } else {
      out << dim.name();
    }
  }
  out << "]";
  return out.str();
}

ShapeChecker& ShapeChecker::operator()(const torch::Tensor& tensor, const std::string& arg,
                                       std::initializer_list<Dim> dims) {
  TORCH_CHECK_VALUE(tensor.defined(), function_, ": `", arg, "` is an undefined tensor, expected ",
                    describe(dims));
  const auto fail = [&](const std::string& why) {
    TORCH_CHECK(false, function_, ": `", arg, "` has shape ", shape_string(tensor), ", expected ",
                describe(dims), why);
  };
  if (tensor.dim() != static_cast<int64_t>(dims.size())) {
    fail(" (rank " + std::to_string(dims.size()) + ", got rank " + std::to_string(tensor.dim()) +
         ")");
  }
  // Names first seen here bind only once the whole tensor passed, so the message shows the
  // bindings made by earlier arguments.
  std::vector<Binding> fresh;
  int64_t axis = 0;
  for (const Dim& dim : dims) {
    const int64_t actual = tensor.size(axis++);
    if (!dim.is_named()) {
      if (actual != dim.size()) fail("");
    } else if (!dim.is_wildcard()) {
      const Binding* binding = find(dim.name());
      for (const auto& candidate : fresh) {
        if (candidate.name == dim.name()) binding = &candidate;
      }
      if (binding == nullptr) {
        fresh.push_back({dim.name(), actual, arg});
      } else if (binding->size != actual) {
        fail(binding->source == arg ? " (" + dim.name() + " appears twice with different sizes)"
                                    : " (" + dim.name() + " bound by `" + binding->source + "`)");
      }
    }
  }
  bindings_.insert(bindings_.end(), fresh.begin(), fresh.end());
  return *this;
}

ShapeChecker& ShapeChecker::optional(const torch::Tensor& tensor, const std::string& arg,
                                     std::initializer_list<Dim> dims) {
  if (tensor.defined()) (*this)(tensor, arg, dims);
  return *this;
}

ShapeChecker& ShapeChecker::floating(const torch::Tensor& tensor, const std::string& arg,
                                     bool allow_reduced) {
  const auto type = tensor.scalar_type();
  const bool full = type == torch::kFloat32 || type == torch::kFloat64;
  const bool reduced = type == torch::kBFloat16 || type == torch::kFloat16;
  TORCH_CHECK_TYPE(full || (allow_reduced && reduced), function_, ": `", arg, "` must be ",
                   allow_reduced ? "float32, float64, bfloat16 or float16" : "float32 or float64",
                   ", got ", type);
  return *this;
}

ShapeChecker& ShapeChecker::dtype(const torch::Tensor& tensor, const std::string& arg,
                                  torch::Dtype dtype) {
  TORCH_CHECK_TYPE(tensor.scalar_type() == dtype, function_, ": `", arg, "` must be ", dtype,
                   ", got ", tensor.scalar_type());
  return *this;
}

ShapeChecker& ShapeChecker::same_dtype(
    const std::vector<std::pair<torch::Tensor, std::string>>& tensors) {
  const std::pair<torch::Tensor, std::string>* first = nullptr;
  for (const auto& entry : tensors) {
    if (!entry.first.defined()) continue;
    if (first == nullptr) {
      first = &entry;
      continue;
    }
    TORCH_CHECK_TYPE(entry.first.scalar_type() == first->first.scalar_type(), function_, ": `",
                     entry.second, "` must have the dtype of `", first->second, "` (",
                     first->first.scalar_type(), "), got ", entry.first.scalar_type());
  }
  return *this;
}

ShapeChecker& ShapeChecker::same_device(
    const std::vector<std::pair<torch::Tensor, std::string>>& tensors) {
  const std::pair<torch::Tensor, std::string>* first = nullptr;
  for (const auto& entry : tensors) {
    if (!entry.first.defined()) continue;
    if (first == nullptr) {
      first = &entry;
      continue;
    }
    TORCH_CHECK_VALUE(entry.first.device() == first->first.device(), function_, ": `", entry.second,
                      "` must be on the device of `", first->second, "` (", first->first.device(),
                      "), got ", entry.first.device());
  }
  return *this;
}

std::string value_range(const torch::Tensor& tensor) {
  if (tensor.numel() == 0) return "no values";
  return c10::str("values in [", tensor.min().item<int64_t>(), ", ", tensor.max().item<int64_t>(),
                  "]");
}

}  // namespace topo
