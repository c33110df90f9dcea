// SPDX-License-Identifier: Apache-2.0
// Data-parallel training on c10d (Gloo) with real processes on localhost: 2 processes × batch B
// take the same steps as 1 process × batch 2B (parameters and redrawn random features), the
// last global batch smaller than the replicas included; a 2-process checkpoint resumes in 1
// process; errors on one rank reach every rank. The workers are this test binary run again
// with torchrun's environment and --gtest_filter=DistributedWorker.*.
#include "training/distributed.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <thread>

#include "attention/linear_attention.h"
#include "datasets/batching.h"
#include "support/tensor_assertions.h"
#include "training/trainer.h"

namespace topo::training {
namespace {

namespace fs = std::filesystem;

/// `n` two-class clouds of 6 points in 2-D. With 2 ranks × batch 4, n = 19 ends in a global
/// batch of 3 (shares 2 and 1: the losses must be weighted), n = 17 in one of 1 (rank 1 runs a
/// stand-in step whose metrics must not count).
std::shared_ptr<const std::vector<datasets::Sample>> toy_data(int64_t n) {
  torch::manual_seed(2);
  std::vector<datasets::Sample> out;
  for (int64_t i = 0; i < n; ++i) {
    datasets::Sample s;
    const int64_t label = i % 2;
    s.pos = (torch::randn({6, 2}, torch::kDouble) * 0.5 + (label ? 0.5 : -0.5));
    s.y = torch::tensor(label, torch::kLong);
    out.push_back(s);
  }
  return std::make_shared<const std::vector<datasets::Sample>>(out);
}

/// Embedding, FAVOR+ attention redrawing its features every step, mean pooling, classes.
struct ToyImpl : torch::nn::Module {
  ToyImpl() {
    torch::manual_seed(3);
    embed = register_module("embed", torch::nn::Linear(2, 8));
    attention = register_module(
        "attention",
        attention::LinearAttention(attention::LinearAttentionOptions(8, 2).feature_map(
            attention::FeatureMapOptions(4).num_features(8).redraw_interval(1).seed(5))));
    head = register_module("head", torch::nn::Linear(8, 2));
    unused = register_parameter("unused", torch::zeros({3}));  // never in the graph
    to(torch::kDouble);
  }
  torch::Tensor forward(const torch::Tensor& pos) {
    const auto x = embed(pos);
    return head(attention->forward(x, x, x).mean(1));
  }
  torch::nn::Linear embed{nullptr}, head{nullptr};
  attention::LinearAttention attention{nullptr};
  torch::Tensor unused;
};
TORCH_MODULE(Toy);

struct RunResult {
  std::vector<torch::Tensor> state;  ///< parameters then buffers
  std::vector<EpochRecord> records;
};

/// Trains the toy model with per-process batch `batch_size` (sharded over `group`).
RunResult train_toy(const std::shared_ptr<ProcessGroup>& group, int64_t batch_size, int64_t epochs,
                    const std::string& checkpoint, bool resume, int64_t samples = 19) {
  Toy model;
  auto options = TrainerOptions()
                     .epochs(epochs)
                     .learning_rate(0.05)
                     .warmup_fraction(0.2)
                     .progress(false)
                     .log_epochs(false)
                     .checkpoint_path(checkpoint)
                     .resume(resume)
                     .bucket_bytes(200)  // several buckets
                     .process_group(group);
  Trainer trainer(model.ptr(), options);
  const auto loader_for = [&](bool shuffle) {
    datasets::DataLoaderOptions o;
    o.batch_size = batch_size;
    o.shuffle = shuffle;
    o.seed = 7;
    if (group) o.num_replicas = group->size(), o.rank = group->rank();
    return datasets::DataLoader(toy_data(samples), o);
  };
  auto train = loader_for(true), validation = loader_for(false);
  const StepFunction step = [&](const std::vector<datasets::Sample>& batch) {
    std::vector<torch::Tensor> pos, y;
    for (const auto& s : batch) pos.push_back(s.pos), y.push_back(s.y);
    const auto logits = model->forward(torch::stack(pos));
    const auto target = torch::stack(y);
    return StepOutput{torch::nn::functional::cross_entropy(logits, target),
                      (logits.argmax(1) == target).sum().item<double>(),
                      static_cast<int64_t>(batch.size())};
  };
  RunResult result;
  result.records = trainer.fit(step, train, &validation);
  for (const auto& p : model->parameters()) result.state.push_back(p.detach().clone());
  for (const auto& b : model->buffers()) result.state.push_back(b.clone());
  return result;
}

std::string require_env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

/// Runs this binary's DistributedWorker.`name` as `world` processes; returns their statuses.
std::vector<int> run_workers(int64_t world, const std::string& name,
                             const std::map<std::string, std::string>& settings) {
  const int port = free_local_port();  // workers of parallel tests never share one
  std::vector<pid_t> pids;
  for (int64_t rank = 0; rank < world; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      ADD_FAILURE() << "fork failed";
      continue;
    }
    if (pid == 0) {
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(world).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv("OMP_NUM_THREADS", "1", 1);
      for (const auto& [key, value] : settings) ::setenv(key.c_str(), value.c_str(), 1);
      const std::string filter = "--gtest_filter=DistributedWorker." + name;
      ::execl("/proc/self/exe", "distributed_worker", filter.c_str(), "--gtest_brief=1",
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  // Bounded: a deadlock fails the test after 120 s instead of waiting for ctest's limit.
  std::vector<int> statuses(pids.size(), -1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (size_t i = 0; i < pids.size(); ++i) {
    while (::waitpid(pids[i], &statuses[i], WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        for (const pid_t pid : pids) ::kill(pid, SIGKILL);
        ADD_FAILURE() << "workers still running after 120 s";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return statuses;
}

fs::path fresh_folder(const std::string& name) {
  const auto dir =
      fs::temp_directory_path() / ("topo_distributed_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void expect_all_succeeded(const std::vector<int>& statuses) {
  for (size_t r = 0; r < statuses.size(); ++r) {
    EXPECT_TRUE(WIFEXITED(statuses[r]) && WEXITSTATUS(statuses[r]) == 0)
        << "worker rank " << r << " status " << statuses[r];
  }
}

std::vector<torch::Tensor> load_state(const fs::path& file) {
  std::vector<torch::Tensor> state;
  torch::load(state, file.string());
  return state;
}

// ---- Workers (skipped unless started by run_workers) ----

TEST(DistributedWorker, Train) {
  const auto out = require_env("TOPO_TEST_OUT");
  if (out.empty()) GTEST_SKIP() << "a worker of the DistributedTraining tests";
  const auto env = LaunchEnvironment::from_environment();
  auto group = ProcessGroup::create(env, 60);
  const auto result = train_toy(
      group, std::stoll(require_env("TOPO_TEST_BATCH")),
      std::stoll(require_env("TOPO_TEST_EPOCHS")), require_env("TOPO_TEST_CHECKPOINT"),
      require_env("TOPO_TEST_RESUME") == "1",
      std::stoll(require_env("TOPO_TEST_SAMPLES").empty() ? "19"
                                                          : require_env("TOPO_TEST_SAMPLES")));
  auto state = result.state;
  // Metrics are reduced: every rank reports the whole epoch.
  for (const auto& r : result.records)
    state.push_back(torch::tensor({r.train_loss, r.train_metric, r.validation_metric}));
  torch::save(state, (fs::path(out) / ("rank" + std::to_string(env.rank) + ".pt")).string());
}

TEST(DistributedWorker, FailOnRankOne) {
  if (require_env("TOPO_TEST_OUT").empty())
    GTEST_SKIP() << "a worker of the DistributedTraining tests";
  auto group = ProcessGroup::create(LaunchEnvironment::from_environment(), 60);
  try {
    group->run_together(
        [&] {
          if (group->rank() == 1) throw std::runtime_error("cannot read shard.bin");
        },
        "reading the data");
    FAIL() << "expected an error on every rank";
  } catch (const std::exception& e) {
    const std::string expected = group->rank() == 1
                                     ? "cannot read shard.bin"
                                     : "rank 1 failed in reading the data: cannot read shard.bin";
    EXPECT_EQ(std::string(e.what()), expected);
  }
}

TEST(DistributedWorker, DifferentModels) {
  if (require_env("TOPO_TEST_OUT").empty())
    GTEST_SKIP() << "a worker of the DistributedTraining tests";
  auto group = ProcessGroup::create(LaunchEnvironment::from_environment(), 60);
  torch::nn::Linear model(group->rank() == 0 ? 2 : 3, 4);
  // Checked before any tensor is broadcast: every rank fails, naming the difference.
  EXPECT_THROW_WITH(broadcast_module(*group, *model), "rank 1 has other parameters or buffers");
}

// ---- Tests ----

TEST(DistributedTraining, TwoProcessesTakeTheStepsOfOneProcessWithTheGlobalBatch) {
  for (const int64_t samples : {19, 17}) {
    SCOPED_TRACE(c10::str(samples, " samples"));
    const auto dir = fresh_folder("equal");
    const auto statuses = run_workers(2, "Train",
                                      {{"TOPO_TEST_OUT", dir.string()},
                                       {"TOPO_TEST_BATCH", "4"},
                                       {"TOPO_TEST_EPOCHS", "2"},
                                       {"TOPO_TEST_SAMPLES", std::to_string(samples)},
                                       {"TOPO_TEST_CHECKPOINT", ""}});
    expect_all_succeeded(statuses);
    const auto rank0 = load_state(dir / "rank0.pt"), rank1 = load_state(dir / "rank1.pt");
    const auto single = train_toy(nullptr, 8, 2, "", false, samples);
    auto expected = single.state;
    for (const auto& r : single.records)
      expected.push_back(torch::tensor({r.train_loss, r.train_metric, r.validation_metric}));
    ASSERT_EQ(rank0.size(), expected.size());
    ASSERT_EQ(rank1.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      // The ranks hold the very same model (redrawn projections included) …
      EXPECT_TRUE(torch::equal(rank0[i], rank1[i])) << "tensor " << i;
      // … and it is the one process's, up to the order of float64 sums; so are the metrics.
      EXPECT_TENSOR_CLOSE(rank0[i].to(torch::kDouble), expected[i].to(torch::kDouble),
                          {1e-10, 1e-12})
          << "tensor " << i;
    }
    // Training changed the model (the comparison is not between two untouched models).
    Toy untouched;
    const auto initial = untouched->parameters();
    size_t changed = 0;
    for (size_t i = 0; i < initial.size(); ++i) changed += !torch::allclose(rank0[i], initial[i]);
    EXPECT_EQ(changed, initial.size() - 1);  // all but `unused`, which no rank used
    EXPECT_TRUE(torch::equal(rank0[0], initial[0]));
    fs::remove_all(dir);
  }
}

TEST(DistributedTraining, TwoProcessCheckpointResumesInOneProcess) {
  const auto dir = fresh_folder("resume");
  const auto checkpoint = (dir / "checkpoint.pt").string();
  expect_all_succeeded(run_workers(2, "Train",
                                   {{"TOPO_TEST_OUT", dir.string()},
                                    {"TOPO_TEST_BATCH", "4"},
                                    {"TOPO_TEST_EPOCHS", "1"},
                                    {"TOPO_TEST_CHECKPOINT", checkpoint}}));
  ASSERT_TRUE(fs::exists(checkpoint));
  // The same first epoch in one process, then both resume for a second epoch in one process.
  const auto single_checkpoint = (dir / "single.pt").string();
  train_toy(nullptr, 8, 1, single_checkpoint, false);
  fs::copy_file(single_checkpoint, dir / "a.pt");
  fs::copy_file(single_checkpoint, dir / "b.pt");
  const auto from_two = train_toy(nullptr, 8, 2, checkpoint, true);
  const auto from_one = train_toy(nullptr, 8, 2, single_checkpoint, true);
  ASSERT_EQ(from_two.records.size(), 1u);  // only epoch 2 ran
  EXPECT_EQ(from_two.records[0].epoch, 2);
  for (size_t i = 0; i < from_one.state.size(); ++i)
    EXPECT_TENSOR_CLOSE(from_two.state[i].to(torch::kDouble), from_one.state[i].to(torch::kDouble),
                        {1e-10, 1e-12});
  // And a 1-process checkpoint resumes in 2 processes as in 1 (with batch 2 × 4).
  expect_all_succeeded(run_workers(2, "Train",
                                   {{"TOPO_TEST_OUT", dir.string()},
                                    {"TOPO_TEST_BATCH", "4"},
                                    {"TOPO_TEST_EPOCHS", "2"},
                                    {"TOPO_TEST_CHECKPOINT", (dir / "a.pt").string()},
                                    {"TOPO_TEST_RESUME", "1"}}));
  const auto continued = train_toy(nullptr, 8, 2, (dir / "b.pt").string(), true);
  const auto rank0 = load_state(dir / "rank0.pt");
  ASSERT_EQ(rank0.size(), continued.state.size() + 1);  // + epoch 2's metrics
  for (size_t i = 0; i < continued.state.size(); ++i)
    EXPECT_TENSOR_CLOSE(rank0[i].to(torch::kDouble), continued.state[i].to(torch::kDouble),
                        {1e-10, 1e-12});
  fs::remove_all(dir);
}

TEST(DistributedTraining, AnErrorOnOneRankEndsEveryRank) {
  const auto dir = fresh_folder("error");
  expect_all_succeeded(run_workers(2, "FailOnRankOne", {{"TOPO_TEST_OUT", dir.string()}}));
  fs::remove_all(dir);
}

TEST(DistributedTraining, DifferentModelsAreRefusedOnEveryRank) {
  const auto dir = fresh_folder("models");
  expect_all_succeeded(run_workers(2, "DifferentModels", {{"TOPO_TEST_OUT", dir.string()}}));
  fs::remove_all(dir);
}

TEST(DistributedTraining, LaunchEnvironmentNamesBadVariables) {
  ::setenv("RANK", "2", 1);
  ::setenv("WORLD_SIZE", "2", 1);
  EXPECT_THROW_WITH(LaunchEnvironment::from_environment(),
                    "environment variable RANK: expected an integer in [0, 1], got \"2\"");
  ::setenv("RANK", "1", 1);
  ::unsetenv("MASTER_ADDR");
  EXPECT_THROW_WITH(LaunchEnvironment::from_environment(),
                    "environment variable MASTER_ADDR: expected the address of rank 0's "
                    "rendezvous (WORLD_SIZE = 2), got nothing");
  ::unsetenv("WORLD_SIZE");
  EXPECT_THROW_WITH(LaunchEnvironment::from_environment(),
                    "environment variable WORLD_SIZE: expected it next to RANK");
  ::unsetenv("RANK");
  const auto single = LaunchEnvironment::from_environment();
  EXPECT_FALSE(single.launched);
  EXPECT_EQ(single.world_size, 1);
}

TEST(DistributedTraining, RendezvousTimesOutNamingTheAddress) {
  LaunchEnvironment env;
  env.rank = 1;  // rank 0 never comes
  env.world_size = 2;
  env.master_port = 1;  // nothing listens there
  EXPECT_THROW_WITH(ProcessGroup::create(env, 1),
                    "rank 1 of 2: the rendezvous at 127.0.0.1:1 failed");
}

}  // namespace
}  // namespace topo::training
