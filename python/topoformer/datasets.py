# SPDX-License-Identifier: Apache-2.0
"""Dataset readers: the files users download, exactly as published, as plain tensors.

Every sample is a dict named like PyTorch Geometric's ``Data`` (``pos``, ``x``, ``z``,
``edge_index``, ``edge_attr``, ``y``, ``forces``; absent fields are left out) plus ``name``
(file and frame). No PyG dependency; users who have PyG convert with::

    from torch_geometric.data import Data
    data = Data(**{k: v for k, v in sample.items() if k != "name"})

Malformed files raise ``topoformer.ParseError`` (a ValueError) naming the file and line.
"""
from ._C import (  # noqa: F401
    read_citation_graph,
    read_extended_xyz,
    read_md17_npz,
    read_mnist,
    read_modelnet,
    read_point_cloud,
    read_qm9,
    read_sdf,
    read_tu_dataset,
    sample_mesh,
)


def collate(samples):
    """PyG-style batch of node-layout samples: concatenated fields, ``batch`` [N] and
    ``edge_index`` shifted by each sample's node offset (as torch_geometric's Batch)."""
    import torch

    if not samples:
        raise ValueError("collate: `samples` must hold at least one sample, got none")
    out, counts = {}, []
    for s in samples:
        for key in ("pos", "x", "z", "forces"):
            if key in s:
                counts.append(s[key].shape[0])
                break
        else:
            raise ValueError(f"collate: sample {s.get('name', '?')} has no node-level field")
    for key in ("pos", "x", "z", "forces", "edge_attr"):
        present = [key in s for s in samples]
        if any(present) and not all(present):
            missing = samples[present.index(False)].get("name", "?")
            raise ValueError(f"collate: `{key}` is in some samples but not in {missing}")
        if all(present):
            out[key] = torch.cat([s[key] for s in samples])
    if all("edge_index" in s for s in samples):
        offsets = torch.tensor([0] + counts[:-1]).cumsum(0)
        out["edge_index"] = torch.cat(
            [s["edge_index"] + int(o) for s, o in zip(samples, offsets)], 1)
    if all("y" in s for s in samples):
        ys = [s["y"] for s in samples]
        node_level = all(y.dim() > 0 and y.shape[0] == n for y, n in zip(ys, counts))
        # Node-level targets concatenate, graph-level ones stack (as torch_geometric's Batch).
        out["y"] = torch.cat(ys) if node_level else torch.stack(ys)
    out["batch"] = torch.repeat_interleave(torch.arange(len(samples)), torch.tensor(counts))
    return out
