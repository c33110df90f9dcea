// SPDX-License-Identifier: Apache-2.0
/// \file
/// PNG pictures for runs, drawn with cairo: learning curves, and the learned relative
/// positional encoding of a model. Every picture has titles, named axes with "nice" tick values
/// (1-2-5 steps) and a legend or a colour bar. PNGs are written atomically (temporary file in
/// the same folder, then rename); a failure throws std::runtime_error naming the path.
#pragma once

#include <optional>
#include <string>

#include "geometry/local_rpe.h"
#include "geometry/spectral_rpe.h"

namespace topo::training {

/// Draws two panels (1200×500 pixels) from `metrics_csv`, the trainer's metrics file (header
/// epoch, train_loss, train_<metric>, val_loss, val_<metric>, then any extra columns, which are
/// ignored): left the losses, right the metric (named after the header's third column without
/// "train_"), training in blue and validation in orange, with a legend. Empty or NaN cells are
/// skipped (e.g. epochs without validation); a single epoch is drawn as markers. The loss axis
/// is logarithmic when the plotted losses are all positive and span more than a factor of 20;
/// so is the metric axis when the metric is an error (its name contains "mae", "mse", "rmse"
/// or "error") under the same condition. `title`, when not empty, is written above the panels;
/// `baseline`, when given, is drawn as a dashed horizontal line labelled "baseline" in the
/// metric panel. Throws std::runtime_error naming the file for a missing file, and the file and
/// line for a malformed header or row.
void plot_learning_curves(const std::string& metrics_csv, const std::string& png_path,
                          const std::string& title = "",
                          std::optional<double> baseline = std::nullopt);

/// Heat maps of a learned FLT RPE, one panel per head ("head h", up to four per row): f_h(Δ)
/// in closed form over the square Δ ∈ [−extent, extent]² (the first two axes; other axes 0),
/// Δx to the right and Δy up, with one colour bar shared by all heads. The colours are viridis
/// from the smallest to the largest value over all heads, or a blue-white-red scale symmetric
/// about 0 when the values take both signs markedly. One-dimensional positions give one panel
/// of curves f_h(Δx) instead.
void plot_spectral_rpe(geometry::SpectralRPEImpl& rpe, const std::string& png_path,
                       double extent = 1.0);

/// The learned profile f_h(r) of a local RPE over r ∈ [0, radius], one curve per head
/// (colours in head order: blue, orange, green, red, …) with a legend "head 0", "head 1", …;
/// the y axis includes 0.
void plot_local_rpe(geometry::LocalRPEImpl& rpe, const std::string& png_path);

}  // namespace topo::training
