// SPDX-License-Identifier: Apache-2.0
/// \file
/// Shared pieces of the Python bindings (topoformer._C): one bind_* function per area, the
/// conversion of Python keyword arguments to mask settings, and optional tensors.
#pragma once

#include <torch/extension.h>

#include <optional>
#include <string>

#include "attention/masks/registry.h"

namespace topo::python {

namespace py = pybind11;

void bind_attention(py::module_& m);
void bind_geometry(py::module_& m);
void bind_datasets(py::module_& m);
void bind_potential(py::module_& m);

/// An optional tensor argument as LibTorch's "undefined means absent".
inline torch::Tensor value_or_undefined(const std::optional<torch::Tensor>& t) {
  return t ? *t : torch::Tensor();
}

/// Mask settings from a dict of Python values (bool, int, float, str), e.g. the keyword
/// arguments of topoformer.nn.MaskedLinearAttention. `where` names the caller in errors.
attention::MaskSettings to_mask_settings(const py::dict& values, const std::string& where);

}  // namespace topo::python
