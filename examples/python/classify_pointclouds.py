#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Classify the bundled MNIST digits as 2-D point clouds with a user-defined PyTorch model built
from topoformer's PointCloudBlock (FAVOR+ attention with the FLT spectral RPE over the points'
positions), in PyTorch Geometric's (x, pos, batch) convention. Same data, split (seeded
7,500 / 500 / 2,000), augmentation and schedule as the C++ main job (`topoformer train`).

    PYTHONPATH=build/python /usr/bin/python3 examples/python/classify_pointclouds.py [epochs]
"""
import math
import pathlib
import sys
import time

import torch

import topoformer
from topoformer.nn import PointCloudBlock

ROOT = pathlib.Path(__file__).resolve().parents[2]


class DigitClassifier(torch.nn.Module):
    def __init__(self, embed_dim=64, heads=4, layers=3, classes=10):
        super().__init__()
        self.embed = torch.nn.Linear(2 + 1, embed_dim)  # position and intensity
        self.blocks = torch.nn.ModuleList(
            # The main job's mask and features: FLT RPE with 16 frequencies, length scale 0.3.
            PointCloudBlock(embed_dim, heads, mask="flt", features=16, length_scale=0.3,
                            pos_dim=2, num_features=32, layer_id=i, dropout=0.1)
            for i in range(layers))
        self.norm = torch.nn.LayerNorm(embed_dim)
        self.head = torch.nn.Sequential(torch.nn.Linear(embed_dim, embed_dim), torch.nn.GELU(),
                                        torch.nn.Linear(embed_dim, classes))

    def forward(self, x, pos, batch):
        h = self.embed(torch.cat([pos, x], 1))
        for block in self.blocks:
            h = block(h, pos, batch)
        h = self.norm(h)
        graphs = int(batch.max()) + 1
        pooled = torch.zeros(graphs, h.shape[1]).index_add_(0, batch, h)
        return self.head(pooled / torch.bincount(batch, minlength=graphs)[:, None])


def augment(sample, generator):
    """Anisotropic scaling in [0.85, 1.15] and jitter (sigma 0.02, clipped at 0.05)."""
    pos = sample["pos"] * (0.85 + 0.3 * torch.rand(2, generator=generator))
    noise = (0.02 * torch.randn(pos.shape, generator=generator)).clamp(-0.05, 0.05)
    return dict(sample, pos=pos + noise)


def evaluate(model, samples, batch_size=64):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            b = topoformer.datasets.collate(samples[start:start + batch_size])
            correct += (model(b["x"], b["pos"], b["batch"]).argmax(1) == b["y"]).sum().item()
    return correct / len(samples)


def main(epochs):
    folder = ROOT / "examples" / "data" / "mnist_10k"
    digits = topoformer.datasets.read_mnist(str(folder / "images-idx3-ubyte.gz"),
                                            str(folder / "labels-idx1-ubyte.gz"))
    order = torch.randperm(len(digits), generator=torch.Generator().manual_seed(0)).tolist()
    train = [digits[i] for i in order[:7500]]
    validation = [digits[i] for i in order[7500:8000]]
    test = [digits[i] for i in order[8000:]]
    torch.manual_seed(0)
    model = DigitClassifier()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.02)
    steps, step = epochs * math.ceil(len(train) / 32), 0
    start = time.time()
    for epoch in range(epochs):
        model.train()
        generator = torch.Generator().manual_seed(epoch)
        shuffled = torch.randperm(len(train), generator=generator).tolist()
        total = 0.0
        for first in range(0, len(train), 32):
            for group in optimizer.param_groups:  # cosine decay
                group["lr"] = 3e-3 * 0.5 * (1 + math.cos(math.pi * step / steps))
            b = topoformer.datasets.collate(
                [augment(train[i], generator) for i in shuffled[first:first + 32]])
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(b["x"], b["pos"], b["batch"]), b["y"])
            loss.backward()
            optimizer.step()
            total += loss.item()
            step += 1
        print(f"epoch {epoch + 1}/{epochs}: train loss {total / math.ceil(len(train) / 32):.4f}, "
              f"validation accuracy {evaluate(model, validation):.4f}, "
              f"{time.time() - start:.0f} s", file=sys.stderr)
    print(f"test accuracy: {evaluate(model, test):.4f} on {len(test)} digits "
          f"({epochs} epochs, {time.time() - start:.0f} s)")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
