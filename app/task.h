// SPDX-License-Identifier: Apache-2.0
/// \file
/// The tasks of the `topoformer` command behind one interface, one file each
/// (app/tasks/*_task.cpp): what data a task reads and how it splits it, the model it builds from
/// a run configuration, its loss and metrics, and its predictions on new files.
#pragma once

#include <torch/nn/module.h>

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "app/run_config.h"
#include "attention/masks/registry.h"
#include "datasets/sample.h"
#include "datasets/transforms.h"
#include "training/trainer.h"

namespace topo::app {

/// What a task gives the command for one run.
struct TaskRun {
  std::vector<datasets::Sample> train, validation, test;
  std::shared_ptr<torch::nn::Module> model;
  training::StepFunction step;
  /// The step of the test metric (train's last line, eval); empty: `step`.
  training::StepFunction test_step;
  /// The metric the trainer selects and stops on, and its direction.
  std::string metric = "accuracy";
  bool higher_is_better = true;
  /// Applied to training samples only (may be empty).
  datasets::Transform augmentation;
  /// What the data told the run (input sizes, class names, elements): written to config.json
  /// under "recorded", so that predict rebuilds the same model.
  nlohmann::json recorded = nlohmann::json::object();
  /// The test metric of a simple baseline computed from the training split (majority class,
  /// per-element energies and zero forces), shown beside the model's.
  std::optional<double> baseline;
  /// Baselines of extra metrics (e.g. "energy_mae", "stress_mae"), shown beside them.
  std::map<std::string, double> extra_baselines;
  /// Draws what the model learned into the run folder (may be empty); returns whether it wrote
  /// rpe_layer1.png (the model may have no RPE to draw).
  std::function<bool(const std::string& out)> draw;
};

class Task {
 public:
  virtual ~Task() = default;
  /// Reads and splits the data and builds the model (seeded by the config's seed).
  virtual TaskRun prepare(const RunConfig& config) const = 0;
  /// The model of `config` for data described by `recorded` (prepare's TaskRun::recorded).
  virtual std::shared_ptr<torch::nn::Module> build_model(const RunConfig& config,
                                                         const nlohmann::json& recorded) const = 0;
  /// Predictions of a trained `model` for `input`, printed and written under the run folder.
  virtual void predict(const RunConfig& config, const nlohmann::json& recorded,
                       torch::nn::Module& model, const std::string& input) const = 0;
};

/// The task of `name` ("pointcloud", "molecules", "graph").
const Task& task(const std::string& name);

/// Refuses splits without samples (metrics of no samples would read 0.0, or a perfect score):
/// "<source>: N samples leave the validation split empty (…)".
void check_splits(const TaskRun& run, const std::string& source);

/// Refuses a classification run whose training split holds fewer than two classes (a one-class
/// "classifier" scores 1.0) or whose labels (`y`) fall outside [0, num_classes); `source` names
/// the data in the message.
void check_classes(const std::vector<datasets::Sample>& train, int64_t num_classes,
                   const std::vector<std::string>& class_names, const std::string& source);

/// Runs `fn` over `samples` in batches of `batch_size` (predict loops).
void for_each_batch(
    const std::vector<datasets::Sample>& samples, int64_t batch_size,
    const std::function<void(const std::vector<datasets::Sample>&, int64_t first)>& fn);

}  // namespace topo::app
