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
/// offsets, `batch` [N] graph ids, `ptr` [B + 1] node offsets, `y` stacked (scalars → [B]),
/// and `cell` [B, 3, 3], `pbc` [B, 3], `stress` [B, 3, 3] stacked.
struct Batch {
  Sample data;
  torch::Tensor batch, ptr;
  int64_t num_graphs = 0;
};
Batch collate(const std::vector<Sample>& samples);

/// Padded batch: `pos` [B, L, d], `x` [B, L, F], `z` [B, L], `forces` [B, L, 3] (zeros where
/// padded), `key_padding_mask` [B, L] (true = padding), `y`, `cell` [B, 3, 3], `pbc` [B, 3],
/// `stress` [B, 3, 3] stacked.
struct PaddedBatch {
  torch::Tensor pos, x, z, forces, y, key_padding_mask, cell, pbc, stress;
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
  /// Sharding for data-parallel training (the role of PyTorch's DistributedSampler): each
  /// epoch's order is cut into global batches of batch_size · num_replicas samples, and replica
  /// `rank` takes every num_replicas-th sample of each, starting at position `rank`. The shards
  /// of an epoch partition it exactly (no padding, no repeats), and global batch j holds the
  /// samples of batch j of one process with batch_size · num_replicas.
  int64_t num_replicas = 1;
  int64_t rank = 0;
};

/// How much of a batch is this replica's own (see DataLoader::last_share()).
struct BatchShare {
  /// Samples of the batch that belong to this replica: 0 for the stand-in batch (the global
  /// batch's first sample) that a replica gets when the last global batch has fewer samples
  /// than replicas, so that every replica runs the same number of steps; its loss must weigh
  /// nothing and its metrics must not count.
  int64_t own = 0;
  /// Samples of the whole global batch (over all replicas).
  int64_t global = 0;
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
  /// The share of the batch next() returned last.
  BatchShare last_share() const;

 private:
  std::vector<Sample> make_batch(int64_t index) const;
  /// Positions in the epoch's order of this replica's samples of global batch `index`.
  std::vector<int64_t> positions(int64_t index) const;
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
