// SPDX-License-Identifier: Apache-2.0
#include "datasets/batching.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "common/check.h"

namespace topo::datasets {

int64_t Sample::num_nodes() const {
  for (const auto* t : {&pos, &x, &z, &forces}) {
    if (t->defined()) return t->size(0);
  }
  return 0;
}

namespace {

/// Stacks a field over samples: all defined or all undefined, else an error naming the field.
std::vector<torch::Tensor> field(const std::vector<Sample>& samples, torch::Tensor Sample::*member,
                                 const char* name) {
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& t = samples[i].*member;
    // Named by the samples' own names (file#frame), not only their places in this batch.
    const auto label = [&](size_t k) {
      return "samples[" + std::to_string(k) + "]" +
             (samples[k].name.empty() ? std::string() : " (" + samples[k].name + ")");
    };
    TORCH_CHECK_VALUE(t.defined() == (samples[0].*member).defined(), "collate: `", name, "` of ",
                      label(i), " is ", t.defined() ? "defined" : "undefined", " but ",
                      (samples[0].*member).defined() ? "defined" : "undefined", " in ", label(0),
                      ": a batch needs `", name, "` in all samples or in none");
    if (t.defined()) out.push_back(t);
  }
  return out;
}

/// Scalar targets become [B], vector targets [B, T].
torch::Tensor stack_targets(const std::vector<torch::Tensor>& ys) {
  return ys.empty() ? torch::Tensor() : torch::stack(ys);
}

/// The per-system fields of periodic samples, stacked: cell [B, 3, 3], pbc [B, 3], stress.
void stack_system_fields(const std::vector<Sample>& samples, torch::Tensor& cell,
                         torch::Tensor& pbc, torch::Tensor& stress) {
  for (auto [member, target, name] :
       std::vector<std::tuple<torch::Tensor Sample::*, torch::Tensor*, const char*>>{
           {&Sample::cell, &cell, "cell"},
           {&Sample::pbc, &pbc, "pbc"},
           {&Sample::stress, &stress, "stress"}}) {
    const auto parts = field(samples, member, name);
    if (!parts.empty()) *target = torch::stack(parts);
  }
}

}  // namespace

Batch collate(const std::vector<Sample>& samples) {
  TOPO_CHECK_ARG(!samples.empty(), "collate", "samples", "at least one sample", "none");
  Batch out;
  out.num_graphs = static_cast<int64_t>(samples.size());
  std::vector<int64_t> counts;
  for (const auto& s : samples) counts.push_back(s.num_nodes());
  out.ptr = torch::zeros({out.num_graphs + 1}, torch::kLong);
  out.ptr.slice(0, 1).copy_(torch::tensor(counts, torch::kLong).cumsum(0));
  out.batch =
      torch::repeat_interleave(torch::arange(out.num_graphs), torch::tensor(counts, torch::kLong));
  for (auto [member, name] : std::vector<std::pair<torch::Tensor Sample::*, const char*>>{
           {&Sample::pos, "pos"},
           {&Sample::x, "x"},
           {&Sample::z, "z"},
           {&Sample::forces, "forces"},
           {&Sample::edge_attr, "edge_attr"}}) {
    const auto parts = field(samples, member, name);
    if (!parts.empty()) out.data.*member = torch::cat(parts, 0);
  }
  const auto edges = field(samples, &Sample::edge_index, "edge_index");
  if (!edges.empty()) {
    std::vector<torch::Tensor> shifted;
    for (size_t i = 0; i < edges.size(); ++i)
      shifted.push_back(edges[i] + out.ptr[i].item<int64_t>());
    out.data.edge_index = torch::cat(shifted, 1);
  }
  out.data.y = stack_targets(field(samples, &Sample::y, "y"));
  stack_system_fields(samples, out.data.cell, out.data.pbc, out.data.stress);
  return out;
}

PaddedBatch collate_padded(const std::vector<Sample>& samples) {
  TOPO_CHECK_ARG(!samples.empty(), "collate_padded", "samples", "at least one sample", "none");
  const int64_t b = static_cast<int64_t>(samples.size());
  int64_t longest = 0;
  for (const auto& s : samples) longest = std::max(longest, s.num_nodes());
  PaddedBatch out;
  out.key_padding_mask = torch::ones({b, longest}, torch::kBool);
  for (int64_t i = 0; i < b; ++i)
    out.key_padding_mask[i].slice(0, 0, samples[i].num_nodes()).fill_(false);
  for (auto [member, target, name] :
       std::vector<std::tuple<torch::Tensor Sample::*, torch::Tensor PaddedBatch::*, const char*>>{
           {&Sample::pos, &PaddedBatch::pos, "pos"},
           {&Sample::x, &PaddedBatch::x, "x"},
           {&Sample::z, &PaddedBatch::z, "z"},
           {&Sample::forces, &PaddedBatch::forces, "forces"}}) {
    const auto parts = field(samples, member, name);
    if (parts.empty()) continue;
    auto shape = parts[0].sizes().vec();
    shape[0] = longest;
    shape.insert(shape.begin(), b);
    auto padded = torch::zeros(shape, parts[0].options());
    for (int64_t i = 0; i < b; ++i) padded[i].slice(0, 0, parts[i].size(0)).copy_(parts[i]);
    out.*target = padded;
  }
  out.y = stack_targets(field(samples, &Sample::y, "y"));
  stack_system_fields(samples, out.cell, out.pbc, out.stress);
  return out;
}

struct DataLoader::State {
  std::vector<int64_t> order;
  int64_t epoch = 0, next_batch = 0;
  std::deque<std::future<std::vector<Sample>>> pending;
  int64_t scheduled = 0;
};

DataLoader::DataLoader(std::shared_ptr<const std::vector<Sample>> dataset,
                       DataLoaderOptions options)
    : dataset_(std::move(dataset)),
      options_(std::move(options)),
      state_(std::make_unique<State>()) {
  TOPO_CHECK_ARG(dataset_ != nullptr, "DataLoader", "dataset", "a dataset", "null");
  TOPO_CHECK_ARG(options_.batch_size >= 1, "DataLoader", "batch_size", ">= 1", options_.batch_size);
  TOPO_CHECK_ARG(options_.num_workers >= 0, "DataLoader", "num_workers", ">= 0",
                 options_.num_workers);
  TOPO_CHECK_ARG(options_.num_replicas >= 1, "DataLoader", "num_replicas", ">= 1",
                 options_.num_replicas);
  TOPO_CHECK_ARG(options_.rank >= 0 && options_.rank < options_.num_replicas, "DataLoader", "rank",
                 c10::str("in [0, ", options_.num_replicas, ")"), options_.rank);
}

DataLoader::~DataLoader() {
  for (auto& f : state_->pending) f.wait();
}

int64_t DataLoader::num_batches() const {
  const int64_t n = static_cast<int64_t>(dataset_->size());
  const int64_t global = options_.batch_size * options_.num_replicas;
  return options_.drop_last ? n / global : (n + global - 1) / global;
}

std::vector<int64_t> DataLoader::positions(int64_t index) const {
  const int64_t n = static_cast<int64_t>(state_->order.size());
  const int64_t global = options_.batch_size * options_.num_replicas;
  const int64_t begin = index * global, end = std::min(n, begin + global);
  std::vector<int64_t> out;
  for (int64_t i = begin + options_.rank; i < end; i += options_.num_replicas) out.push_back(i);
  return out;
}

BatchShare DataLoader::last_share() const {
  TORCH_CHECK(state_->next_batch > 0, "DataLoader::last_share: no batch was returned yet");
  const int64_t index = state_->next_batch - 1;
  const int64_t n = static_cast<int64_t>(state_->order.size());
  const int64_t global = options_.batch_size * options_.num_replicas;
  return {static_cast<int64_t>(positions(index).size()),
          std::min(n, (index + 1) * global) - index * global};
}

void DataLoader::start_epoch(int64_t epoch) {
  for (auto& f : state_->pending) f.wait();
  state_->pending.clear();
  state_->epoch = epoch;
  state_->next_batch = state_->scheduled = 0;
  const int64_t n = static_cast<int64_t>(dataset_->size());
  if (options_.shuffle) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(options_.seed * 1000003ULL +
                                                        static_cast<uint64_t>(epoch));
    const auto perm = torch::randperm(n, gen, torch::kLong);
    state_->order.assign(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
  } else {
    state_->order.resize(n);
    for (int64_t i = 0; i < n; ++i) state_->order[i] = i;
  }
}

std::vector<Sample> DataLoader::make_batch(int64_t index) const {
  auto own = positions(index);
  // The stand-in for an empty share of the last global batch: its first sample (see BatchShare).
  if (own.empty()) own.push_back(index * options_.batch_size * options_.num_replicas);
  std::vector<Sample> batch;
  for (const int64_t i : own) {
    const int64_t item = state_->order[i];
    Sample s = (*dataset_)[item];
    if (options_.transform) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(
          (options_.seed * 1000003ULL + static_cast<uint64_t>(state_->epoch)) * 1000000007ULL +
          static_cast<uint64_t>(item));
      s = options_.transform(std::move(s), gen);
    }
    batch.push_back(std::move(s));
  }
  return batch;
}

std::optional<std::vector<Sample>> DataLoader::next() {
  const int64_t total = num_batches();
  if (state_->next_batch >= total) return std::nullopt;
  if (options_.num_workers == 0) return make_batch(state_->next_batch++);
  // Keep up to num_workers batches in flight, consumed in order.
  while (state_->scheduled < total &&
         static_cast<int64_t>(state_->pending.size()) < options_.num_workers) {
    const int64_t index = state_->scheduled++;
    state_->pending.push_back(std::async(std::launch::async, [this, index] {
      at::InferenceMode guard;
      return make_batch(index);
    }));
  }
  auto batch = state_->pending.front().get();
  state_->pending.pop_front();
  ++state_->next_batch;
  return batch;
}

std::vector<torch::Tensor> random_split(int64_t n, const std::vector<double>& fractions,
                                        uint64_t seed) {
  TOPO_CHECK_ARG(n >= 0, "random_split", "n", ">= 0", n);
  double total = 0;
  for (const double f : fractions) {
    TOPO_CHECK_ARG(f >= 0, "random_split", "fractions", "non-negative", f);
    total += f;
  }
  TOPO_CHECK_ARG(!fractions.empty() && std::abs(total - 1.0) < 1e-9, "random_split", "fractions",
                 "summing to 1", total);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto perm = torch::randperm(n, gen, torch::kLong);
  std::vector<torch::Tensor> parts;
  int64_t start = 0;
  for (size_t i = 0; i < fractions.size(); ++i) {
    const int64_t size = i + 1 == fractions.size()
                             ? n - start
                             : static_cast<int64_t>(std::llround(fractions[i] * n));
    parts.push_back(perm.slice(0, start, std::min(n, start + size)));
    start = std::min(n, start + size);
  }
  return parts;
}

std::vector<std::pair<torch::Tensor, torch::Tensor>> k_fold(int64_t n, int64_t k, uint64_t seed) {
  TOPO_CHECK_ARG(k >= 2 && k <= n, "k_fold", "k", c10::str("in [2, n = ", n, "]"), k);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto perm = torch::randperm(n, gen, torch::kLong);
  std::vector<std::pair<torch::Tensor, torch::Tensor>> folds;
  for (int64_t f = 0; f < k; ++f) {
    const int64_t begin = f * n / k, end = (f + 1) * n / k;
    folds.emplace_back(torch::cat({perm.slice(0, 0, begin), perm.slice(0, end)}),
                       perm.slice(0, begin, end));
  }
  return folds;
}

std::vector<Sample> select(const std::vector<Sample>& samples, const torch::Tensor& indices) {
  std::vector<Sample> out;
  const auto idx = indices.to(torch::kLong).contiguous();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    const int64_t j = idx.data_ptr<int64_t>()[i];
    TOPO_CHECK_ARG(j >= 0 && j < static_cast<int64_t>(samples.size()), "select", "indices",
                   c10::str("in [0, ", samples.size(), ")"), j);
    out.push_back(samples[j]);
  }
  return out;
}

}  // namespace topo::datasets
