// SPDX-License-Identifier: Apache-2.0
#include "geometry/local_rpe.h"

#include <torch/torch.h>

#include <cmath>

#include "common/check.h"
#include "geometry/knn.h"
#include "geometry/periodic.h"
#include "geometry/radius.h"

namespace topo::geometry {

LocalRPEImpl::LocalRPEImpl(const LocalRPEOptions& options_) : options(options_) { reset(); }

void LocalRPEImpl::reset() {
  TOPO_CHECK_ARG(options.num_heads() >= 1, "LocalRPE", "num_heads", ">= 1", options.num_heads());
  TOPO_CHECK_ARG(std::isfinite(options.radius()) && options.radius() > 0, "LocalRPE", "radius",
                 "finite and > 0", options.radius());
  TOPO_CHECK_ARG(options.num_bins() >= 1, "LocalRPE", "num_bins", ">= 1", options.num_bins());
  log_profile = register_parameter("log_profile",
                                   torch::zeros({options.num_heads(), options.num_bins() + 1}));
}

torch::Tensor LocalRPEImpl::profile(const torch::Tensor& distance) {
  const int64_t bins = options.num_bins();
  const auto t = (distance / options.radius() * static_cast<double>(bins)).clamp(0, bins);
  const auto lower = t.detach().floor().clamp_max(bins - 1).to(torch::kLong);
  const auto u = (t - lower.to(t.scalar_type())).unsqueeze(0);  // [1, ...] in [0, 1]
  const auto table = log_profile.to(distance.scalar_type());    // [H, bins + 1]
  // Cubic Hermite interpolation with central-difference slopes (Catmull–Rom; one-sided at the
  // ends): C¹ in the distance, so forces −∂E/∂r have no jumps at the knots (a piecewise-linear
  // profile makes them jump, which shows as energy drift in molecular dynamics).
  const auto slope = torch::cat({table.narrow(1, 1, 1) - table.narrow(1, 0, 1),
                                 (table.narrow(1, 2, bins - 1) - table.narrow(1, 0, bins - 1)) / 2,
                                 table.narrow(1, bins, 1) - table.narrow(1, bins - 1, 1)},
                                1);
  const auto at = [&](const torch::Tensor& values, const torch::Tensor& index) {
    return values.index_select(1, index.flatten()).view([&] {
      auto shape = index.sizes().vec();
      shape.insert(shape.begin(), values.size(0));
      return shape;
    }());
  };
  const auto u2 = u * u, u3 = u2 * u;
  const auto log_f = (2 * u3 - 3 * u2 + 1) * at(table, lower) +
                     (u3 - 2 * u2 + u) * at(slope, lower) +
                     (3 * u2 - 2 * u3) * at(table, lower + 1) + (u3 - u2) * at(slope, lower + 1);
  if (!options.smooth_cutoff()) return log_f.exp();
  const auto envelope = 0.5 * (torch::cos(M_PI * (distance / options.radius()).clamp(0, 1)) + 1);
  return log_f.exp() * envelope.unsqueeze(0);
}

LocalRPEMask LocalRPEImpl::forward(const torch::Tensor& pos, const torch::Tensor& key_padding_mask,
                                   const torch::Tensor& cell, const torch::Tensor& pbc) {
  TOPO_CHECK_ARG(pos.dim() == 3 && pos.size(2) >= 1, "LocalRPE", "pos", "of shape [B, L, d]",
                 shape_string(pos));
  const int64_t batch_size = pos.size(0), length = pos.size(1);
  if (key_padding_mask.defined()) {
    TOPO_CHECK_ARG(key_padding_mask.scalar_type() == torch::kBool && key_padding_mask.dim() == 2 &&
                       key_padding_mask.size(0) == batch_size && key_padding_mask.size(1) == length,
                   "LocalRPE", "key_padding_mask",
                   c10::str("a bool tensor [", batch_size, ", ", length, "]"),
                   shape_string(key_padding_mask));
  }
  const auto flat = pos.reshape({batch_size * length, pos.size(2)});
  auto tokens = torch::arange(batch_size * length, torch::dtype(torch::kLong).device(pos.device()));
  if (key_padding_mask.defined()) tokens = tokens.masked_select(~key_padding_mask.flatten());
  const auto batch = tokens.div(length, "floor");
  LocalRPEMask mask;
  if (cell.defined()) {
    TOPO_CHECK_ARG(pos.size(2) == 3 && cell.dim() == 3 && cell.size(0) == batch_size &&
                       cell.size(1) == 3 && cell.size(2) == 3,
                   "LocalRPE", "cell", c10::str("[", batch_size, ", 3, 3] with pos [B, L, 3]"),
                   shape_string(cell) + " with pos " + shape_string(pos));
    // Edges between real tokens only, as (centre = query, neighbour image = key).
    const auto real = flat.index_select(0, tokens);
    const auto local =
        periodic_radius_graph(real.detach(), options.radius(), cell, pbc, batch,
                              /*loop=*/true, options.max_neighbours(), "target_to_source");
    mask.edge_index = tokens.index({local.edge_index});
    mask.values = profile(vector_lengths(periodic_edge_vectors(local, real, cell, batch)));
  } else {
    // Edges between real tokens only, as (centre = query, neighbour = key).
    const auto local = radius_graph(flat.index_select(0, tokens).detach(), options.radius(), batch,
                                    /*loop=*/true, options.max_neighbours(), "target_to_source");
    mask.edge_index = tokens.index({local});  // back to flattened token ids
    mask.values = profile(edge_lengths(mask.edge_index, flat));
  }
  mask.batch_size = batch_size;
  mask.length = length;
  return mask;
}

void LocalRPEImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::geometry::LocalRPE(heads=" << options.num_heads()
         << ", radius=" << options.radius() << ", bins=" << options.num_bins() << ")";
}

}  // namespace topo::geometry
