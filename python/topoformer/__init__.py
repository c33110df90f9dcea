# SPDX-License-Identifier: Apache-2.0
"""topoformer: topologically masked linear attention for graphs, point clouds and molecules.

The C++ library (LibTorch) for PyTorch users: functional ops with autograd through the C++
backward passes (``topoformer.functional``), the masks of the registry and attention layers as
``torch.nn.Module`` s whose parameters are ordinary ``torch.nn.Parameter`` s
(``topoformer.nn``), and the dataset readers (``topoformer.datasets``).
"""
import torch  # noqa: F401  (loads LibTorch and torch_python before the extension)

from . import _C
from ._C import ParseError
from . import datasets, functional, nn

__version__ = "0.1.0"
__all__ = ["ParseError", "datasets", "functional", "nn", "__version__"]
