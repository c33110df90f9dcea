// SPDX-License-Identifier: Apache-2.0
/// \file
/// Neighbourhoods across periodic boundaries (crystals, liquids, slabs): radius and kNN graphs
/// of atoms in a cell, whose edges carry the integer cell shift of the image they reach. Every
/// image within reach counts, so a cell smaller than the cutoff (several images of one atom,
/// an atom's own images) is handled exactly. Conventions as in ASE: the cell's rows are the
/// lattice vectors a₁, a₂, a₃ (Å), `pbc` says per axis whether it is periodic, and the vector
/// of an edge is pos[edge_index[0]] + shift·cell − pos[edge_index[1]]. Positions need not be
/// wrapped into the cell; the shifts refer to the positions as given, so distances computed
/// by periodic_edge_vectors are differentiable in both the positions and the cell (stress).
#pragma once

#include <torch/types.h>

#include <string>

namespace topo::geometry {

/// A graph over periodic images: edge e joins atom edge_index[0][e] in image shifts[e] (a
/// vector of integers n: the atom displaced by n·cell) to atom edge_index[1][e].
struct PeriodicGraph {
  torch::Tensor edge_index;  ///< [2, E] int64
  torch::Tensor shifts;      ///< [E, 3] int64
};

/// The radius graph of atoms `pos` [N, 3] (systems by `batch` [N], sorted int64; undefined:
/// one system) in cells `cell` [3, 3] (shared) or [B, 3, 3] (one per system) with periodic
/// axes `pbc` [3] or [B, 3] bool (undefined: all periodic): for every atom i, every image
/// (j, n) with |pos_j + n·cell − pos_i| < r, except i itself in its own cell unless `loop`
/// (its other images are neighbours). At most `max_neighbours` per atom (the nearest, in order
/// of (distance, image); −1 keeps all). Flow as in radius_graph: "source_to_target" puts the
/// neighbour's image in row 0, "target_to_source" the centre (shifts then are the negated
/// neighbour shifts, so the edge-vector formula holds for both). The cell of a system with a
/// periodic axis must be invertible; a system with none may have any cell (e.g. zeros).
PeriodicGraph periodic_radius_graph(const torch::Tensor& pos, double r, const torch::Tensor& cell,
                                    const torch::Tensor& pbc = {}, const torch::Tensor& batch = {},
                                    bool loop = false, int64_t max_neighbours = -1,
                                    const std::string& flow = "source_to_target");

/// The kNN graph over periodic images: every atom's `k` nearest images (ties by image order),
/// itself in its own cell excluded unless `loop`. A system without periodic axes and fewer than
/// k other atoms yields all of them. Found by periodic_radius_graph with a radius grown until
/// every atom has k neighbours.
PeriodicGraph periodic_knn_graph(const torch::Tensor& pos, int64_t k, const torch::Tensor& cell,
                                 const torch::Tensor& pbc = {}, const torch::Tensor& batch = {},
                                 bool loop = false, const std::string& flow = "source_to_target");

/// pos[edge_index[0]] + shifts·cell[system] − pos[edge_index[1]] [E, 3], differentiable in
/// `pos` and `cell` (shapes as in periodic_radius_graph).
torch::Tensor periodic_edge_vectors(const PeriodicGraph& graph, const torch::Tensor& pos,
                                    const torch::Tensor& cell, const torch::Tensor& batch = {});

}  // namespace topo::geometry
