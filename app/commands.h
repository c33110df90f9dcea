// SPDX-License-Identifier: Apache-2.0
/// \file
/// The `topoformer` subcommands over a run configuration: train, eval and predict.
#pragma once

#include <torch/nn/module.h>

#include <exception>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "app/run_config.h"

namespace topo::app {

/// Trains the configured task in config.text("out") (config.json, checkpoint.pt, metrics.csv,
/// metrics.json, learning_curves.png, rpe_layer1.png) and evaluates the test split.
///
/// Data-parallel: under a launcher (RANK, WORLD_SIZE, … in the environment) this process is one
/// rank of the job; otherwise nproc > 1 starts that many workers running `command_line` (argv)
/// and supervises them (app/launch.h). Only rank 0 writes and prints.
int train(const RunConfig& config, const std::vector<std::string>& command_line = {});
/// The test metric of <out>/checkpoint.pt, the model rebuilt from <out>/config.json. `overrides`
/// may give the data's location and how to run (data, batch_size, workers, threads).
int evaluate(const std::string& out, const RunConfig& overrides);
/// Predictions of the run in `out` for `input` (a file or folder, by task).
int predict(const std::string& out, const std::string& input, const RunConfig& overrides);

/// A trained run folder: the model rebuilt from <out>/config.json and loaded from
/// <out>/checkpoint.pt (eval mode), the configuration, and what the data told the run.
struct TrainedRun {
  RunConfig config;
  nlohmann::json recorded;
  std::shared_ptr<torch::nn::Module> model;
};
/// Loads the run in `out`; errors name the missing file or the setting that fails to validate.
TrainedRun load_run(const std::string& out);

/// The message of an exception without a C++ backtrace (c10 errors carry one).
std::string error_message(const std::exception& e);

}  // namespace topo::app
