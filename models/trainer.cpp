// SPDX-License-Identifier: Apache-2.0
#include "models/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "common/check.h"
#include "datasets/file_io.h"

namespace topo::models {

struct Trainer::State {
  std::unique_ptr<torch::optim::AdamW> optimizer;
  int64_t next_epoch = 0, global_step = 0, epochs_without_improvement = 0;
  double best_metric = std::nan("");
  std::vector<EpochRecord> history;
};

Trainer::Trainer(std::shared_ptr<torch::nn::Module> model, TrainerOptions options)
    : model_(std::move(model)), options_(std::move(options)), state_(std::make_unique<State>()) {
  TOPO_CHECK_ARG(model_ != nullptr, "Trainer", "model", "a module", "null");
  TOPO_CHECK_ARG(options_.epochs() >= 1, "Trainer", "epochs", ">= 1", options_.epochs());
  TOPO_CHECK_ARG(options_.learning_rate() > 0, "Trainer", "learning_rate", "> 0", options_.learning_rate());
  TOPO_CHECK_ARG(options_.schedule() == "cosine" || options_.schedule() == "constant", "Trainer", "schedule",
                 "\"cosine\" or \"constant\"", "\"" + options_.schedule() + "\"");
  TOPO_CHECK_ARG(options_.warmup_fraction() >= 0 && options_.warmup_fraction() < 1, "Trainer", "warmup_fraction",
                 "in [0, 1)", options_.warmup_fraction());
  state_->optimizer = std::make_unique<torch::optim::AdamW>(
      model_->parameters(), torch::optim::AdamWOptions(options_.learning_rate()).weight_decay(options_.weight_decay()));
  if (options_.resume() && std::filesystem::exists(options_.checkpoint_path())) load_checkpoint();
}

Trainer::~Trainer() = default;

int64_t Trainer::start_epoch() const { return state_->next_epoch; }

double Trainer::learning_rate_at(int64_t step, int64_t total_steps) const {
  const double warmup = std::max(1.0, options_.warmup_fraction() * static_cast<double>(total_steps));
  if (step < warmup) return options_.learning_rate() * (step + 1) / warmup;
  if (options_.schedule() == "constant") return options_.learning_rate();
  const double progress = (step - warmup) / std::max(1.0, total_steps - warmup);
  return options_.learning_rate() * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

namespace {

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

std::string format_seconds(double s) {
  char buffer[32];
  if (s >= 3600) std::snprintf(buffer, sizeof(buffer), "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60) std::snprintf(buffer, sizeof(buffer), "%dm%02ds", int(s / 60), int(s) % 60);
  else std::snprintf(buffer, sizeof(buffer), "%.0fs", s);
  return buffer;
}

}  // namespace

std::vector<EpochRecord> Trainer::fit(const StepFunction& step, datasets::DataLoader& train,
                                      datasets::DataLoader* validation) {
  const int64_t per_epoch = train.num_batches();
  TOPO_CHECK_ARG(per_epoch >= 1, "Trainer::fit", "train", "at least one batch", "an empty loader");
  const int64_t total_steps = per_epoch * options_.epochs();
  std::vector<EpochRecord> records;
  using clock = std::chrono::steady_clock;
  for (int64_t epoch = state_->next_epoch; epoch < options_.epochs(); ++epoch) {
    const auto start = clock::now();
    model_->train();
    train.start_epoch(epoch);
    double loss_sum = 0, metric_sum = 0;
    int64_t count = 0, batches = 0;
    while (auto batch = train.next()) {
      const double lr = learning_rate_at(state_->global_step, total_steps);
      set_learning_rate(*state_->optimizer, lr);
      state_->optimizer->zero_grad();
      const auto out = step(*batch);
      const double loss = out.loss.item<double>();
      if (!std::isfinite(loss)) {
        throw std::runtime_error(c10::str("Trainer: training stopped because the loss is ", loss, " at epoch ", epoch + 1,
                                          ", batch ", batches + 1, " (global step ", state_->global_step + 1,
                                          "); lower the learning rate or check the inputs"));
      }
      out.loss.backward();
      if (options_.grad_clip() > 0) torch::nn::utils::clip_grad_norm_(model_->parameters(), options_.grad_clip());
      state_->optimizer->step();
      ++state_->global_step;
      ++batches;
      loss_sum += loss * out.count;
      metric_sum += out.metric_sum;
      count += out.count;
      if (options_.progress()) {
        const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
        const int width = 24, filled = static_cast<int>(width * batches / per_epoch);
        std::fprintf(stderr, "\repoch %lld/%lld [%s%s] %lld/%lld loss %.4f %s %.4f eta %s   ", (long long)epoch + 1,
                     (long long)options_.epochs(), std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(),
                     (long long)batches, (long long)per_epoch, loss_sum / std::max<int64_t>(count, 1),
                     options_.metric_name().c_str(), metric_sum / std::max<int64_t>(count, 1),
                     format_seconds(elapsed / batches * (per_epoch - batches)).c_str());
      }
    }
    EpochRecord record;
    record.epoch = epoch + 1;
    record.train_loss = loss_sum / std::max<int64_t>(count, 1);
    record.train_metric = metric_sum / std::max<int64_t>(count, 1);
    record.learning_rate = learning_rate_at(state_->global_step - 1, total_steps);
    if (validation != nullptr) {
      const auto eval = evaluate(step, *validation);
      record.validation_loss = eval.loss;
      record.validation_metric = eval.metric;
    }
    record.seconds = std::chrono::duration<double>(clock::now() - start).count();
    if (options_.progress()) {
      std::fprintf(stderr, "\repoch %lld/%lld  loss %.4f  %s %.4f  val loss %.4f  val %s %.4f  (%s)%20s\n",
                   (long long)record.epoch, (long long)options_.epochs(), record.train_loss, options_.metric_name().c_str(),
                   record.train_metric, record.validation_loss, options_.metric_name().c_str(), record.validation_metric,
                   format_seconds(record.seconds).c_str(), "");
    }
    records.push_back(record);
    state_->history.push_back(record);
    state_->next_epoch = epoch + 1;
    // Early stopping on the validation metric.
    bool stop = false;
    if (validation != nullptr) {
      const double m = record.validation_metric;
      const bool better = std::isnan(state_->best_metric) ||
                          (options_.higher_is_better() ? m > state_->best_metric : m < state_->best_metric);
      if (better) {
        state_->best_metric = m;
        state_->epochs_without_improvement = 0;
      } else if (++state_->epochs_without_improvement >= options_.early_stopping_patience() &&
                 options_.early_stopping_patience() > 0) {
        stop = true;
      }
    }
    if (!options_.checkpoint_path().empty()) save_checkpoint(epoch + 1);
    // Logs are rewritten whole each epoch, so they always match the checkpoint.
    if (!options_.metrics_csv().empty()) {
      std::ostringstream csv;
      csv << "epoch,train_loss,train_" << options_.metric_name() << ",val_loss,val_" << options_.metric_name()
          << ",learning_rate,seconds\n" << std::setprecision(8);
      for (const auto& r : state_->history) {
        csv << r.epoch << ',' << r.train_loss << ',' << r.train_metric << ',' << r.validation_loss << ','
            << r.validation_metric << ',' << r.learning_rate << ',' << r.seconds << '\n';
      }
      datasets::write_file_atomically(options_.metrics_csv(), csv.str());
    }
    if (!options_.metrics_json().empty()) {
      std::ostringstream json;
      json << "[" << std::setprecision(8);
      for (size_t i = 0; i < state_->history.size(); ++i) {
        const auto& r = state_->history[i];
        json << (i ? ",\n " : "\n ") << "{\"epoch\": " << r.epoch << ", \"train_loss\": " << r.train_loss
             << ", \"train_" << options_.metric_name() << "\": " << r.train_metric << ", \"val_loss\": " << r.validation_loss
             << ", \"val_" << options_.metric_name() << "\": " << r.validation_metric << ", \"learning_rate\": "
             << r.learning_rate << ", \"seconds\": " << r.seconds << "}";
      }
      json << "\n]\n";
      datasets::write_file_atomically(options_.metrics_json(), json.str());
    }
    if (stop) {
      if (options_.progress()) std::fprintf(stderr, "early stopping: no better validation %s for %lld epochs\n",
                                            options_.metric_name().c_str(), (long long)options_.early_stopping_patience());
      break;
    }
  }
  return records;
}

Evaluation Trainer::evaluate(const StepFunction& step, datasets::DataLoader& loader) {
  const bool was_training = model_->is_training();
  model_->eval();
  torch::NoGradGuard no_grad;
  loader.start_epoch(0);
  Evaluation result;
  double loss_sum = 0, metric_sum = 0;
  while (auto batch = loader.next()) {
    const auto out = step(*batch);
    loss_sum += out.loss.item<double>() * out.count;
    metric_sum += out.metric_sum;
    result.count += out.count;
  }
  result.loss = loss_sum / std::max<int64_t>(result.count, 1);
  result.metric = metric_sum / std::max<int64_t>(result.count, 1);
  model_->train(was_training);
  return result;
}

void Trainer::save_checkpoint(int64_t next_epoch) const {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  model_->save(model_archive);
  state_->optimizer->save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("next_epoch", torch::tensor(next_epoch));
  archive.write("global_step", torch::tensor(state_->global_step));
  archive.write("best_metric", torch::tensor(state_->best_metric, torch::kDouble));
  archive.write("epochs_without_improvement", torch::tensor(state_->epochs_without_improvement));
  archive.write("rng_state", at::detail::getDefaultCPUGenerator().get_state());
  std::vector<double> history;
  for (const auto& r : state_->history) {
    history.insert(history.end(), {double(r.epoch), r.train_loss, r.train_metric, r.validation_loss, r.validation_metric,
                                   r.learning_rate, r.seconds});
  }
  archive.write("history", torch::tensor(history, torch::kDouble));
  std::ostringstream bytes;
  archive.save_to(bytes);
  datasets::write_file_atomically(options_.checkpoint_path(), bytes.str());
}

void Trainer::load_checkpoint() {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(options_.checkpoint_path());
  } catch (const c10::Error& e) {
    throw std::runtime_error(options_.checkpoint_path() + ": not a readable topoformer checkpoint (" + e.what_without_backtrace() + ")");
  }
  torch::serialize::InputArchive model_archive, optimizer_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optimizer_archive);
  model_->load(model_archive);
  state_->optimizer->load(optimizer_archive);
  // A fresh tensor per entry: read() into a tensor that already holds data tries to resize it.
  const auto read = [&](const char* name) {
    torch::Tensor value;
    archive.read(name, value);
    return value;
  };
  state_->next_epoch = read("next_epoch").item<int64_t>();
  state_->global_step = read("global_step").item<int64_t>();
  state_->best_metric = read("best_metric").item<double>();
  state_->epochs_without_improvement = read("epochs_without_improvement").item<int64_t>();
  auto generator = at::detail::getDefaultCPUGenerator();
  generator.set_state(read("rng_state"));
  const auto t = read("history");
  const auto h = t.view({-1, 7});
  for (int64_t i = 0; i < h.size(0); ++i) {
    state_->history.push_back({static_cast<int64_t>(h[i][0].item<double>()), h[i][1].item<double>(), h[i][2].item<double>(),
                               h[i][3].item<double>(), h[i][4].item<double>(), h[i][5].item<double>(), h[i][6].item<double>()});
  }
}

}  // namespace topo::models
