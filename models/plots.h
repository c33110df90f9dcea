// SPDX-License-Identifier: Apache-2.0
/// \file
/// PNG pictures for runs (Open3D's PNG writer): learning curves, and the learned relative
/// positional encoding of a model.
#pragma once

#include <string>

#include "geometry/local_rpe.h"
#include "geometry/spectral_rpe.h"

namespace topo::models {

/// Draws two panels from `metrics_csv` (columns epoch, train_loss, train_<metric>, val_loss,
/// val_<metric>, …): left the losses, right the metric, training in blue and validation in
/// orange, on a grid with one vertical line per epoch and horizontal lines at tenths of the
/// panel's range. Writes `png_path`.
void plot_learning_curves(const std::string& metrics_csv, const std::string& png_path);

/// Heat maps of a learned FLT RPE, one panel per head: f_h(Δ) in closed form over the square
/// Δ ∈ [−extent, extent]² (the first two axes; other axes 0). Colour runs from white (the
/// smallest value over all heads) to dark red (the largest); the centre is Δ = 0.
void plot_spectral_rpe(geometry::SpectralRPEImpl& rpe, const std::string& png_path, double extent = 1.0);

/// The learned profile f_h(r) of a local RPE over r ∈ [0, radius], one curve per head
/// (colours in head order: blue, orange, green, red, …), grid lines at tenths of both ranges.
void plot_local_rpe(geometry::LocalRPEImpl& rpe, const std::string& png_path);

}  // namespace topo::models
