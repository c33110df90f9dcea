# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures of the Python suite (run by ctest with PYTHONPATH=<build>/python)."""
import pathlib

import pytest
import torch

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "datasets"


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    yield


@pytest.fixture
def data_dir():
    return DATA
