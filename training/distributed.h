// SPDX-License-Identifier: Apache-2.0
/// \file
/// Data-parallel training on PyTorch's c10d: a process group (ProcessGroupGloo over a TCPStore
/// rendezvous) set up from torchrun's environment, parameters broadcast from rank 0, and
/// gradients averaged by bucketed all-reduces launched while backward still runs.
///
/// PyTorch's own DDP reducer (c10d::Reducer) cannot be used from C++ with Debian's LibTorch
/// 1.13: its header includes torch/csrc/distributed/autograd/context/context.h, which
/// libtorch-dev does not ship. GradientReducer does what it does for dense CPU gradients: buckets
/// filled from per-parameter autograd hooks, each reduced with c10d's all-reduce as soon as it is
/// full (in bucket order, so every rank issues the same collectives), and parameters that no
/// rank used keep no gradient. The c10d headers (and Gloo's) stay out of this header.
#pragma once

#include <torch/nn/module.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace topo::training {

/// Where this process stands in a job, from the variables torchrun (and `topoformer train
/// --nproc`) set: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
/// LOCAL_WORLD_SIZE defaults to WORLD_SIZE and LOCAL_RANK to RANK (one machine).
struct LaunchEnvironment {
  int64_t rank = 0, world_size = 1, local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
  /// Whether RANK/WORLD_SIZE were set (a launcher started this process).
  bool launched = false;

  /// Reads the environment; without RANK and WORLD_SIZE, a single process. Throws naming the
  /// variable on a malformed or inconsistent value (RANK outside [0, WORLD_SIZE), a port outside
  /// [1, 65535], MASTER_ADDR missing when WORLD_SIZE > 1 …).
  static LaunchEnvironment from_environment();
};

/// A TCP port on 127.0.0.1 that is free now (bound and released): for a rendezvous of
/// processes on this machine.
int free_local_port();

/// A c10d process group (Gloo on CPU). All collectives are blocking for the caller and fail
/// with a message naming this rank and the operation when a peer dies or does not answer within
/// the timeout (never a silent hang).
class ProcessGroup {
 public:
  /// Rendezvous of `env.world_size` processes through a TCPStore served by rank 0 at
  /// MASTER_ADDR:MASTER_PORT, then a Gloo group (on GLOO_SOCKET_IFNAME's interface if set, else
  /// on the loopback when MASTER_ADDR is a loopback address, else on the address of this
  /// machine's hostname); `timeout_seconds` bounds the rendezvous and every collective.
  static std::shared_ptr<ProcessGroup> create(const LaunchEnvironment& env, double timeout_seconds);
  ~ProcessGroup();

  int64_t rank() const;
  int64_t size() const;
  double timeout_seconds() const;

  /// Sums `tensors` (CPU, contiguous) over all ranks, in place.
  void all_reduce_sum(std::vector<torch::Tensor>& tensors, const char* what);
  /// Replaces `tensors` on every rank by rank `root`'s (coalesced into few messages).
  void broadcast(std::vector<torch::Tensor> tensors, int64_t root, const char* what);
  /// Rank `root`'s bytes on every rank (`bytes` is only read on root).
  std::string broadcast_bytes(const std::string& bytes, int64_t root, const char* what);

  /// Runs `fn` on every rank, then agrees: when it threw on any rank, every rank throws — the
  /// failing rank its own error, the others "rank R failed: <its message>" (exchanged through
  /// the store) — so that an error on one rank ends all of them at the same point instead of
  /// leaving them blocked in the next collective.
  void run_together(const std::function<void()>& fn, const char* what);

  /// Throws on every rank unless `description` (of `subject`) is the same on every rank as on
  /// rank 0 — the guard before collectives whose layout follows from it.
  void check_same(const std::string& description, const std::string& subject, const char* what);

  /// Starts an asynchronous all-reduce (sum) of one contiguous tensor; wait with wait().
  int64_t start_all_reduce(torch::Tensor tensor);
  void wait(int64_t handle, const char* what);

 private:
  ProcessGroup();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Replaces every parameter and buffer of `module` by rank `root`'s, after checking that every
/// rank holds the same names, shapes and dtypes.
void broadcast_module(ProcessGroup& group, torch::nn::Module& module, int64_t root = 0);

/// Averages the gradients of `module`'s parameters over the ranks of `group` during backward.
///
///     reducer.prepare();          // before the forward pass
///     loss.backward();            // buckets are all-reduced as they fill
///     reducer.finalize(sums);     // waits, averages, and sums `sums` over the ranks
///
/// Buckets hold parameters in reverse registration order (roughly the order backward reaches
/// them), up to `bucket_bytes` each, one dtype per bucket.
class GradientReducer {
 public:
  GradientReducer(std::shared_ptr<ProcessGroup> group, const torch::nn::Module& module,
                  int64_t bucket_bytes = 1 << 20);
  ~GradientReducer();
  /// Arms the hooks for one backward pass.
  void prepare();
  /// Reduces what backward left (parameters that got no gradient here contribute zeros), waits
  /// for every bucket, writes the averages into the parameters' .grad (parameters no rank used
  /// keep none) and replaces `sums` by its sum over the ranks (the same collective).
  void finalize(std::vector<double>& sums);
  int64_t num_buckets() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace topo::training
