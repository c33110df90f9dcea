// SPDX-License-Identifier: Apache-2.0
/// \file
/// Collating variable-size samples: concatenation with a batch vector (PyTorch Geometric) or
/// padding with a key-padding mask (for attention over [B, L, ·] tensors); a data loader with
/// shuffling, seeds, drop-last and background workers; deterministic splits and k-fold.
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "datasets/sample.h"
#include "datasets/transforms.h"

namespace topo::datasets {

/// Concatenated batch: node-level tensors stacked along nodes, `edge_index` shifted by node
/// offsets, `batch` [N] graph ids, `ptr` [B + 1] node offsets, `y` stacked (scalars → [B]).
struct Batch {
  Sample data;
  torch::Tensor batch, ptr;
  int64_t num_graphs = 0;
};
Batch collate(const std::vector<Sample>& samples);

/// Padded batch: `pos` [B, L, d], `x` [B, L, F], `z` [B, L], `forces` [B, L, 3] (zeros where
/// padded), `key_padding_mask` [B, L] (true = padding), `y` stacked.
struct PaddedBatch {
  torch::Tensor pos, x, z, forces, y, key_padding_mask;
};
PaddedBatch collate_padded(const std::vector<Sample>& samples);

struct DataLoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  uint64_t seed = 0;
  bool drop_last = false;
  /// Threads preparing batches ahead (0: on the caller's thread). Results do not depend on it.
  int64_t num_workers = 0;
  Transform transform = nullptr;
};

/// Iterates over batches of a dataset (a shared vector of samples). Each epoch shuffles with
/// a generator seeded by (seed, epoch); each sample's transform gets its own generator seeded
/// by (seed, epoch, index), so batches are identical whatever the number of workers.
class DataLoader {
 public:
  DataLoader(std::shared_ptr<const std::vector<Sample>> dataset, DataLoaderOptions options);
  ~DataLoader();
  int64_t num_batches() const;
  /// Starts epoch `epoch` (0-based): fixes its order and starts the workers.
  void start_epoch(int64_t epoch);
  /// The next batch of the epoch's samples (transformed), or nullopt at the end.
  std::optional<std::vector<Sample>> next();

 private:
  std::vector<Sample> make_batch(int64_t index) const;
  struct State;
  std::shared_ptr<const std::vector<Sample>> dataset_;
  DataLoaderOptions options_;
  std::unique_ptr<State> state_;
};

/// Shuffled index sets of sizes round(fraction · n) (the last takes the remainder), from a
/// generator seeded by `seed`.
std::vector<torch::Tensor> random_split(int64_t n, const std::vector<double>& fractions,
                                        uint64_t seed);
/// k folds: (train indices, test indices) per fold; every index is tested exactly once.
std::vector<std::pair<torch::Tensor, torch::Tensor>> k_fold(int64_t n, int64_t k, uint64_t seed);
/// The samples at `indices`.
std::vector<Sample> select(const std::vector<Sample>& samples, const torch::Tensor& indices);

}  // namespace topo::datasets
