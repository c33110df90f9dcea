# SPDX-License-Identifier: Apache-2.0
"""The modules as PyTorch users use them: parameters are torch.nn.Parameters shared with C++
(optimizers, state_dict, .double(), deepcopy), gradients match finite differences, a loss falls,
and the graph layer sits between plain PyTorch layers on the bundled MUTAG graphs."""
import copy
import io

import pytest
import torch

import topoformer
from topoformer.nn import GraphAttentionLayer, MaskedLinearAttention, PointCloudBlock

from test_functional import small_graph


def test_parameters_are_parameters_shared_with_the_cpp_module():
    layer = MaskedLinearAttention(8, 2, mask="diffusion", time=0.5)
    params = dict(layer.named_parameters())
    assert "mask_0.time" in params and "q_proj.weight" in params
    assert all(isinstance(p, torch.nn.Parameter) and p.requires_grad for p in params.values())
    assert "feature_map.projection" in dict(layer.named_buffers())
    x = torch.randn(7, 8)
    edge_index, batch = small_graph()
    before = layer(x, edge_index, batch)
    with torch.no_grad():
        params["mask_0.time"].fill_(2.0)  # what C++ reads: the output changes
    assert not torch.allclose(layer(x, edge_index, batch), before)
    layer(x, edge_index, batch).square().sum().backward()
    assert params["mask_0.time"].grad is not None and params["mask_0.time"].grad.abs().sum() > 0


def test_state_dict_round_trip_double_and_deepcopy():
    torch.manual_seed(1)
    a = MaskedLinearAttention(8, 2, mask="toeplitz", max_length=16)
    torch.manual_seed(2)
    b = MaskedLinearAttention(8, 2, mask="toeplitz", max_length=16)
    x = torch.randn(2, 5, 8)
    assert not torch.allclose(a(x), b(x))
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b(x), a(x), rtol=0, atol=0)
    twin = copy.deepcopy(a)
    torch.testing.assert_close(twin(x), a(x), rtol=0, atol=0)
    assert twin.q_proj.weight is not a.q_proj.weight
    # torch.save of the whole module (pickle), as users save models.
    buffer = io.BytesIO()
    torch.save(a, buffer)
    buffer.seek(0)
    torch.testing.assert_close(torch.load(buffer)(x), a(x), rtol=0, atol=0)
    a.double()
    assert a.q_proj.weight.dtype == torch.float64
    assert a.feature_map.projection.dtype == torch.float64
    out = a(x.double())
    assert out.dtype == torch.float64
    torch.testing.assert_close(out.float(), twin(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(RuntimeError, match="was replaced"):
        a.q_proj.weight = torch.nn.Parameter(torch.zeros(8, 8, dtype=torch.float64))
        a(x.double())


def test_graph_layer_mlp_ratio_zero_drops_the_mlp():
    torch.manual_seed(3)
    full = GraphAttentionLayer(8, 2, mask="adjacency")
    light = GraphAttentionLayer(8, 2, mask="adjacency", mlp_ratio=0)
    full_names, light_names = dict(full.named_parameters()), dict(light.named_parameters())
    assert any(n.startswith("block.mlp.") for n in full_names)
    assert set(light_names) == {n for n in full_names
                                if not n.startswith(("block.mlp.", "block.norm2."))}
    with torch.no_grad():  # the same attention weights: only the MLP step differs
        for name, p in light_names.items():
            p.copy_(full_names[name])
    x = torch.randn(7, 8)
    edge_index, batch = small_graph()
    assert not torch.allclose(light(x, edge_index, batch), full(x, edge_index, batch))
    with torch.no_grad():
        full_names["block.mlp.3.weight"].zero_()
        full_names["block.mlp.3.bias"].zero_()
    torch.testing.assert_close(light(x, edge_index, batch), full(x, edge_index, batch))
    twin = copy.deepcopy(light)  # rebuilt from the constructor's arguments: still no MLP
    assert set(dict(twin.named_parameters())) == set(light_names)
    torch.testing.assert_close(twin(x, edge_index, batch), light(x, edge_index, batch))
    with pytest.raises(ValueError, match="GraphAttentionLayer: `mlp_ratio` must be >= 0"):
        GraphAttentionLayer(8, 2, mlp_ratio=-1)


def test_softmax_exact_is_the_softmax_along_the_graph():
    """feature_map="softmax-exact": node i attends to itself and its neighbours with weights
    softmax_j(q_i·k_j/√d), exactly (GAT-style); masks that are not sparse are refused."""
    torch.manual_seed(5)
    layer = MaskedLinearAttention(8, 2, mask="adjacency", feature_map="softmax-exact").double()
    x = torch.randn(7, 8, dtype=torch.float64) * 2
    edge_index, batch = small_graph()
    adjacency = torch.eye(7, dtype=torch.float64)
    adjacency[edge_index[0], edge_index[1]] = 1
    p = dict(layer.named_parameters())

    def heads(name):
        return torch.nn.functional.linear(x, p[name + ".weight"], p[name + ".bias"]) \
            .view(7, 2, 4).transpose(0, 1)

    q, k, v = heads("q_proj"), heads("k_proj"), heads("v_proj")
    logits = (q @ k.transpose(1, 2) / 2).masked_fill(adjacency == 0, float("-inf"))
    out = (torch.softmax(logits, -1) @ v).transpose(0, 1).reshape(7, 8)
    expected = torch.nn.functional.linear(out, p["out_proj.weight"], p["out_proj.bias"])
    torch.testing.assert_close(layer(x, edge_index, batch), expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="softmax-exact feature map needs one sparse mask"):
        MaskedLinearAttention(8, 2, mask="diffusion", feature_map="softmax-exact")


def test_graph_layers_share_one_graph_batch():
    torch.manual_seed(4)
    first = GraphAttentionLayer(8, 2, mask="diffusion")
    second = GraphAttentionLayer(8, 2, mask="random-walk", steps=2)
    x = torch.randn(7, 8, requires_grad=True)
    edge_index, batch = small_graph()
    graphs = topoformer.functional.make_graph_batch(x, edge_index, batch)
    assert (graphs.num_graphs, graphs.max_nodes) == (int(batch.max()) + 1,
                                                    int(torch.bincount(batch).max()))
    assert torch.equal(graphs.batch, batch)
    # The same outputs and gradients as each layer building the structure itself.
    shared = second(first(x, graph=graphs), graph=graphs)
    separate = second(first(x, edge_index, batch), edge_index, batch)
    torch.testing.assert_close(shared, separate)
    weights = torch.randn_like(shared)
    inputs = [x, *first.parameters(), *second.parameters()]
    grads_shared = torch.autograd.grad((shared * weights).sum(), inputs)
    grads_separate = torch.autograd.grad((separate * weights).sum(), inputs)
    assert grads_shared[0].abs().sum() > 0
    for a, b in zip(grads_shared, grads_separate):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(first(x, graphs), first(x, graph=graphs))  # positional
    with pytest.raises(TypeError, match="give `graph` or `edge_index`"):
        first(x, edge_index, graph=graphs)
    with pytest.raises(TypeError, match="`edge_index` or `graph` is required"):
        first(x)
    with pytest.raises(ValueError, match="GraphAttentionLayer: `x` must be"):
        first(torch.randn(5, 8), graph=graphs)
    with pytest.raises(ValueError, match="on the device of the graph batch"):
        first(x.detach().to("meta"), graph=graphs)


def test_module_gradients_equal_finite_differences():
    layer = GraphAttentionLayer(4, 2, mask="random-walk", steps=2).double()
    edge_index, batch = small_graph()
    x = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: layer(x, edge_index, batch), (x,))
    # A tight series tolerance: the truncated series jumps by up to its tolerance where its
    # number of terms changes, which central differences at step 1e-6 would see.
    time_layer = MaskedLinearAttention(4, 2, mask="diffusion", feature_map="elu",
                                       tolerance=1e-13).double()
    time = time_layer.mask_0.time

    def as_function_of_time(t):
        with torch.no_grad():
            time.copy_(t)
        return time_layer(x.detach(), edge_index, batch)

    out = time_layer(x.detach(), edge_index, batch)
    weights = torch.randn_like(out)
    (grad,) = torch.autograd.grad((out * weights).sum(), [time])
    base = time.detach().clone()
    for h in range(2):
        step = torch.zeros_like(base)
        step[h] = 1e-6
        plus = (as_function_of_time(base + step) * weights).sum()
        minus = (as_function_of_time(base - step) * weights).sum()
        assert abs(((plus - minus) / 2e-6).item() - grad[h].item()) < 1e-6 * max(
            1.0, abs(grad[h].item()))
    as_function_of_time(base)


class UserGnn(torch.nn.Module):
    """A user's own model: plain PyTorch layers around topoformer's graph attention."""

    def __init__(self, in_features, classes, hidden=16):
        super().__init__()
        self.embed = torch.nn.Linear(in_features, hidden)
        self.attention = GraphAttentionLayer(hidden, 2, mask="diffusion")
        self.head = torch.nn.Linear(hidden, classes)

    def forward(self, x, edge_index, batch):
        h = torch.relu(self.embed(x))
        # A GCN-style mean over neighbours (the user's own message passing) ...
        degree = torch.zeros(x.shape[0]).index_add_(0, edge_index[1], torch.ones(
            edge_index.shape[1])).clamp_min(1)
        h = h + torch.zeros_like(h).index_add_(0, edge_index[1], h[edge_index[0]]) / degree[:, None]
        h = self.attention(h, edge_index, batch)  # ... then graph-masked attention
        pooled = torch.zeros(int(batch.max()) + 1, h.shape[1]).index_add_(0, batch, h)
        return self.head(pooled / torch.bincount(batch)[:, None])


def test_a_user_gnn_with_graph_attention_trains_on_mutag(data_dir):
    graphs = topoformer.datasets.read_tu_dataset(str(data_dir / "MUTAG"), "MUTAG")
    batch = topoformer.datasets.collate(graphs["samples"][:64])
    model = UserGnn(batch["x"].shape[1], graphs["num_classes"])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            model(batch["x"], batch["edge_index"], batch["batch"]), batch["y"])
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses
    assert any(p.grad is not None for p in model.attention.parameters())


def test_point_cloud_block_on_mnist_digits(data_dir):
    digits = topoformer.datasets.read_mnist(str(data_dir / "mnist_200-images-idx3-ubyte.gz"),
                                            str(data_dir / "mnist_200-labels-idx1-ubyte.gz"))
    batch = topoformer.datasets.collate(digits[:8])
    block = PointCloudBlock(16, 2, mask="flt", pos_dim=2)
    embed = torch.nn.Linear(1, 16)
    out = block(embed(batch["x"]), batch["pos"], batch["batch"])
    assert out.shape == (batch["x"].shape[0], 16)
    # The same clouds one by one give the same rows: padding does not leak between clouds.
    first = digits[0]
    alone = block(embed(first["x"]), first["pos"])
    torch.testing.assert_close(out[: first["x"].shape[0]], alone, rtol=1e-5, atol=1e-5)
    # A kNN graph mask over the same points.
    knn = topoformer.functional.knn_graph(batch["pos"], 6, batch=batch["batch"])
    graph_block = PointCloudBlock(16, 2, mask="adjacency", pos_dim=2)
    assert graph_block(embed(batch["x"]), batch["pos"], batch["batch"], knn).shape == out.shape


def test_bad_module_arguments_raise_with_the_cpp_message():
    with pytest.raises(ValueError, match=r"DiffusionMask: `context.graph` must be the batch's graph"):
        MaskedLinearAttention(8, 2, mask="diffusion")(torch.randn(2, 5, 8))
    with pytest.raises(TypeError, match="apply to one mask given by name"):
        MaskedLinearAttention(8, 2, mask=["flt", "toeplitz"], time=1.0)
    with pytest.raises(ValueError, match=r"flt with dim = 3"):
        MaskedLinearAttention(8, 2, mask="flt", dim=2)
