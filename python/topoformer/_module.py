# SPDX-License-Identifier: Apache-2.0
"""A torch.nn.Module over a C++ module that owns no copies: its parameters and buffers are the
tensors the C++ code computes with (the same TensorImpl), registered under the C++ names in a
mirror of the C++ module tree. So optimizers update what C++ uses, gradients land on the
parameters, ``state_dict()`` keys are the C++ names, and ``.to()``/``.double()`` convert in
place (PyTorch's default ``param.data = …``)."""
import copy

import torch

from . import _C


class _Mirror(torch.nn.Module):
    """A C++ submodule's place in the tree (holds its shared parameters and buffers)."""

    def __init__(self, cpp):
        super().__init__()
        self._cpp_repr = repr(cpp).splitlines()[0] if repr(cpp) else ""

    def __reduce_ex__(self, protocol):
        # pickle / torch.save(module) / multiprocessing: rebuilt from the constructor's
        # arguments, then given the state (the C++ handle itself cannot be pickled).
        args, kwargs = self._init_args
        training = [module.training for module, _ in self._pairs]
        return (_rebuild, (type(self), args, kwargs, self.state_dict(), training))

    def extra_repr(self):
        return self._cpp_repr


def _adopt(module, cpp, pairs):
    pairs.append((module, cpp))
    for name, tensor in cpp.named_parameters():
        # The C++ tensor itself, marked as a parameter (torch.nn.Parameter's isinstance test
        # accepts tensors with _is_param; wrapping in Parameter(...) would copy the handle).
        tensor._is_param = True
        module.register_parameter(name, tensor)
    for name, tensor in cpp.named_buffers():
        module.register_buffer(name, tensor)
    for name, child in cpp.named_children():
        sub = _Mirror(child)
        module.add_module(name, sub)
        _adopt(sub, child, pairs)


class CppModule(torch.nn.Module):
    """Base of the topoformer.nn modules: subclasses build ``cpp`` and call ``_sync()`` first
    thing in ``forward``."""

    def __init__(self, cpp, *args, **kwargs):
        super().__init__()
        self._cpp = cpp
        self._init_args = (args, kwargs)  # for deepcopy: the same module, then the same state
        self._pairs = []
        _adopt(self, cpp, self._pairs)

    def _sync(self):
        """Hands the C++ module PyTorch's view: the training flag of every submodule, and
        buffers that Module.to() replaced; a replaced parameter is an error (the C++ module
        would keep training the old one)."""
        for module, cpp in self._pairs:
            cpp.train(module.training)
            for name, tensor in cpp.named_parameters():
                if module._parameters.get(name) is not tensor:
                    raise RuntimeError(
                        f"{type(self).__name__}: parameter `{name}` of {cpp.name()} was replaced "
                        "by another tensor; topoformer modules compute with their own "
                        "parameters: change them in place (load_state_dict, param.data.copy_, "
                        "Module.to)")
            for name, tensor in cpp.named_buffers():
                mine = module._buffers.get(name)
                if mine is not tensor:
                    _C.set_data(tensor, mine)
                    module._buffers[name] = tensor

    def __deepcopy__(self, memo):
        args, kwargs = self._init_args
        twin = type(self)(*copy.deepcopy(args, memo), **copy.deepcopy(kwargs, memo))
        floating = [p for p in self.parameters() if p.is_floating_point()]
        if floating:
            twin.to(floating[0].dtype)
        twin.load_state_dict(self.state_dict())
        for (mine, _), (theirs, _) in zip(self._pairs, twin._pairs):
            theirs.training = mine.training
        return twin

    def __reduce_ex__(self, protocol):
        # pickle / torch.save(module) / multiprocessing: rebuilt from the constructor's
        # arguments, then given the state (the C++ handle itself cannot be pickled).
        args, kwargs = self._init_args
        training = [module.training for module, _ in self._pairs]
        return (_rebuild, (type(self), args, kwargs, self.state_dict(), training))

    def extra_repr(self):
        return repr(self._cpp).splitlines()[0] if repr(self._cpp) else ""


def _rebuild(cls, args, kwargs, state, training):
    module = cls(*args, **kwargs)
    floating = [t for t in state.values() if t.is_floating_point()]
    if floating:
        module.to(floating[0].dtype)
    module.load_state_dict(state)
    for (sub, _), flag in zip(module._pairs, training):
        sub.training = flag
    return module
