#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""topoformer's GraphAttentionLayer inside user-defined GNNs written in plain PyTorch, in
PyTorch Geometric's (x, edge_index, batch) convention: the user's own GCN (Cora) or GINE
(MUTAG) layers with graph-masked linear attention (adjacency mask between the GCN layers on
Cora, diffusion mask beside each GINE layer on MUTAG). The Python port of examples/custom_gnn
(same models, splits and schedules).

    PYTHONPATH=build/python /usr/bin/python3 examples/python/custom_gnn.py cora [runs]
    PYTHONPATH=build/python /usr/bin/python3 examples/python/custom_gnn.py mutag
"""
import math
import pathlib
import sys

import torch

import topoformer
from topoformer.nn import GraphAttentionLayer

DATA = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "datasets"


class GcnConv(torch.nn.Module):
    """The user's GCN convolution: x_i <- sum over N(i) and i of W x_j / sqrt(d_i d_j)."""

    def __init__(self, inputs, outputs):
        super().__init__()
        self.linear = torch.nn.Linear(inputs, outputs)

    def forward(self, x, edge_index):
        loops = torch.arange(x.shape[0])
        rows, cols = torch.cat([edge_index[1], loops]), torch.cat([edge_index[0], loops])
        degree = torch.zeros(x.shape[0]).index_add_(0, rows, torch.ones(rows.shape[0]))
        norm = degree.rsqrt()
        h = self.linear(x)
        return torch.zeros_like(h).index_add_(0, rows, h[cols] * (norm[rows] * norm[cols])[:, None])


class NodeClassifier(torch.nn.Module):
    def __init__(self, inputs, hidden, classes, dropout):
        super().__init__()
        self.first = GcnConv(inputs, hidden)
        self.attention = GraphAttentionLayer(hidden, 4, mask="adjacency", dropout=0.3)
        self.last = GcnConv(hidden, classes)
        self.dropout = dropout

    def forward(self, x, edge_index, graphs):
        """``graphs``: the graph made once by make_graph_batch (full-batch training sees the
        same structure every epoch, so the mask's structure is computed once for all runs)."""
        drop = lambda h: torch.nn.functional.dropout(h, self.dropout, self.training)  # noqa: E731
        h = torch.relu(self.first(drop(x), edge_index))
        h = self.attention(drop(h), graph=graphs)
        return self.last(drop(h), edge_index)


class GineConv(torch.nn.Module):
    """The user's GINE layer: x_i <- MLP((1 + eps) x_i + sum_j ReLU(x_j + W e_ij))."""

    def __init__(self, dim, edge_dim):
        super().__init__()
        self.mlp = torch.nn.Sequential(torch.nn.Linear(dim, dim), torch.nn.BatchNorm1d(dim),
                                       torch.nn.ReLU(), torch.nn.Linear(dim, dim), torch.nn.ReLU())
        self.edge = torch.nn.Linear(edge_dim, dim)
        self.epsilon = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x, edge_index, edge_attr):
        message = torch.relu(x[edge_index[0]] + self.edge(edge_attr))
        return self.mlp((1 + self.epsilon) * x + torch.zeros_like(x).index_add_(
            0, edge_index[1], message))


class GraphClassifier(torch.nn.Module):
    """3 GINE layers, each with diffusion-masked attention exp(t_h W) beside it as in GPS
    (h <- GINE(h) + Attention(h)); every layer sum-pooled."""

    def __init__(self, inputs, edge_dim, hidden, classes, dropout, layers=3):
        super().__init__()
        self.input = torch.nn.Linear(inputs, hidden)
        self.gine = torch.nn.ModuleList()
        self.attention = torch.nn.ModuleList()
        for _ in range(layers):  # built (so initialised) in the order of the layers
            self.gine.append(GineConv(hidden, edge_dim))
            self.attention.append(GraphAttentionLayer(hidden, 4, mask="diffusion"))
        self.output = torch.nn.Linear((1 + layers) * hidden, classes)
        self.dropout = dropout

    def forward(self, b):
        layers = [self.input(b["x"])]
        # One structure for every attention layer (the masks' per-batch cache).
        graphs = topoformer.functional.make_graph_batch(layers[0], b["edge_index"], b["batch"])
        for gine, attention in zip(self.gine, self.attention):
            h = layers[-1]
            layers.append(gine(h, b["edge_index"], b["edge_attr"]) + attention(h, graph=graphs))
        count = int(b["batch"].max()) + 1
        pooled = [torch.zeros(count, h.shape[1]).index_add_(0, b["batch"], h) for h in layers]
        return self.output(torch.nn.functional.dropout(torch.cat(pooled, 1), self.dropout,
                                                       self.training))


def accuracy(logits, y):
    return (logits.argmax(1) == y).double().mean().item()


def cora(runs):
    data = topoformer.datasets.read_citation_graph(
        str(DATA / "cora" / "cora.content.regenerated_from_npz.gz"), str(DATA / "cora" / "cora.cites"))
    g, classes = data["samples"][0], data["num_classes"]
    # Seeded split: 20 training nodes per class, then 500 validation and 1,000 test nodes.
    order = torch.randperm(g["y"].shape[0], generator=torch.Generator().manual_seed(0))
    train, rest, per_class = [], [], [0] * classes
    for node in order.tolist():
        c = int(g["y"][node])
        if per_class[c] < 20:
            per_class[c] += 1
            train.append(node)
        else:
            rest.append(node)
    train, val, test = torch.tensor(train), torch.tensor(rest[:500]), torch.tensor(rest[500:1500])
    x = g["x"] / g["x"].sum(1, keepdim=True).clamp_min(1)  # row-normalised bag of words
    # Citations are directed (citing -> cited); message passing uses them both ways.
    edges, _ = topoformer.functional.graph_operator(g["edge_index"], x.shape[0],
                                                    normalization="none")
    graphs = topoformer.functional.make_graph_batch(x[:, :0], edges)  # on x's device
    results = []
    for run in range(runs):
        torch.manual_seed(run)
        model = NodeClassifier(x.shape[1], 128, classes, 0.7)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=5e-2)
        best_val, test_at_best = 0.0, 0.0
        for _ in range(200):
            model.train()
            optimizer.zero_grad()
            logits = model(x, edges, graphs)
            torch.nn.functional.cross_entropy(logits[train], g["y"][train]).backward()
            optimizer.step()
            model.eval()
            with torch.no_grad():
                logits = model(x, edges, graphs)
            val_acc = accuracy(logits[val], g["y"][val])
            if val_acc > best_val:  # model selection on validation only
                best_val, test_at_best = val_acc, accuracy(logits[test], g["y"][test])
        print(f"seed {run}: test accuracy {test_at_best:.4f} at the best validation accuracy "
              f"{best_val:.4f}", file=sys.stderr)
        results.append(test_at_best)
    t = torch.tensor(results, dtype=torch.float64)
    spread = t.std().item() if runs > 1 else 0.0
    print(f"Cora: test accuracy {t.mean().item():.4f} ± {spread:.4f} (mean ± std over {runs} "
          "seeds; 140/500/1000 seeded split)")


def mutag():
    data = topoformer.datasets.read_tu_dataset(str(DATA / "MUTAG"), "MUTAG")
    samples, n = data["samples"], len(data["samples"])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))  # as datasets::k_fold
    total = 0.0
    for fold in range(10):
        begin, end = fold * n // 10, (fold + 1) * n // 10
        test = [samples[i] for i in perm[begin:end].tolist()]
        train = [samples[i] for i in torch.cat([perm[:begin], perm[end:]]).tolist()]
        torch.manual_seed(fold)
        model = GraphClassifier(samples[0]["x"].shape[1], samples[0]["edge_attr"].shape[1], 64,
                                data["num_classes"], 0.5)
        lr, epochs = 1e-2, 100
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
        for epoch in range(epochs):
            for group in optimizer.param_groups:  # cosine decay
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
            model.train()
            order = torch.randperm(len(train), generator=torch.Generator().manual_seed(
                1000 * fold + epoch)).tolist()
            for start in range(0, len(train), 32):
                b = topoformer.datasets.collate([train[i] for i in order[start:start + 32]])
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(model(b), b["y"]).backward()
                optimizer.step()
        model.eval()
        with torch.no_grad():
            b = topoformer.datasets.collate(test)
            acc = accuracy(model(b), b["y"])
        print(f"fold {fold + 1}: {acc:.4f}", file=sys.stderr)
        total += acc
    print(f"MUTAG: 10-fold cross-validated accuracy {total / 10:.4f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    if task == "cora":
        cora(int(sys.argv[2]) if len(sys.argv) > 2 else 5)
    elif task == "mutag":
        mutag()
    else:
        sys.exit("usage: custom_gnn.py cora [runs] | custom_gnn.py mutag")
