// SPDX-License-Identifier: Apache-2.0
#include "geometry/periodic.h"

#include <torch/torch.h>

#include <cmath>
#include <vector>

#include "common/check.h"
#include "geometry/radius.h"

namespace topo::geometry {
namespace {

/// The inputs of a periodic search on the CPU in float64, one row of `cell`/`pbc` per system.
struct Systems {
  torch::Tensor pos;    ///< [N, 3] float64
  torch::Tensor batch;  ///< [N] int64, sorted
  torch::Tensor cell;   ///< [B, 3, 3] float64
  torch::Tensor pbc;    ///< [B, 3] bool
  int64_t count = 1;
};

Systems prepare(const char* function, const torch::Tensor& pos, const torch::Tensor& cell,
                const torch::Tensor& pbc, const torch::Tensor& batch) {
  TOPO_CHECK_ARG(pos.defined() && pos.dim() == 2 && pos.size(1) == 3 && pos.is_floating_point(),
                 function, "pos", "a floating-point tensor [N, 3]",
                 pos.defined() ? shape_string(pos) : "undefined");
  const int64_t n = pos.size(0);
  Systems s;
  s.pos = pos.detach().to(torch::kCPU, torch::kDouble).contiguous();
  TOPO_CHECK_ARG(torch::isfinite(s.pos).all().item<bool>(), function, "pos", "finite values",
                 "NaN or infinity");
  int64_t systems = 1;
  if (batch.defined()) {
    TOPO_CHECK_ARG(batch.dim() == 1 && batch.size(0) == n && batch.scalar_type() == torch::kLong,
                   function, "batch", c10::str("an int64 tensor [", n, "]"), shape_string(batch));
    s.batch = batch.to(torch::kCPU).contiguous();
    if (n > 0) {
      TOPO_CHECK_ARG(
          s.batch.min().item<int64_t>() >= 0 &&
              (n < 2 || (s.batch.slice(0, 1) >= s.batch.slice(0, 0, -1)).all().item<bool>()),
          function, "batch", "sorted system ids >= 0", value_range(s.batch));
      systems = s.batch[-1].item<int64_t>() + 1;
    }
  } else {
    s.batch = torch::zeros({n}, torch::kLong);
  }
  TOPO_CHECK_ARG(cell.defined() && cell.is_floating_point() &&
                     ((cell.dim() == 2 && cell.size(0) == 3 && cell.size(1) == 3) ||
                      (cell.dim() == 3 && cell.size(1) == 3 && cell.size(2) == 3 &&
                       cell.size(0) >= systems && (batch.defined() || cell.size(0) == 1))),
                 function, "cell",
                 c10::str("a floating-point tensor [3, 3] or [B, 3, 3] with B >= ", systems,
                          " (the systems of `batch`)"),
                 cell.defined() ? shape_string(cell) : "undefined");
  s.count = cell.dim() == 3 ? cell.size(0) : systems;
  s.cell = cell.detach().to(torch::kCPU, torch::kDouble).expand({s.count, 3, 3}).contiguous();
  TOPO_CHECK_ARG(torch::isfinite(s.cell).all().item<bool>(), function, "cell", "finite values",
                 "NaN or infinity");
  if (pbc.defined()) {
    TOPO_CHECK_ARG(pbc.scalar_type() == torch::kBool &&
                       ((pbc.dim() == 1 && pbc.size(0) == 3) ||
                        (pbc.dim() == 2 && pbc.size(0) == s.count && pbc.size(1) == 3)),
                   function, "pbc", c10::str("a bool tensor [3] or [", s.count, ", 3]"),
                   shape_string(pbc) + " of " + c10::toString(pbc.scalar_type()));
    s.pbc = pbc.to(torch::kCPU).expand({s.count, 3}).contiguous();
  } else {
    s.pbc = torch::ones({s.count, 3}, torch::kBool);
  }
  return s;
}

/// (centre, neighbour, shift) of every image within r, shifts relative to the given positions.
struct Found {
  torch::Tensor centre, neighbour, shift;
};

Found search(const char* function, const Systems& s, double r, bool loop, int64_t max_neighbours) {
  TOPO_CHECK_ARG(std::isfinite(r) && r > 0, function, "r", "finite and > 0", r);
  TOPO_CHECK_ARG(max_neighbours >= -1, function, "max_neighbours", ">= 0 or -1 (all)",
                 max_neighbours);
  const int64_t n = s.pos.size(0);
  const auto periodic_system = s.pbc.any(1);
  // Systems without a periodic axis are searched in their own coordinates (any cell, even a
  // singular one, is then irrelevant).
  const auto frame = torch::where(periodic_system.view({-1, 1, 1}), s.cell,
                                  torch::eye(3, torch::kDouble).expand({s.count, 3, 3}));
  const auto det = torch::linalg_det(frame).abs();
  const auto scale = frame.norm(2, {2}).prod(1);  // |det| <= product of the row lengths
  const auto singular = (det <= 1e-10 * scale).nonzero();
  if (singular.size(0) > 0) {
    const int64_t b = singular[0][0].item<int64_t>();
    TOPO_CHECK_ARG(
        false, function, "cell",
        "an invertible cell (linearly independent lattice vectors) for every system "
        "with a periodic axis",
        c10::str("a singular cell (|det| = ", det[b].item<double>(), ") for system ", b));
  }
  const auto inverse = torch::linalg_inv(frame);
  // Fractional coordinates; atoms wrapped into [0, 1) along periodic axes. Along axis k, points
  // closer than r differ by less than r·|column k of cell⁻¹| in fractional coordinate k (the
  // distance between lattice planes is 1 / |column k|), so only images whose fractional
  // coordinate lies within that reach of [0, 1) can neighbour an atom of the cell.
  const auto atom_frame = frame.index_select(0, s.batch);
  const auto periodic = s.pbc.index_select(0, s.batch);
  const auto frac = torch::bmm(s.pos.unsqueeze(1), inverse.index_select(0, s.batch)).squeeze(1);
  const auto wrap = torch::where(periodic, frac.floor(), torch::zeros_like(frac));
  const auto frac_wrapped = frac - wrap;
  const auto reach = r * inverse.norm(2, {1});  // [B, 3]
  const auto images = torch::where(s.pbc, reach.ceil(), torch::zeros_like(reach));
  const auto atom_reach = reach.index_select(0, s.batch);
  const auto atom_images = images.index_select(0, s.batch);
  const auto most =
      images.numel() ? images.amax(0).to(torch::kLong) : torch::zeros({3}, torch::kLong);
  const int64_t mx = most[0].item<int64_t>(), my = most[1].item<int64_t>(),
                mz = most[2].item<int64_t>();
  // A cell tiny against r (e.g. given in nm) would need millions of images: refuse, don't hang.
  const double image_count = double(2 * mx + 1) * double(2 * my + 1) * double(2 * mz + 1);
  TOPO_CHECK_ARG(
      image_count <= 1e6, function, "r",
      "at most 10^6 periodic images per atom within reach (is the cell in Å?)",
      c10::str(r, ", reaching ", mx, ", ", my, " and ", mz, " cells along the lattice vectors"));
  std::vector<torch::Tensor> atoms, shifts;
  for (int64_t sx = -mx; sx <= mx; ++sx) {
    for (int64_t sy = -my; sy <= my; ++sy) {
      for (int64_t sz = -mz; sz <= mz; ++sz) {
        const auto shift = torch::tensor({double(sx), double(sy), double(sz)}, torch::kDouble);
        const auto f = frac_wrapped + shift;
        const auto within = (f > -atom_reach).logical_and(f < 1 + atom_reach);
        const auto keep = (shift.abs() <= atom_images)
                              .logical_and(within.logical_or(periodic.logical_not()))
                              .all(1);
        const auto index = keep.nonzero().squeeze(1);
        if (index.numel() == 0) continue;
        atoms.push_back(index);
        shifts.push_back(shift.to(torch::kLong).expand({index.size(0), 3}));
      }
    }
  }
  Found found;
  const auto none = torch::empty({0}, torch::kLong);
  found.centre = found.neighbour = none;
  found.shift = torch::empty({0, 3}, torch::kLong);
  if (atoms.empty() || n == 0) return found;
  auto candidate_atom = torch::cat(atoms);
  auto candidate_shift = torch::cat(shifts);
  // The radius search wants the candidates grouped by system, in system order.
  const auto order =
      std::get<1>(s.batch.index_select(0, candidate_atom).sort(c10::optional<bool>(true), 0));
  candidate_atom = candidate_atom.index_select(0, order);
  candidate_shift = candidate_shift.index_select(0, order);
  const auto candidate_pos =
      torch::bmm((frac_wrapped.index_select(0, candidate_atom) + candidate_shift.to(torch::kDouble))
                     .unsqueeze(1),
                 atom_frame.index_select(0, candidate_atom))
          .squeeze(1);
  const auto wrapped = torch::bmm(frac_wrapped.unsqueeze(1), atom_frame).squeeze(1);
  // One more neighbour than asked for: the atom itself (distance 0) is dropped below.
  const int64_t asked = max_neighbours < 0 || loop ? max_neighbours : max_neighbours + 1;
  const auto edges =
      radius(candidate_pos, wrapped, r, s.batch.index_select(0, candidate_atom), s.batch, asked);
  auto centre = edges[0];
  auto neighbour = candidate_atom.index_select(0, edges[1]);
  const auto wrap_long = wrap.to(torch::kLong);
  // wrapped = pos − wrap·cell, so the candidate pos_j + (s − wrap_j)·cell seen from
  // pos_i − wrap_i·cell is pos_j + (s − wrap_j + wrap_i)·cell − pos_i.
  auto shift = candidate_shift.index_select(0, edges[1]) - wrap_long.index_select(0, neighbour) +
               wrap_long.index_select(0, centre);
  if (!loop) {
    const auto keep = (neighbour != centre).logical_or((shift != 0).any(1)).nonzero().squeeze(1);
    centre = centre.index_select(0, keep);
    neighbour = neighbour.index_select(0, keep);
    shift = shift.index_select(0, keep);
    if (max_neighbours >= 0) {
      // Edges come grouped by centre, nearest first: keep each centre's first max_neighbours.
      const auto counts = torch::bincount(centre, {}, n);
      const auto starts = counts.cumsum(0) - counts;
      const auto rank =
          torch::arange(centre.size(0), torch::kLong) - starts.index_select(0, centre);
      const auto first = (rank < max_neighbours).nonzero().squeeze(1);
      centre = centre.index_select(0, first);
      neighbour = neighbour.index_select(0, first);
      shift = shift.index_select(0, first);
    }
  }
  found.centre = centre;
  found.neighbour = neighbour;
  found.shift = shift;
  return found;
}

PeriodicGraph orient(const char* function, const Found& found, const std::string& flow,
                     const torch::Device& device) {
  TOPO_CHECK_ARG(flow == "source_to_target" || flow == "target_to_source", function, "flow",
                 "\"source_to_target\" or \"target_to_source\"", "\"" + flow + "\"");
  PeriodicGraph graph;
  if (flow == "source_to_target") {
    graph.edge_index = torch::stack({found.neighbour, found.centre});
    graph.shifts = found.shift;
  } else {
    graph.edge_index = torch::stack({found.centre, found.neighbour});
    graph.shifts = -found.shift;
  }
  graph.edge_index = graph.edge_index.to(device);
  graph.shifts = graph.shifts.to(device);
  return graph;
}

}  // namespace

PeriodicGraph periodic_radius_graph(const torch::Tensor& pos, double r, const torch::Tensor& cell,
                                    const torch::Tensor& pbc, const torch::Tensor& batch, bool loop,
                                    int64_t max_neighbours, const std::string& flow) {
  const char* function = "periodic_radius_graph";
  const auto systems = prepare(function, pos, cell, pbc, batch);
  return orient(function, search(function, systems, r, loop, max_neighbours), flow, pos.device());
}

PeriodicGraph periodic_knn_graph(const torch::Tensor& pos, int64_t k, const torch::Tensor& cell,
                                 const torch::Tensor& pbc, const torch::Tensor& batch, bool loop,
                                 const std::string& flow) {
  const char* function = "periodic_knn_graph";
  TOPO_CHECK_ARG(k >= 1, function, "k", ">= 1", k);
  const auto s = prepare(function, pos, cell, pbc, batch);
  const int64_t n = s.pos.size(0);
  if (n == 0) return orient(function, search(function, s, 1.0, loop, k), flow, pos.device());
  // Atoms per system, and how many neighbours each atom can have: k with a periodic axis
  // (images never run out), else the other atoms of its system (and itself with `loop`).
  const auto sizes = torch::bincount(s.batch, {}, s.count);
  const auto periodic_system = s.pbc.any(1);
  const auto available = torch::where(periodic_system, torch::full({s.count}, k, torch::kLong),
                                      (sizes - (loop ? 0 : 1)).clamp(0, k));
  const auto needed = available.index_select(0, s.batch);
  // First radius: the sphere that holds k + 1 atoms at the system's mean density (volume of the
  // cell, or of the atoms' bounding box without periodic axes).
  double r = 0;
  for (int64_t b = 0; b < s.count; ++b) {
    const int64_t atoms = sizes[b].item<int64_t>();
    if (atoms == 0) continue;
    double volume = 0;
    if (periodic_system[b].item<bool>()) {
      volume = torch::linalg_det(s.cell[b]).abs().item<double>();
    } else {
      const auto points = s.pos.index_select(0, (s.batch == b).nonzero().squeeze(1));
      volume = (std::get<0>(points.max(0)) - std::get<0>(points.min(0)))
                   .clamp_min(1e-3)
                   .prod()
                   .item<double>();
    }
    r = std::max(r, std::cbrt(3.0 * double(k + 1) * volume / (4.0 * M_PI * double(atoms))));
  }
  r = std::max(r, 1e-6);
  for (int attempt = 0; attempt < 200; ++attempt, r *= 1.5) {
    auto found = search(function, s, r, loop, k);
    if ((torch::bincount(found.centre, {}, n) >= needed).all().item<bool>())
      return orient(function, found, flow, pos.device());
  }
  TOPO_CHECK_ARG(false, function, "pos", c10::str(k, " neighbours per atom within a finite radius"),
                 c10::str("fewer within r = ", r));
  return {};
}

torch::Tensor periodic_edge_vectors(const PeriodicGraph& graph, const torch::Tensor& pos,
                                    const torch::Tensor& cell, const torch::Tensor& batch) {
  const char* function = "periodic_edge_vectors";
  TOPO_CHECK_ARG(pos.defined() && pos.dim() == 2 && pos.size(1) == 3, function, "pos", "[N, 3]",
                 pos.defined() ? shape_string(pos) : "undefined");
  const auto& edges = graph.edge_index;
  TOPO_CHECK_ARG(edges.defined() && edges.dim() == 2 && edges.size(0) == 2 &&
                     edges.scalar_type() == torch::kLong,
                 function, "graph.edge_index", "an int64 tensor [2, E]",
                 edges.defined() ? shape_string(edges) : "undefined");
  TOPO_CHECK_ARG(graph.shifts.defined() && graph.shifts.dim() == 2 &&
                     graph.shifts.size(0) == edges.size(1) && graph.shifts.size(1) == 3,
                 function, "graph.shifts", c10::str("[", edges.size(1), ", 3]"),
                 graph.shifts.defined() ? shape_string(graph.shifts) : "undefined");
  TOPO_CHECK_ARG(cell.defined() && ((cell.dim() == 2 && cell.size(0) == 3 && cell.size(1) == 3) ||
                                    (cell.dim() == 3 && cell.size(1) == 3 && cell.size(2) == 3)),
                 function, "cell", "[3, 3] or [B, 3, 3]",
                 cell.defined() ? shape_string(cell) : "undefined");
  const auto source = edges[0], target = edges[1];
  const auto shifts = graph.shifts.to(pos.scalar_type());
  const auto lattice = cell.to(pos.scalar_type());
  torch::Tensor offset;
  if (lattice.dim() == 2 || lattice.size(0) == 1) {
    offset = torch::matmul(shifts, lattice.dim() == 2 ? lattice : lattice[0]);
  } else {
    TOPO_CHECK_ARG(batch.defined() && batch.dim() == 1 && batch.size(0) == pos.size(0), function,
                   "batch", c10::str("[", pos.size(0), "] (cell holds one lattice per system)"),
                   batch.defined() ? shape_string(batch) : "undefined");
    const auto system = batch.index_select(0, source);
    offset = (shifts.unsqueeze(2) * lattice.index_select(0, system)).sum(1);
  }
  return pos.index_select(0, source) + offset - pos.index_select(0, target);
}

}  // namespace topo::geometry
