# SPDX-License-Identifier: Apache-2.0
"""Readers return plain tensors in PyG-named dicts; malformed files raise ParseError."""
import pytest
import torch

import topoformer
from topoformer import datasets


def test_molecules_graphs_and_clouds(data_dir):
    md = datasets.read_extended_xyz(str(data_dir / "ethanol_head.extxyz"), ["energy"], "eV",
                                    "eV/Angstrom")
    assert len(md["samples"]) == 20 and md["force_unit"] == "eV/Angstrom"
    frame = md["samples"][0]
    assert frame["z"].dtype == torch.int64 and frame["pos"].shape == (9, 3)
    assert frame["forces"].shape == (9, 3) and frame["y"].item() == pytest.approx(-309.98849965)
    mutag = datasets.read_tu_dataset(str(data_dir / "MUTAG"), "MUTAG")
    assert len(mutag["samples"]) == 188 and mutag["num_classes"] == 2
    assert mutag["samples"][0]["edge_index"].shape[0] == 2
    batch = datasets.collate(mutag["samples"][:3])
    assert batch["batch"].tolist().count(2) == mutag["samples"][2]["x"].shape[0]
    assert batch["y"].shape == (3,)
    digits = datasets.read_mnist(str(data_dir / "mnist_200-images-idx3-ubyte.gz"),
                                 str(data_dir / "mnist_200-labels-idx1-ubyte.gz"))
    assert len(digits) == 200 and digits[0]["pos"].shape[1] == 2


def test_malformed_files_raise_parse_errors_naming_file_and_line(data_dir):
    with pytest.raises(topoformer.ParseError, match=r"nan_energy.extxyz:13: expected a finite "):
        datasets.read_extended_xyz(str(data_dir / "defects" / "nan_energy.extxyz"), ["energy"])
    with pytest.raises(ValueError, match=r"expected a file, got a directory"):
        datasets.read_extended_xyz(str(data_dir), ["energy"])
