// SPDX-License-Identifier: Apache-2.0
/// \file
/// A PNG picture of the learning curves in a trainer's metrics CSV (Open3D's PNG writer).
#pragma once

#include <string>

namespace topo::models {

/// Draws two panels from `metrics_csv` (columns epoch, train_loss, train_<metric>, val_loss,
/// val_<metric>, …): left the losses, right the metric, training in blue and validation in
/// orange, on a grid with one vertical line per epoch and horizontal lines at tenths of the
/// panel's range. Writes `png_path`.
void plot_learning_curves(const std::string& metrics_csv, const std::string& png_path);

}  // namespace topo::models
