# SPDX-License-Identifier: Apache-2.0
"""Functional ops on torch tensors, differentiable through the C++ backward passes.

Attention: ``feature_map``, ``random_projection``, ``linear_attention`` (causal, key padding,
packed segments), ``masked_linear_attention`` (any mask operator, Alg. 1 of Choromanski et al.,
ICML 2022). Masks: ``mask_names``, ``mask_info``, ``describe_masks`` (build them with
``topoformer.nn.Mask``). Point clouds: ``knn``, ``knn_graph``, ``radius``, ``radius_graph``,
``edge_lengths``, ``farthest_point_sampling``, ``voxel_grid`` (torch-cluster's conventions).
Graphs (``edge_index`` [2, E]): ``graph_operator``, ``diffusion``, ``random_walk_kernel``,
``regularized_laplacian``, ``stationary_distribution``, ``random_walks``; ``make_graph_batch(x,
edge_index, batch=None, edge_weight=None)`` → a ``GraphBatch`` that ``GraphAttentionLayer``s
share (``layer(x, graph=graphs)``), so the masks' structure is computed once per batch (it
keeps random draws — grf walks, random spanning trees — for as long as it is reused).

Shapes and semantics are those of the C++ functions of the same name (README, headers); errors
raise ValueError/TypeError/IndexError/RuntimeError with the C++ message.
"""
from ._C import (  # noqa: F401
    GraphBatch,
    describe_masks,
    diffusion,
    edge_lengths,
    farthest_point_sampling,
    feature_map,
    feature_map_names,
    graph_operator,
    knn,
    knn_graph,
    linear_attention,
    make_graph_batch,
    mask_info,
    mask_names,
    masked_linear_attention,
    radius,
    radius_graph,
    random_projection,
    random_walk_kernel,
    random_walks,
    regularized_laplacian,
    stationary_distribution,
    voxel_grid,
)
