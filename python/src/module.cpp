// SPDX-License-Identifier: Apache-2.0
// topoformer._C: the C++ library for Python. Errors arrive as Python exceptions with the C++
// message (no backtrace): c10::ValueError → ValueError, c10::TypeError → TypeError,
// c10::IndexError → IndexError, a malformed file → topoformer.ParseError (a ValueError), other
// c10::Error → RuntimeError. C++ modules are exposed as `Module` handles whose parameters and
// buffers are the very tensors the C++ code uses (topoformer/_module.py shares them with a
// torch.nn.Module).
#include <torch/nn/module.h>

#include "bindings.h"
#include "datasets/parsers/text_parsing.h"

namespace topo::python {

attention::MaskSettings to_mask_settings(const py::dict& values, const std::string& where) {
  attention::MaskSettings settings;
  for (const auto& [key, value] : values) {
    const auto name = py::cast<std::string>(key);
    // bool before int: Python's True is an int too.
    if (py::isinstance<py::bool_>(value)) {
      settings.set(name, value.cast<bool>());
    } else if (py::isinstance<py::int_>(value)) {
      settings.set(name, value.cast<int64_t>());
    } else if (py::isinstance<py::float_>(value)) {
      settings.set(name, value.cast<double>());
    } else if (py::isinstance<py::str>(value)) {
      settings.set(name, value.cast<std::string>());
    } else {
      throw py::type_error(where + ": mask setting `" + name +
                           "` must be a bool, int, float or str, got " +
                           py::str(py::type::of(value)).cast<std::string>());
    }
  }
  return settings;
}

namespace {

using ModulePtr = std::shared_ptr<torch::nn::Module>;

py::list named(const torch::OrderedDict<std::string, torch::Tensor>& items) {
  py::list out;
  for (const auto& item : items) out.append(py::make_tuple(item.key(), item.value()));
  return out;
}

}  // namespace

}  // namespace topo::python

PYBIND11_MODULE(_C, m) {
  namespace py = pybind11;
  using namespace topo::python;
  m.doc() = "topoformer's C++ library: masked linear attention, masks, geometry, readers";

  static py::exception<topo::datasets::ParseError> parse_error(m, "ParseError", PyExc_ValueError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const topo::datasets::ParseError& e) {
      parse_error(e.what());
    } catch (const c10::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what_without_backtrace());
    } catch (const c10::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what_without_backtrace());
    } catch (const c10::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what_without_backtrace());
    } catch (const c10::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    }
  });

  // module_local: torch._C registers torch::nn::Module for its own use already.
  py::class_<torch::nn::Module, ModulePtr>(m, "Module", py::module_local(),
                                           "A C++ module; its tensors are shared, never copied")
      .def("name", &torch::nn::Module::name)
      .def(
          "named_parameters",
          [](const torch::nn::Module& module) { return named(module.named_parameters(false)); },
          "(name, tensor) of this module's own parameters")
      .def(
          "named_buffers",
          [](const torch::nn::Module& module) { return named(module.named_buffers(false)); },
          "(name, tensor) of this module's own buffers")
      .def(
          "named_children",
          [](const torch::nn::Module& module) {
            py::list out;
            for (const auto& item : module.named_children())
              out.append(py::make_tuple(item.key(), item.value()));
            return out;
          },
          "(name, Module) of the direct submodules")
      .def(
          "train", [](torch::nn::Module& module, bool mode) { module.train(mode); },
          py::arg("mode") = true)
      .def("is_training", &torch::nn::Module::is_training)
      .def("__repr__", [](const torch::nn::Module& module) {
        std::ostringstream s;
        module.pretty_print(s);
        return s.str();
      });

  // Points a C++ tensor at another tensor's data (dtype and device included) in place, so the
  // C++ module sees a buffer that PyTorch replaced (Module.to()/double() replace buffers).
  m.def(
      "set_data",
      [](torch::Tensor& target, const torch::Tensor& source) { target.set_data(source); },
      py::arg("target"), py::arg("source"));

  bind_attention(m);
  bind_geometry(m);
  bind_datasets(m);
  bind_potential(m);
}
