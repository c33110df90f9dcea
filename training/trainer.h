// SPDX-License-Identifier: Apache-2.0
/// \file
/// A training loop for any model: AdamW, linear warm-up then cosine (or constant) learning
/// rate, gradient clipping, early stopping on a validation metric, CSV/JSON metric logs, a
/// progress line (ETA, running loss and metric), a clear stop on a NaN or infinite loss, and
/// atomic checkpoints (model, optimiser, schedule position, RNG state, epoch) from which a
/// resumed run continues exactly where it stopped.
#pragma once

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "datasets/batching.h"
#include "training/distributed.h"

namespace topo::training {

struct TrainerOptions {
  TORCH_ARG(int64_t, epochs) = 10;
  TORCH_ARG(double, learning_rate) = 1e-3;
  TORCH_ARG(double, weight_decay) = 0.01;
  /// Fraction of all steps spent warming the learning rate up linearly from 0.
  TORCH_ARG(double, warmup_fraction) = 0.05;
  /// "cosine" (decay to 0 after warm-up) or "constant".
  TORCH_ARG(std::string, schedule) = "cosine";
  /// Clip the global gradient norm to this value (0: off).
  TORCH_ARG(double, grad_clip) = 1.0;
  /// Stop after this many epochs without a better validation metric (0: never).
  TORCH_ARG(int64_t, early_stopping_patience) = 0;
  /// Larger validation metric is better (accuracy) or smaller (MAE, RMSE).
  TORCH_ARG(bool, higher_is_better) = true;
  /// Checkpoint after every epoch (written atomically); with `resume`, continue from it.
  TORCH_ARG(std::string, checkpoint_path) = "";
  TORCH_ARG(bool, resume) = false;
  TORCH_ARG(std::string, metrics_csv) = "";
  TORCH_ARG(std::string, metrics_json) = "";
  /// Live progress line on stderr (rewritten in place during an epoch).
  TORCH_ARG(bool, progress) = true;
  /// One line per finished epoch on stderr (loss, metrics, time), independent of `progress`.
  TORCH_ARG(bool, log_epochs) = true;
  TORCH_ARG(std::string, metric_name) = "accuracy";
  /// Data-parallel training over this group (null or size 1: one process): rank 0's parameters
  /// and buffers (and, on resume, its checkpoint) reach every rank at construction, gradients
  /// are averaged during backward (GradientReducer), metrics are summed over the ranks, and only
  /// rank 0 prints and writes checkpoints and logs. The loaders must be sharded
  /// (DataLoaderOptions::num_replicas and rank); each rank's loss is weighted by its share of
  /// the global batch, so that the step equals one process's step on the global batch for losses
  /// that are means over samples.
  TORCH_ARG(std::shared_ptr<ProcessGroup>, process_group) = nullptr;
  /// Gradient bytes per all-reduce bucket (data-parallel training).
  TORCH_ARG(int64_t, bucket_bytes) = 1 << 20;
};

/// What one batch contributes: the loss to minimise (mean over the batch) and a metric
/// accumulated as a sum over `count` items (e.g. correct predictions over samples).
struct StepOutput {
  torch::Tensor loss;
  double metric_sum = 0;
  int64_t count = 0;
  /// The metric's own denominator when it is not `count` (e.g. force components for a force
  /// MAE); 0 means `count`.
  double metric_count = 0;
  /// Further metrics, each reported as Σ sum / Σ count over the epoch (its square root when
  /// `root_mean`: an RMSE from summed squared errors), e.g. a force MAE over all components.
  struct Extra {
    std::string name;
    double sum = 0, count = 0;
    bool root_mean = false;
  };
  std::vector<Extra> extra{};
};
using StepFunction = std::function<StepOutput(const std::vector<datasets::Sample>& batch)>;

using NamedValues = std::vector<std::pair<std::string, double>>;

struct EpochRecord {
  int64_t epoch = 0;
  double train_loss = 0, train_metric = 0, validation_loss = 0, validation_metric = 0;
  double learning_rate = 0, seconds = 0;
  /// The steps' extra metrics as "train_<name>" and "val_<name>".
  NamedValues extra{};
};

struct Evaluation {
  double loss = 0, metric = 0;
  int64_t count = 0;
  NamedValues extra{};  ///< the steps' extra metrics by name
};

class Trainer {
 public:
  Trainer(std::shared_ptr<torch::nn::Module> model, TrainerOptions options);
  ~Trainer();

  /// Trains for the configured epochs (or until early stopping); validation after each epoch
  /// when `validation` is given. Returns one record per epoch run in this call.
  std::vector<EpochRecord> fit(const StepFunction& step, datasets::DataLoader& train,
                               datasets::DataLoader* validation = nullptr);
  /// Loss and metric over a loader in eval mode without gradients.
  Evaluation evaluate(const StepFunction& step, datasets::DataLoader& loader);

  /// The epoch the next fit() starts from (after a resume).
  int64_t start_epoch() const;

 private:
  void save_checkpoint(int64_t next_epoch) const;
  void load_checkpoint(const std::string& bytes);
  void write_logs() const;
  bool distributed() const;
  /// Whether this process prints and writes (rank 0, or the only process).
  bool writes() const;
  double learning_rate_at(int64_t step, int64_t total_steps) const;

  struct State;
  std::shared_ptr<torch::nn::Module> model_;
  TrainerOptions options_;
  std::unique_ptr<State> state_;
};

}  // namespace topo::training
