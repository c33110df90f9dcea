// SPDX-License-Identifier: Apache-2.0
// The trainer: exact resume after an interruption, NaN stop naming the step, early stopping,
// CSV/JSON logs, extra metrics aggregated and kept across a resume.
#include "training/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "datasets/batching.h"
#include "datasets/transforms.h"
#include "models/point_cloud_classifier.h"
#include "support/tensor_assertions.h"
#include "training/plots.h"
#include "training/steps.h"

namespace topo::training {
namespace {

namespace fs = std::filesystem;

/// A tiny separable 2-class problem of 2-D clouds for trainer tests.
std::shared_ptr<const std::vector<datasets::Sample>> toy_data(int64_t n) {
  torch::manual_seed(2);
  std::vector<datasets::Sample> out;
  for (int64_t i = 0; i < n; ++i) {
    datasets::Sample s;
    const int64_t label = i % 2;
    s.pos = torch::randn({6, 2}) * 0.3 + (label ? 1.0 : -1.0);
    s.x = torch::ones({6, 1});
    s.y = torch::tensor(label, torch::kLong);
    out.push_back(s);
  }
  return std::make_shared<const std::vector<datasets::Sample>>(out);
}

StepFunction step_for(models::PointCloudClassifier model, double poison = 1.0) {
  return [model, poison](const std::vector<datasets::Sample>& batch) mutable {
    const auto padded = datasets::collate_padded(batch);
    const auto logits = model->forward(padded.pos, padded.x, padded.key_padding_mask) * poison;
    return StepOutput{torch::nn::functional::cross_entropy(logits, padded.y),
                      (logits.argmax(1) == padded.y).sum().item<double>(),
                      static_cast<int64_t>(batch.size())};
  };
}

models::PointCloudClassifier toy_model() {
  torch::manual_seed(3);
  return models::PointCloudClassifier(models::PointCloudClassifierOptions(2, 1, 2)
                                          .embed_dim(8)
                                          .num_heads(2)
                                          .num_layers(1)
                                          .num_features(8)
                                          .dropout(0.1));
}

fs::path fresh_folder(const std::string& name) {
  const auto dir =
      fs::temp_directory_path() / ("topo_trainer_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Trainer, ResumedRunContinuesExactly) {
  const auto data = toy_data(40);
  datasets::DataLoaderOptions lo;
  lo.batch_size = 8;
  lo.seed = 4;
  lo.transform = datasets::random_jitter(0.05, 0.1);
  const auto dir = fresh_folder("resume");
  const auto options = TrainerOptions().epochs(4).learning_rate(5e-3).progress(false);
  // Straight through.
  torch::manual_seed(5);
  auto straight = toy_model();
  {
    datasets::DataLoader loader(data, lo);
    Trainer trainer(straight.ptr(),
                    TrainerOptions(options).checkpoint_path((dir / "a.pt").string()));
    trainer.fit(step_for(straight), loader);
  }
  // Two epochs, "crash", then resume from the checkpoint in a fresh process-like setup.
  torch::manual_seed(5);
  auto first = toy_model();
  {
    datasets::DataLoader loader(data, lo);
    Trainer trainer(first.ptr(),
                    TrainerOptions(options).epochs(4).checkpoint_path((dir / "b.pt").string()));
    // The same schedule, interrupted during the third epoch (after 2 × 5 batches).
    struct Interrupt {};
    int64_t batches = 0;
    const auto interrupting =
        [&, inner = step_for(first)](const std::vector<datasets::Sample>& b) mutable {
          if (++batches > 2 * 5) throw Interrupt{};
          return inner(b);
        };
    EXPECT_THROW(trainer.fit(interrupting, loader), Interrupt);
  }
  torch::manual_seed(123);  // whatever the process state, the checkpoint restores it
  auto resumed = toy_model();
  {
    datasets::DataLoader loader(data, lo);
    Trainer trainer(resumed.ptr(),
                    TrainerOptions(options).checkpoint_path((dir / "b.pt").string()).resume(true));
    EXPECT_EQ(trainer.start_epoch(), 2);
    trainer.fit(step_for(resumed), loader);
  }
  const auto a = straight->parameters(), b = resumed->parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].equal(b[i])) << "parameter " << i;
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos)
        << "left over: " << entry.path();
  }
}

TEST(Trainer, RefusesADamagedCheckpoint) {
  // One flipped bit in a weight used to load silently (and evaluate to NaN): the archive's CRC-32s
  // are checked first and the error names the file and the damaged member.
  const auto data = toy_data(8);
  datasets::DataLoaderOptions lo;
  lo.batch_size = 4;
  const auto dir = fresh_folder("damaged");
  const auto path = (dir / "checkpoint.pt").string();
  auto model = toy_model();
  {
    datasets::DataLoader loader(data, lo);
    Trainer trainer(model.ptr(), TrainerOptions().epochs(1).progress(false).checkpoint_path(path));
    trainer.fit(step_for(model), loader);
  }
  const auto options = TrainerOptions().progress(false).checkpoint_path(path).resume(true);
  EXPECT_EQ(Trainer(toy_model().ptr(), options).start_epoch(), 1);  // intact: loads
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  // The first tensor's data follows its zip local header (30 bytes, the name, the extra field).
  const size_t name = bytes.find("archive/data/0");
  ASSERT_NE(name, std::string::npos);
  const size_t header = name - 30;
  const auto u16 = [&](size_t at) {
    return static_cast<size_t>(static_cast<unsigned char>(bytes[at])) |
           static_cast<size_t>(static_cast<unsigned char>(bytes[at + 1])) << 8;
  };
  ASSERT_EQ(bytes.compare(header, 4, "PK\x03\x04"), 0);
  bytes[header + 30 + u16(header + 26) + u16(header + 28) + 5] ^= 0x10;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_THROW_WITH(Trainer(toy_model().ptr(), options),
                    "checkpoint.pt:archive/data/0: expected an intact member, got a damaged one "
                    "(CRC error): the checkpoint is damaged");
  // A truncated file is refused as well.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW_WITH(Trainer(toy_model().ptr(), options),
                    "checkpoint.pt: cannot open the zip archive");
}

TEST(Steps, ClassificationLabelsOutsideTheClassesAreNamed) {
  // cross_entropy alone says `Target 10 is out of bounds.` (with a backtrace).
  const auto logits = torch::zeros({3, 10});
  EXPECT_THROW_WITH(classification_output(logits, torch::tensor({1, 10, 2})),
                    "classification_output: labels must be class indices in [0, 10) for a model "
                    "with 10 classes, got values in [1, 10]");
  EXPECT_THROW_WITH(classification_output(logits, torch::tensor({-1, 0, 2})),
                    "got values in [-1, 2]");
  EXPECT_EQ(classification_output(logits, torch::tensor({0, 9, 2})).count, 3);
  EXPECT_THROW_WITH(classification_output(logits, torch::tensor({0, 9, 2}), 1.0),
                    "label_smoothing must be in [0, 1), got 1");
}

TEST(Steps, LabelSmoothingMixesTheUniformTarget) {
  // (1 − ε)·CE(y) + ε·mean over classes of −log p (Szegedy et al. 2016, as PyTorch defines it).
  const auto logits = torch::randn({4, 5}, torch::kDouble);
  const auto labels = torch::tensor({0, 3, 4, 1});
  const auto log_p = torch::log_softmax(logits, 1);
  const auto plain = -log_p.gather(1, labels.unsqueeze(1)).mean();
  const auto uniform = -log_p.mean(1).mean();
  EXPECT_TENSOR_CLOSE(classification_output(logits, labels, 0.2).loss, 0.8 * plain + 0.2 * uniform,
                      {1e-12, 1e-12});
  EXPECT_TENSOR_CLOSE(classification_output(logits, labels).loss, plain, {1e-12, 1e-12});
}

TEST(Trainer, StopsOnNanLossNamingTheStepAndStopsEarly) {
  const auto data = toy_data(16);
  datasets::DataLoaderOptions lo;
  lo.batch_size = 4;
  auto model = toy_model();
  datasets::DataLoader loader(data, lo);
  Trainer trainer(model.ptr(), TrainerOptions().epochs(2).progress(false));
  EXPECT_THROW_WITH(trainer.fit(step_for(model, std::nan("")), loader),
                    "loss is nan at epoch 1, batch 1 (global step 1)");
  // Early stopping: a constant validation metric never improves after the first epoch.
  const auto dir = fresh_folder("early");
  auto model2 = toy_model();
  datasets::DataLoader train(data, lo), validation(data, lo);
  Trainer patient(model2.ptr(), TrainerOptions()
                                    .epochs(20)
                                    .learning_rate(1e-9)
                                    .early_stopping_patience(2)
                                    .progress(false)
                                    .metrics_csv((dir / "m.csv").string())
                                    .metrics_json((dir / "m.json").string()));
  const auto records = patient.fit(step_for(model2), train, &validation);
  EXPECT_LT(records.size(), 20u);
  std::ifstream csv(dir / "m.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds");
  plot_learning_curves((dir / "m.csv").string(), (dir / "curves.png").string());
  EXPECT_GT(fs::file_size(dir / "curves.png"), 1000u);
  geometry::SpectralRPE rpe(geometry::SpectralRPEOptions(2, 3));
  plot_spectral_rpe(*rpe, (dir / "rpe.png").string());
  EXPECT_GT(fs::file_size(dir / "rpe.png"), 1000u);
  geometry::LocalRPE local(geometry::LocalRPEOptions(3, 2.0).num_bins(4));
  plot_local_rpe(*local, (dir / "local.png").string());
  EXPECT_GT(fs::file_size(dir / "local.png"), 1000u);
  EXPECT_THROW_WITH(plot_learning_curves((dir / "missing.csv").string(), (dir / "x.png").string()),
                    "missing.csv");
}

TEST(Trainer, ExtraMetricsAreAggregatedLoggedAndKeptAcrossAResume) {
  const auto data = toy_data(12);
  datasets::DataLoaderOptions lo;
  lo.batch_size = 5;  // batches of 5, 5, 2: the aggregate must weight by count
  auto model = toy_model();
  auto inner = step_for(model);
  const StepFunction step = [&](const std::vector<datasets::Sample>& batch) {
    auto out = inner(batch);
    const double n = static_cast<double>(batch.size());
    out.extra.push_back(
        {"size_rmse", n * n * n, n, true});  // per-sample value n² → root mean square
    out.extra.push_back({"half", 0.5 * n, n});
    return out;
  };
  datasets::DataLoader loader(data, lo), validation(data, lo);
  Trainer plain(model.ptr(), TrainerOptions().epochs(1).progress(false));
  const auto eval = plain.evaluate(step, validation);
  ASSERT_EQ(eval.extra.size(), 2u);
  EXPECT_EQ(eval.extra[0].first, "size_rmse");
  EXPECT_NEAR(eval.extra[0].second, std::sqrt((5.0 * 25 + 5.0 * 25 + 2.0 * 4) / 12),
              1e-12);  // n samples of n² per batch
  EXPECT_NEAR(eval.extra[1].second, 0.5, 1e-12);
  const auto dir = fresh_folder("extra");
  const auto options = TrainerOptions()
                           .epochs(2)
                           .progress(false)
                           .checkpoint_path((dir / "c.pt").string())
                           .metrics_csv((dir / "m.csv").string())
                           .metrics_json((dir / "m.json").string());
  {
    Trainer trainer(model.ptr(), options);
    trainer.fit(step, loader, &validation);
  }
  {
    Trainer resumed(model.ptr(), TrainerOptions(options).epochs(3).resume(true));
    const auto records = resumed.fit(step, loader, &validation);
    ASSERT_EQ(records.size(), 1u);
  }
  std::ifstream csv(dir / "m.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header,
            "epoch,train_loss,train_accuracy,val_loss,val_accuracy,learning_rate,seconds,"
            "train_size_rmse,train_half,val_size_rmse,val_half");
  int rows = 0;
  while (std::getline(csv, line)) {
    ++rows;
    EXPECT_NE(line.find(",0.5,"), std::string::npos)
        << "row " << rows << " (from the checkpoint for rows 1-2): " << line;
  }
  EXPECT_EQ(rows, 3);
}

}  // namespace
}  // namespace topo::training
