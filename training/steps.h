// SPDX-License-Identifier: Apache-2.0
/// \file
/// Losses and metrics of one batch as the Trainer consumes them (StepOutput), and the simple
/// baselines a run is compared with: reusable by anyone who trains topoformer models.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "datasets/sample.h"
#include "training/trainer.h"

namespace topo::training {

/// Classification: cross-entropy of `logits` [N, C] against `labels` [N] (int64) with label
/// smoothing `label_smoothing` in [0, 1), metric the number of correct predictions (accuracy
/// over the epoch).
StepOutput classification_output(const torch::Tensor& logits, const torch::Tensor& labels,
                                 double label_smoothing = 0.0);

/// Energy regression, and forces when `target_forces` is defined: loss = MSE(E) +
/// force_weight · MSE(F). Metric: the force MAE per component of real atoms (with forces) or the
/// energy MAE; extras "<energy_name>_mae" (with forces), "<energy_name>_rmse". Shapes: energy and
/// target [B]; forces and target_forces [B, L, 3]; key_padding_mask [B, L] or undefined.
/// With `target_stress` defined (periodic systems, `stress` and it [B, 3, 3]): loss +=
/// stress_weight · MSE(σ), extra "stress_mae" per component.
StepOutput energy_force_output(const torch::Tensor& energy, const torch::Tensor& target_energy,
                               const torch::Tensor& forces, const torch::Tensor& target_forces,
                               const torch::Tensor& key_padding_mask, double force_weight,
                               const std::string& energy_name = "energy",
                               const torch::Tensor& stress = {},
                               const torch::Tensor& target_stress = {}, double stress_weight = 0.0);

/// Accuracy on `test` of always predicting the most frequent class of `train` (labels `y`).
double majority_class_accuracy(const std::vector<datasets::Sample>& train,
                               const std::vector<datasets::Sample>& test);
/// MAE per force component of predicting zero forces.
double zero_force_mae(const std::vector<datasets::Sample>& test);
/// MAE per stress component on `test` of predicting the mean stress of `train`.
double mean_stress_mae(const std::vector<datasets::Sample>& train,
                       const std::vector<datasets::Sample>& test);
/// Energy MAE of Σ_atoms reference[z] (models::fit_atom_references) against `y`[0]; with
/// `mean`, of the mean over the atoms (the fit of intensive targets).
double reference_energy_mae(const std::vector<datasets::Sample>& test,
                            const torch::Tensor& references, bool mean = false);

}  // namespace topo::training
