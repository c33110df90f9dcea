# SPDX-License-Identifier: Apache-2.0
"""Masks and masked linear attention as torch.nn.Modules.

Masks are named as in the registry (``topoformer.functional.mask_names()``,
``describe_masks()``); a module's ``mask`` is one name (its settings as keyword arguments), a
list of names, or a list of ``(name, {settings})`` pairs. Inputs follow PyTorch Geometric's node
layout (``x`` [N, E], ``edge_index`` [2, E], ``pos`` [N, d], ``batch`` [N]) or, for
``MaskedLinearAttention`` and ``PointCloudBlock``, the padded layout ([B, L, E] with
``key_padding_mask`` [B, L], true = padding, and ``pos`` [B, L, d]).
"""
from . import _C
from ._module import CppModule

__all__ = ["Mask", "MaskedLinearAttention", "GraphAttentionLayer", "PointCloudBlock"]


def _mask_specs(owner, mask, settings):
    """``mask`` and the keyword settings → [(name, settings dict)]."""
    if mask is None:
        if settings:
            raise TypeError(f"{owner}: settings {sorted(settings)} given without a mask")
        return []
    if isinstance(mask, str):
        return [(mask, dict(settings))]
    if settings:
        raise TypeError(
            f"{owner}: keyword settings {sorted(settings)} apply to one mask given by name; "
            "with several masks give (name, {settings}) pairs")
    specs = []
    for item in mask:
        if isinstance(item, str):
            specs.append((item, {}))
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], dict):
            specs.append((str(item[0]), dict(item[1])))
        else:
            raise TypeError(f"{owner}: `mask` entries must be names or (name, dict) pairs, "
                            f"got {item!r}")
    return specs


class Mask(CppModule):
    """One mask of the registry with its learnable parameters, e.g.
    ``Mask("diffusion", num_heads=4, time=0.5)``. ``build(...)`` gives the operator of one
    batch (``apply(x)`` = M·x along the tokens, ``dense()``) for
    ``topoformer.functional.masked_linear_attention``."""

    def __init__(self, name, num_heads, **settings):
        super().__init__(_C.make_mask(name, num_heads, settings), name, num_heads, **settings)

    def build(self, x, key_padding_mask=None, pos=None, edge_index=None, batch=None,
              edge_weight=None):
        """The mask of the tokens of ``x`` ([N, E] node layout or [B, L, E] padded; its dtype
        and device), with the structure the mask needs (positions, graph)."""
        self._sync()
        return self._cpp.build(x, key_padding_mask=key_padding_mask, pos=pos,
                               edge_index=edge_index, batch=batch, edge_weight=edge_weight)

    def forward(self, *args, **kwargs):
        return self.build(*args, **kwargs)


class MaskedLinearAttention(CppModule):
    """Multi-head linear attention (Performer features) modulated by topological masks, never
    forming the L×L matrix: ``MaskedLinearAttention(64, 4, mask="diffusion", time=0.5)``.

    forward(x, edge_index=None, batch=None, pos=None, key_padding_mask=None, edge_weight=None)
    returns a tensor shaped as ``x``.

    Args: ``feature_map`` ("softmax", "softmax-hyperbolic", "relu-random", "relu", "elu", or
    "softmax-exact": exact softmax along a sparse mask's edges, adjacency or local-rpe),
    ``num_features`` (random features m), ``redraw_interval`` (training steps between redraws,
    0 never), ``seed``, ``causal`` (without masks), ``bias``, ``chunk_size`` (causal scan),
    ``pos_dim`` (the positions' dimension, for the flt mask), ``layer_id`` (seeds the features).
    """

    def __init__(self, embed_dim, num_heads, mask=None, *, feature_map="softmax", num_features=64,
                 redraw_interval=0, seed=0, causal=False, bias=True, chunk_size=128, pos_dim=3,
                 layer_id=0, **settings):
        specs = _mask_specs("MaskedLinearAttention", mask, settings)
        cpp = _C.make_linear_attention(embed_dim, num_heads, specs, feature_map, num_features,
                                       redraw_interval, layer_id, seed, causal, bias, chunk_size,
                                       pos_dim)
        super().__init__(cpp, embed_dim, num_heads, mask, feature_map=feature_map,
                         num_features=num_features, redraw_interval=redraw_interval, seed=seed,
                         causal=causal, bias=bias, chunk_size=chunk_size, pos_dim=pos_dim,
                         layer_id=layer_id, **settings)

    def forward(self, x, edge_index=None, batch=None, pos=None, key_padding_mask=None,
                edge_weight=None):
        self._sync()
        return _C.linear_attention_forward(self._cpp, x, key_padding_mask=key_padding_mask,
                                           pos=pos, edge_index=edge_index, batch=batch,
                                           edge_weight=edge_weight)


class GraphAttentionLayer(CppModule):
    """A graph-masked linear attention block (pre-norm attention + MLP, residual) that drops
    into a PyTorch Geometric model: ``forward(x, edge_index, batch=None, edge_weight=None)``
    or ``forward(x, graph=graphs)`` with ``x`` [N, embed_dim] → [N, embed_dim]. Masks over the
    graph: diffusion (default), random-walk, grf, adjacency, spanning-tree, tree-function.
    ``mlp_ratio=0`` drops the MLP: x + Attention(LayerNorm(x))."""

    def __init__(self, embed_dim, num_heads, mask="diffusion", *, feature_map="elu",
                 num_features=32, dropout=0.0, mlp_ratio=2, layer_id=0, **settings):
        specs = _mask_specs("GraphAttentionLayer", mask, settings)
        cpp = _C.make_graph_attention_layer(embed_dim, num_heads, specs, feature_map,
                                            num_features, dropout, mlp_ratio, layer_id)
        super().__init__(cpp, embed_dim, num_heads, mask, feature_map=feature_map,
                         num_features=num_features, dropout=dropout, mlp_ratio=mlp_ratio,
                         layer_id=layer_id, **settings)

    def forward(self, x, edge_index=None, batch=None, edge_weight=None, *, graph=None):
        """``graph``: a ``topoformer.functional.make_graph_batch(x, edge_index, batch)`` made
        once and passed to every layer (instead of ``edge_index``/``batch``/``edge_weight``):
        the masks' structure is then computed once, not once per layer. It keeps what it
        computed, random draws included (grf walks, random spanning trees: one draw for as long
        as it is reused), lives on the device of the ``x`` it was made from, and cannot be
        pickled: pass it to ``forward``, do not store it on a module."""
        self._sync()
        if isinstance(edge_index, _C.GraphBatch):  # layer(x, graphs)
            edge_index, graph = None, edge_index
        if graph is not None:
            if edge_index is not None or batch is not None or edge_weight is not None:
                raise TypeError("GraphAttentionLayer.forward: give `graph` or `edge_index` "
                                "(with `batch`, `edge_weight`), not both")
            return _C.graph_attention_layer_forward_batch(self._cpp, x, graph)
        if edge_index is None:
            raise TypeError("GraphAttentionLayer.forward: `edge_index` or `graph` is required")
        return _C.graph_attention_layer_forward(self._cpp, x, edge_index, batch=batch,
                                                edge_weight=edge_weight)


class PointCloudBlock(CppModule):
    """A transformer block over points with masks over their positions (flt: learned spectral
    RPE, local-rpe) or a given graph (e.g. ``knn_graph``): ``forward(x, pos, batch=None,
    edge_index=None)`` with ``x`` [N, embed_dim], ``pos`` [N, pos_dim] → [N, embed_dim].
    ``mlp_ratio``: the MLP's width over embed_dim (0: no MLP)."""

    def __init__(self, embed_dim, num_heads, mask="flt", *, pos_dim=3, feature_map="softmax",
                 num_features=64, dropout=0.0, mlp_ratio=2, layer_id=0, **settings):
        specs = _mask_specs("PointCloudBlock", mask, settings)
        cpp = _C.make_transformer_block(embed_dim, num_heads, specs, pos_dim, feature_map,
                                        num_features, dropout, mlp_ratio, layer_id)
        super().__init__(cpp, embed_dim, num_heads, mask, pos_dim=pos_dim,
                         feature_map=feature_map, num_features=num_features, dropout=dropout,
                         mlp_ratio=mlp_ratio, layer_id=layer_id, **settings)

    def forward(self, x, pos, batch=None, edge_index=None, key_padding_mask=None):
        self._sync()
        return _C.transformer_block_forward(self._cpp, x, pos=pos, batch=batch,
                                            edge_index=edge_index,
                                            key_padding_mask=key_padding_mask)
