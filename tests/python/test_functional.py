# SPDX-License-Identifier: Apache-2.0
"""The functional ops from Python: results against dense references written here in PyTorch
(float64, tight), gradients against finite differences (torch.autograd.gradcheck), every mask
of the registry, the neighbourhood ops against brute force, and C++ errors as Python errors."""
import pytest
import torch

import topoformer
import topoformer.functional as F
from topoformer.nn import Mask


def features(*shape):
    return torch.rand(*shape, dtype=torch.float64) + 0.1  # positive: a positive normaliser


def dense_attention(phi_q, phi_k, v, mask=None):
    scores = phi_q @ phi_k.transpose(-1, -2)
    if mask is not None:
        scores = scores * mask
    return scores @ v / scores.sum(-1, keepdim=True)


def test_linear_attention_matches_the_dense_formula_causal_and_padded():
    phi_q, phi_k, v = features(2, 3, 9, 5), features(2, 3, 9, 5), torch.randn(2, 3, 9, 4,
                                                                               dtype=torch.float64)
    torch.testing.assert_close(F.linear_attention(phi_q, phi_k, v),
                               dense_attention(phi_q, phi_k, v), rtol=1e-12, atol=1e-12)
    causal = torch.tril(torch.ones(9, 9, dtype=torch.float64))
    torch.testing.assert_close(F.linear_attention(phi_q, phi_k, v, causal=True, chunk_size=4),
                               dense_attention(phi_q, phi_k, v, causal), rtol=1e-12, atol=1e-12)
    padding = torch.zeros(2, 9, dtype=torch.bool)
    padding[1, 6:] = True
    keep = (~padding).to(torch.float64)[:, None, None, :]
    torch.testing.assert_close(F.linear_attention(phi_q, phi_k, v, key_padding_mask=padding),
                               dense_attention(phi_q, phi_k, v, keep), rtol=1e-12, atol=1e-12)
    segments = torch.tensor([[0, 0, 0, 1, 1, 1, 2, 2, 2]] * 2)
    same = (segments[:, :, None] == segments[:, None, :]).to(torch.float64)[:, None]
    torch.testing.assert_close(F.linear_attention(phi_q, phi_k, v, segment_ids=segments),
                               dense_attention(phi_q, phi_k, v, same), rtol=1e-12, atol=1e-12)


def test_linear_attention_gradients_equal_finite_differences():
    inputs = (features(1, 2, 6, 3).requires_grad_(), features(1, 2, 6, 3).requires_grad_(),
              torch.randn(1, 2, 6, 2, dtype=torch.float64, requires_grad=True))
    assert torch.autograd.gradcheck(lambda q, k, v: F.linear_attention(q, k, v, causal=True,
                                                                       chunk_size=2), inputs)


def test_feature_maps_estimate_the_softmax_kernel():
    # Moderate norms: the estimator's relative variance grows like exp(|q + k|^2 / sqrt(d)).
    q = 0.5 * torch.randn(1, 1, 4, 8, dtype=torch.float64)
    k = 0.5 * torch.randn(1, 1, 4, 8, dtype=torch.float64)
    w = F.random_projection(4096, 8, seed=3)[None]
    phi_q = F.feature_map(q, "softmax", w, "query")
    phi_k = F.feature_map(k, "softmax", w, "key")
    # Row-normalised: the per-row and key stabilisers cancel.
    estimate = phi_q @ phi_k.transpose(-1, -2)
    estimate = estimate / estimate.sum(-1, keepdim=True)
    exact = torch.softmax(q @ k.transpose(-1, -2) / 8 ** 0.5, -1)
    assert (estimate - exact).abs().max() < 0.05
    assert F.feature_map(q, "elu").equal(torch.nn.functional.elu(q) + 1)
    assert set(F.feature_map_names()) >= {"softmax", "relu", "elu"}


def small_graph():
    """Two graphs in PyG's batch layout: a 4-cycle with a chord and a 3-path."""
    edges = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (4, 5), (5, 6)]
    edge_index = torch.tensor(edges).t()
    return torch.cat([edge_index, edge_index.flip(0)], 1), torch.tensor([0, 0, 0, 0, 1, 1, 1])


# One case per registered mask: its settings and the structure its tokens carry.
MASK_CASES = {
    "causal": ({"chunk_size": 2}, "sequence"),
    "toeplitz": ({"max_length": 8}, "sequence"),
    "block-toeplitz": ({"grid_shape": "2x3"}, "sequence"),
    "flt": ({"dim": 2, "semantics": "multiplicative"}, "positions"),
    "local-rpe": ({"radius": 1.5}, "positions"),
    "adjacency": ({}, "graph"),
    "diffusion": ({"time": 0.7, "tolerance": 1e-13}, "graph"),
    "random-walk": ({"steps": 3}, "graph"),
    "grf": ({"walks_per_node": 4}, "graph"),
    "spanning-tree": ({"trees": 2}, "graph"),
    "tree-function": ({"max_distance": 4}, "graph"),
}


def mask_inputs(kind):
    if kind == "graph":
        edge_index, batch = small_graph()
        x = torch.randn(7, 4, dtype=torch.float64)
        return x, dict(edge_index=edge_index, batch=batch)
    x = torch.randn(2, 6, 4, dtype=torch.float64)
    if kind == "positions":
        return x, dict(pos=torch.randn(2, 6, 2, dtype=torch.float64))
    return x, {}


def test_every_registered_mask_has_a_case():
    assert sorted(MASK_CASES) == sorted(F.mask_names())


@pytest.mark.parametrize("name", sorted(MASK_CASES))
def test_every_mask_product_equals_its_dense_matrix_and_attention_its_reference(name):
    settings, kind = MASK_CASES[name]
    mask = Mask(name, 2, **settings).double()
    x, structure = mask_inputs(kind)
    op = mask.build(x, **structure)
    dense = op.dense(like=x)
    b, length = (2, 4) if kind == "graph" else (2, 6)
    c = torch.randn(b, 2, length, 3, dtype=torch.float64)
    torch.testing.assert_close(op.apply(c), dense @ c, rtol=1e-10, atol=1e-10)
    # Masked linear attention against the dense masked formula (positive features; the
    # graph layout pads the second graph's 3 nodes to 4).
    phi_q, phi_k = features(b, 2, length, 5), features(b, 2, length, 5)
    v = torch.randn(b, 2, length, 3, dtype=torch.float64)
    padding = None
    weights = dense.expand(b, 2, length, length)
    if kind == "graph":
        padding = torch.tensor([[False] * 4, [False] * 3 + [True]])
        weights = weights * (~padding).to(torch.float64)[:, None, None, :]
    out = F.masked_linear_attention(phi_q, phi_k, v, op, key_padding_mask=padding)
    reference = dense_attention(phi_q, phi_k, v, weights)
    rows = slice(None) if padding is None else (~padding)[:, None, :, None].expand_as(out)
    torch.testing.assert_close(out[rows], reference[rows], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", ["toeplitz", "flt", "diffusion", "tree-function"])
def test_mask_parameter_gradients_equal_finite_differences(name):
    settings, kind = MASK_CASES[name]
    mask = Mask(name, 2, **settings).double()
    x, structure = mask_inputs(kind)
    b, length = (2, 4) if kind == "graph" else (2, 6)
    c = torch.randn(b, 2, length, 3, dtype=torch.float64)
    params = [p for p in mask.parameters()]
    assert params, f"{name} has learnable parameters"

    # Differentiate through the live parameters: perturb them in place, compare with autograd.
    out = mask.build(x, **structure).apply(c)
    weights = torch.randn_like(out)
    grads = torch.autograd.grad((out * weights).sum(), params)
    for p, g in zip(params, grads):
        flat = p.detach().view(-1)
        for i in range(min(flat.numel(), 4)):
            with torch.no_grad():
                old = flat[i].item()
                flat[i] = old + 1e-6
                plus = (mask.build(x, **structure).apply(c) * weights).sum().item()
                flat[i] = old - 1e-6
                minus = (mask.build(x, **structure).apply(c) * weights).sum().item()
                flat[i] = old
            assert abs((plus - minus) / 2e-6 - g.view(-1)[i].item()) < 1e-5 * max(
                1.0, abs(g.view(-1)[i].item())), (name, i)


def test_neighbourhoods_match_brute_force():
    pos = torch.rand(60, 3, dtype=torch.float64)
    batch = torch.tensor([0] * 25 + [1] * 35)
    edge_index = F.knn_graph(pos, 4, batch=batch)
    distance = torch.cdist(pos, pos)
    distance[batch[:, None] != batch[None, :]] = float("inf")
    distance.fill_diagonal_(float("inf"))
    expected = distance.topk(4, largest=False).indices  # [N, 4] nearest other points
    for centre in range(60):
        sources = edge_index[0][edge_index[1] == centre]
        assert sorted(sources.tolist()) == sorted(expected[centre].tolist())
    edges = F.radius_graph(pos, 0.3, batch=batch, max_num_neighbors=100)
    within = (distance < 0.3).nonzero()
    assert sorted(map(tuple, edges.t().tolist())) == sorted(
        (int(j), int(i)) for i, j in within.tolist())
    lengths = F.edge_lengths(edges, pos)
    torch.testing.assert_close(lengths, (pos[edges[0]] - pos[edges[1]]).norm(dim=1))
    picked = F.farthest_point_sampling(pos, batch, ratio=0.2, random_start=False)
    assert picked.numel() == 5 + 7 and picked[0] == 0 and picked[5] == 25
    grid = F.voxel_grid(pos, [0.25], batch=batch)
    assert grid["coords"].equal(((pos - grid["origin"][batch]) / 0.25).floor().long())


def test_graph_kernels_match_dense_matrices():
    edge_index, _ = small_graph()
    w_index, w_values = F.graph_operator(edge_index, 7)
    w = torch.zeros(7, 7, dtype=torch.float64)
    w[w_index[0], w_index[1]] = w_values
    x = torch.randn(7, 3, dtype=torch.float64)
    t = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(F.diffusion(edge_index, t, x), torch.matrix_exp(0.8 * w) @ x,
                               rtol=1e-9, atol=1e-9)
    alpha = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    torch.testing.assert_close(F.random_walk_kernel(edge_index, alpha, x),
                               (0.5 * torch.eye(7) + 0.3 * w + 0.2 * w @ w) @ x)
    assert torch.autograd.gradcheck(lambda t: F.diffusion(edge_index, t, x), (t,))
    pi = F.stationary_distribution(edge_index, 7, batch=small_graph()[1])
    torch.testing.assert_close(pi[:4].sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.manual_seed(4)
    walks = F.random_walks(edge_index, 7, walks_per_node=2, max_length=3)
    assert walks["nodes"].shape == (14, 4)
    steps = walks["nodes"][:, :-1], walks["nodes"][:, 1:]
    arcs = set(map(tuple, edge_index.t().tolist()))
    for a, b in zip(steps[0].flatten().tolist(), steps[1].flatten().tolist()):
        assert b == -1 or (a, b) in arcs


def test_cpp_errors_arrive_as_python_errors_with_the_cpp_message():
    with pytest.raises(RuntimeError, match=r"linear_attention: `phi_k` has shape \[1, 1, 3, 5\]"):
        F.linear_attention(torch.rand(1, 1, 3, 4), torch.rand(1, 1, 3, 5), torch.rand(1, 1, 3, 2))
    with pytest.raises(ValueError, match=r"make_mask: `name` must be one of .*, got \"difusion\""):
        Mask("difusion", 2)
    with pytest.raises(ValueError, match=r"time"):
        Mask("diffusion", 2, time=-1.0)
    with pytest.raises(TypeError, match=r"mask setting `time` must be a bool, int, float or str"):
        Mask("diffusion", 2, time=[1])
    with pytest.raises(ValueError) as caught:
        F.knn_graph(torch.rand(5, 3), -1)
    assert "Exception raised from" not in str(caught.value)  # no C++ backtrace
