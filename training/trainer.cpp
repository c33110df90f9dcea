// SPDX-License-Identifier: Apache-2.0
#include "training/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "common/check.h"
#include "datasets/file_io.h"
#include "datasets/parsers/text_parsing.h"

namespace topo::training {

namespace {
std::string read_checkpoint(const std::string& path);
}  // namespace

struct Trainer::State {
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::unique_ptr<GradientReducer> reducer;
  int64_t next_epoch = 0, global_step = 0, epochs_without_improvement = 0;
  double best_metric = std::nan("");
  std::vector<EpochRecord> history;
};

Trainer::Trainer(std::shared_ptr<torch::nn::Module> model, TrainerOptions options)
    : model_(std::move(model)), options_(std::move(options)), state_(std::make_unique<State>()) {
  TOPO_CHECK_ARG(model_ != nullptr, "Trainer", "model", "a module", "null");
  TOPO_CHECK_ARG(options_.epochs() >= 1, "Trainer", "epochs", ">= 1", options_.epochs());
  TOPO_CHECK_ARG(options_.learning_rate() > 0, "Trainer", "learning_rate", "> 0",
                 options_.learning_rate());
  TOPO_CHECK_ARG(options_.schedule() == "cosine" || options_.schedule() == "constant", "Trainer",
                 "schedule", "\"cosine\" or \"constant\"", "\"" + options_.schedule() + "\"");
  TOPO_CHECK_ARG(options_.warmup_fraction() >= 0 && options_.warmup_fraction() < 1, "Trainer",
                 "warmup_fraction", "in [0, 1)", options_.warmup_fraction());
  state_->optimizer = std::make_unique<torch::optim::AdamW>(
      model_->parameters(),
      torch::optim::AdamWOptions(options_.learning_rate()).weight_decay(options_.weight_decay()));
  const auto& group = options_.process_group();
  TOPO_CHECK_ARG(options_.bucket_bytes() >= 1, "Trainer", "bucket_bytes", ">= 1",
                 options_.bucket_bytes());
  if (!distributed()) {
    if (options_.resume() && std::filesystem::exists(options_.checkpoint_path()))
      load_checkpoint(read_checkpoint(options_.checkpoint_path()));
    return;
  }
  // Rank 0 reads (and checks) the checkpoint and hands its bytes to every rank, so that the
  // run folder need only be on rank 0's machine.
  std::string bytes;
  group->run_together(
      [&] {
        if (writes() && options_.resume() && std::filesystem::exists(options_.checkpoint_path()))
          bytes = read_checkpoint(options_.checkpoint_path());
      },
      "reading the checkpoint");
  bytes = group->broadcast_bytes(bytes, 0, "sending the checkpoint from rank 0");
  group->run_together(
      [&] {
        if (!bytes.empty()) load_checkpoint(bytes);
      },
      "loading the checkpoint");
  broadcast_module(*group, *model_);
  state_->reducer = std::make_unique<GradientReducer>(group, *model_, options_.bucket_bytes());
}

bool Trainer::distributed() const {
  return options_.process_group() != nullptr && options_.process_group()->size() > 1;
}

bool Trainer::writes() const { return !distributed() || options_.process_group()->rank() == 0; }

Trainer::~Trainer() = default;

int64_t Trainer::start_epoch() const { return state_->next_epoch; }

double Trainer::learning_rate_at(int64_t step, int64_t total_steps) const {
  const double warmup =
      std::max(1.0, options_.warmup_fraction() * static_cast<double>(total_steps));
  if (step < warmup) return options_.learning_rate() * (step + 1) / warmup;
  if (options_.schedule() == "constant") return options_.learning_rate();
  const double progress = (step - warmup) / std::max(1.0, total_steps - warmup);
  return options_.learning_rate() * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

namespace {

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

/// The checkpoint's bytes after checking every zip member's CRC-32: LibTorch's reader does not
/// check them, so a flipped bit in a weight would load silently (and evaluate to NaN).
std::string read_checkpoint(const std::string& path) {
  try {
    datasets::verify_zip_archive(path);
  } catch (const datasets::ParseError& e) {
    throw std::runtime_error(std::string(e.what()) +
                             ": the checkpoint is damaged; restore it from a copy or train again");
  }
  return datasets::read_file(path);
}

std::string format_seconds(double s) {
  char buffer[32];
  if (s >= 3600)
    std::snprintf(buffer, sizeof(buffer), "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buffer, sizeof(buffer), "%dm%02ds", int(s / 60), int(s) % 60);
  else
    std::snprintf(buffer, sizeof(buffer), "%.0fs", s);
  return buffer;
}

/// Accumulates StepOutput::extra by name (in order of first appearance).
struct ExtraTotals {
  std::vector<StepOutput::Extra> totals;
  void add(const std::vector<StepOutput::Extra>& extra) {
    for (const auto& e : extra) {
      auto it = std::find_if(totals.begin(), totals.end(),
                             [&](const auto& t) { return t.name == e.name; });
      if (it == totals.end()) {
        totals.push_back(e);
      } else {
        it->sum += e.sum;
        it->count += e.count;
      }
    }
  }
  NamedValues values(const std::string& prefix) const {
    NamedValues out;
    for (const auto& t : totals) {
      const double mean = t.count > 0 ? t.sum / t.count : std::nan("");
      out.emplace_back(prefix + t.name, t.root_mean ? std::sqrt(mean) : mean);
    }
    return out;
  }
};

/// Sums over the batches of an epoch (and, in data-parallel training, over the ranks).
struct Totals {
  double loss_sum = 0, metric_sum = 0, metric_count = 0, count = 0;
  ExtraTotals extra;

  /// Adds one batch; a stand-in batch (`own` false, see datasets::BatchShare) adds zeros but
  /// its extra metrics' names, so that every rank reduces vectors of the same layout.
  void add(const StepOutput& out, double loss, bool own) {
    if (!own) {
      auto zeros = out.extra;
      for (auto& e : zeros) e.sum = e.count = 0;
      extra.add(zeros);
      return;
    }
    loss_sum += loss * out.count;
    metric_sum += out.metric_sum;
    metric_count += out.metric_count > 0 ? out.metric_count : static_cast<double>(out.count);
    count += out.count;
    extra.add(out.extra);
  }
  void add(const Totals& other) {
    loss_sum += other.loss_sum;
    metric_sum += other.metric_sum;
    metric_count += other.metric_count;
    count += other.count;
    extra.add(other.extra.totals);
  }
  std::vector<double> to_vector() const {
    std::vector<double> v{loss_sum, metric_sum, metric_count, count};
    for (const auto& e : extra.totals) v.insert(v.end(), {e.sum, e.count});
    return v;
  }
  void from_vector(const std::vector<double>& v) {
    loss_sum = v[0], metric_sum = v[1], metric_count = v[2], count = v[3];
    for (size_t i = 0; i < extra.totals.size(); ++i) {
      extra.totals[i].sum = v[4 + 2 * i];
      extra.totals[i].count = v[5 + 2 * i];
    }
  }
  /// The extra metrics' names: the layout of to_vector().
  std::string layout() const {
    std::string out;
    for (const auto& e : extra.totals) out += e.name + ",";
    return out;
  }
  double loss() const { return loss_sum / std::max(count, 1.0); }
  double metric() const { return metric_sum / std::max(metric_count, 1.0); }
};

/// Names of all extra metrics in the history, in order of first appearance.
std::vector<std::string> extra_names(const std::vector<EpochRecord>& history) {
  std::vector<std::string> names;
  for (const auto& r : history) {
    for (const auto& [name, value] : r.extra) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  return names;
}

double extra_value(const EpochRecord& r, const std::string& name) {
  for (const auto& [n, v] : r.extra) {
    if (n == name) return v;
  }
  return std::nan("");
}

}  // namespace

std::vector<EpochRecord> Trainer::fit(const StepFunction& step, datasets::DataLoader& train,
                                      datasets::DataLoader* validation) {
  const int64_t per_epoch = train.num_batches();
  TOPO_CHECK_ARG(per_epoch >= 1, "Trainer::fit", "train", "at least one batch", "an empty loader");
  auto* group = options_.process_group().get();
  // Every rank must run the same number of steps, or the collectives would not pair up.
  if (distributed())
    group->check_same(c10::str(per_epoch, " batches per epoch"),
                      "loaders (shard them with DataLoaderOptions::num_replicas and rank)",
                      "comparing the loaders' sizes");
  const int64_t total_steps = per_epoch * options_.epochs();
  // Checkpoints are written at epoch ends, so a resumed run (with any number of processes,
  // hence any number of steps per epoch) continues the schedule from its epoch.
  state_->global_step = state_->next_epoch * per_epoch;
  std::vector<EpochRecord> records;
  using clock = std::chrono::steady_clock;
  for (int64_t epoch = state_->next_epoch; epoch < options_.epochs(); ++epoch) {
    const auto start = clock::now();
    model_->train();
    train.start_epoch(epoch);
    Totals totals;
    int64_t batches = 0;
    while (auto batch = train.next()) {
      const double lr = learning_rate_at(state_->global_step, total_steps);
      set_learning_rate(*state_->optimizer, lr);
      state_->optimizer->zero_grad();
      const auto share = train.last_share();
      if (state_->reducer) state_->reducer->prepare();
      const auto out = step(*batch);
      const double loss = out.loss.item<double>();
      const auto nonfinite_error = [&](const std::string& value) {
        return std::runtime_error(c10::str("Trainer: training stopped because the loss is ", value,
                                           " at epoch ", epoch + 1, ", batch ", batches + 1,
                                           " (global step ", state_->global_step + 1,
                                           "); lower the learning rate or check the inputs"));
      };
      if (!state_->reducer && !std::isfinite(loss)) throw nonfinite_error(c10::str(loss));
      Totals this_step;
      this_step.add(out, loss, share.own > 0);
      if (state_->reducer) {
        // The step's sums are reduced as one vector: its layout (the extra metrics' names)
        // must be rank 0's.
        if (batches == 0)
          group->check_same(this_step.layout(), "metrics", "comparing the step's metrics");
        // Weighted by the share of the global batch: the average over the ranks of these
        // gradients is the gradient of the global batch's mean loss.
        const double weight = static_cast<double>(group->size() * share.own) / share.global;
        (weight == 1.0 ? out.loss : out.loss * weight).backward();
        auto sums = this_step.to_vector();
        sums.push_back(std::isfinite(loss) ? 0.0 : 1.0);
        state_->reducer->finalize(sums);
        if (sums.back() > 0)
          throw nonfinite_error(
              c10::str("not finite on ", sums.back(), " of ", group->size(), " ranks"));
        sums.pop_back();
        this_step.from_vector(sums);
      } else {
        out.loss.backward();
      }
      if (options_.grad_clip() > 0)
        torch::nn::utils::clip_grad_norm_(model_->parameters(), options_.grad_clip());
      state_->optimizer->step();
      ++state_->global_step;
      ++batches;
      totals.add(this_step);
      if (options_.progress() && writes()) {
        const double elapsed = std::chrono::duration<double>(clock::now() - start).count();
        const int width = 24, filled = static_cast<int>(width * batches / per_epoch);
        std::fprintf(stderr, "\repoch %lld/%lld [%s%s] %lld/%lld loss %.4f %s %.4f eta %s   ",
                     (long long)epoch + 1, (long long)options_.epochs(),
                     std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(),
                     (long long)batches, (long long)per_epoch, totals.loss(),
                     options_.metric_name().c_str(), totals.metric(),
                     format_seconds(elapsed / batches * (per_epoch - batches)).c_str());
      }
    }
    EpochRecord record;
    record.epoch = epoch + 1;
    record.train_loss = totals.loss();
    record.train_metric = totals.metric();
    record.learning_rate = learning_rate_at(state_->global_step - 1, total_steps);
    record.extra = totals.extra.values("train_");
    if (validation != nullptr) {
      const auto eval = evaluate(step, *validation);
      record.validation_loss = eval.loss;
      record.validation_metric = eval.metric;
      for (const auto& [name, value] : eval.extra) record.extra.emplace_back("val_" + name, value);
    }
    record.seconds = std::chrono::duration<double>(clock::now() - start).count();
    if (options_.log_epochs() && writes()) {
      std::string others;
      for (const auto& [name, value] : record.extra) {
        if (name.rfind("val_", 0) == 0) others += c10::str("  ", name, " ", value);
      }
      std::fprintf(
          stderr, "%sepoch %lld/%lld  loss %.4f  %s %.4f  val loss %.4f  val %s %.4f%s  (%s)%20s\n",
          options_.progress() ? "\r" : "", (long long)record.epoch, (long long)options_.epochs(),
          record.train_loss, options_.metric_name().c_str(), record.train_metric,
          record.validation_loss, options_.metric_name().c_str(), record.validation_metric,
          others.c_str(), format_seconds(record.seconds).c_str(), "");
    }
    records.push_back(record);
    state_->history.push_back(record);
    state_->next_epoch = epoch + 1;
    // Early stopping on the validation metric (the same on every rank: it is reduced).
    bool stop = false;
    if (validation != nullptr) {
      const double m = record.validation_metric;
      const bool better =
          std::isnan(state_->best_metric) ||
          (options_.higher_is_better() ? m > state_->best_metric : m < state_->best_metric);
      if (better) {
        state_->best_metric = m;
        state_->epochs_without_improvement = 0;
      } else if (++state_->epochs_without_improvement >= options_.early_stopping_patience() &&
                 options_.early_stopping_patience() > 0) {
        stop = true;
      }
    }
    const auto write_outputs = [&] {
      if (!writes()) return;
      if (!options_.checkpoint_path().empty()) save_checkpoint(epoch + 1);
      write_logs();
    };
    if (distributed())
      group->run_together(write_outputs, "writing the checkpoint and logs");
    else
      write_outputs();
    if (stop) {
      if (options_.log_epochs() && writes())
        std::fprintf(stderr, "early stopping: no better validation %s for %lld epochs\n",
                     options_.metric_name().c_str(), (long long)options_.early_stopping_patience());
      break;
    }
  }
  return records;
}

void Trainer::write_logs() const {
  // Logs are rewritten whole each epoch, so they always match the checkpoint.
  const auto names = extra_names(state_->history);
  if (!options_.metrics_csv().empty()) {
    std::ostringstream csv;
    csv << "epoch,train_loss,train_" << options_.metric_name() << ",val_loss,val_"
        << options_.metric_name() << ",learning_rate,seconds";
    for (const auto& name : names) csv << ',' << name;
    csv << '\n' << std::setprecision(8);
    for (const auto& r : state_->history) {
      csv << r.epoch << ',' << r.train_loss << ',' << r.train_metric << ',' << r.validation_loss
          << ',' << r.validation_metric << ',' << r.learning_rate << ',' << r.seconds;
      for (const auto& name : names) csv << ',' << extra_value(r, name);
      csv << '\n';
    }
    datasets::write_file_atomically(options_.metrics_csv(), csv.str());
  }
  if (!options_.metrics_json().empty()) {
    std::ostringstream json;
    json << "[" << std::setprecision(8);
    for (size_t i = 0; i < state_->history.size(); ++i) {
      const auto& r = state_->history[i];
      json << (i ? ",\n " : "\n ") << "{\"epoch\": " << r.epoch
           << ", \"train_loss\": " << r.train_loss << ", \"train_" << options_.metric_name()
           << "\": " << r.train_metric << ", \"val_loss\": " << r.validation_loss << ", \"val_"
           << options_.metric_name() << "\": " << r.validation_metric
           << ", \"learning_rate\": " << r.learning_rate << ", \"seconds\": " << r.seconds;
      for (const auto& name : names) {
        const double value = extra_value(r, name);
        json << ", \"" << name << "\": ";
        if (std::isfinite(value))
          json << value;
        else
          json << "null";
      }
      json << "}";
    }
    json << "\n]\n";
    datasets::write_file_atomically(options_.metrics_json(), json.str());
  }
}

Evaluation Trainer::evaluate(const StepFunction& step, datasets::DataLoader& loader) {
  const bool was_training = model_->is_training();
  model_->eval();
  torch::NoGradGuard no_grad;
  loader.start_epoch(0);
  Totals totals;
  while (auto batch = loader.next()) {
    const auto share = loader.last_share();
    const auto out = step(*batch);
    totals.add(out, out.loss.item<double>(), share.own > 0);
  }
  if (distributed()) {
    options_.process_group()->check_same(totals.layout(), "metrics",
                                         "comparing the evaluation's metrics");
    auto sums = torch::tensor(totals.to_vector(), torch::kDouble);
    std::vector<torch::Tensor> tensors{sums};
    options_.process_group()->all_reduce_sum(tensors, "summing the evaluation's metrics");
    totals.from_vector(
        std::vector<double>(sums.data_ptr<double>(), sums.data_ptr<double>() + sums.numel()));
  }
  Evaluation result;
  result.extra = totals.extra.values("");
  result.loss = totals.loss();
  result.metric = totals.metric();
  result.count = static_cast<int64_t>(totals.count);
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
    history.insert(history.end(), {double(r.epoch), r.train_loss, r.train_metric, r.validation_loss,
                                   r.validation_metric, r.learning_rate, r.seconds});
  }
  archive.write("history", torch::tensor(history, torch::kDouble));
  // Extra metrics: their names (newline-separated bytes) and an [epochs, names] table.
  const auto names = extra_names(state_->history);
  std::string joined;
  for (const auto& name : names) joined += name + "\n";
  std::vector<double> table;
  for (const auto& r : state_->history) {
    for (const auto& name : names) table.push_back(extra_value(r, name));
  }
  archive.write("history_extra_names",
                torch::tensor(std::vector<int64_t>(joined.begin(), joined.end()), torch::kLong));
  archive.write("history_extra", torch::tensor(table, torch::kDouble));
  std::ostringstream bytes;
  archive.save_to(bytes);
  datasets::write_file_atomically(options_.checkpoint_path(), bytes.str());
}

void Trainer::load_checkpoint(const std::string& bytes) {
  torch::serialize::InputArchive archive;
  try {
    std::istringstream stream(bytes);
    archive.load_from(stream);
  } catch (const c10::Error& e) {
    throw std::runtime_error(options_.checkpoint_path() +
                             ": not a readable topoformer checkpoint (" +
                             e.what_without_backtrace() + ")");
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
    state_->history.push_back({static_cast<int64_t>(h[i][0].item<double>()), h[i][1].item<double>(),
                               h[i][2].item<double>(), h[i][3].item<double>(),
                               h[i][4].item<double>(), h[i][5].item<double>(),
                               h[i][6].item<double>()});
  }
  torch::Tensor names_bytes, table;
  if (archive.try_read("history_extra_names", names_bytes) &&
      archive.try_read("history_extra", table)) {
    std::vector<std::string> names;
    std::string current;
    for (int64_t i = 0; i < names_bytes.numel(); ++i) {
      const char c = static_cast<char>(names_bytes[i].item<int64_t>());
      if (c == '\n') {
        names.push_back(current);
        current.clear();
      } else {
        current += c;
      }
    }
    if (!names.empty()) {
      const auto rows = table.view(
          {static_cast<int64_t>(state_->history.size()), static_cast<int64_t>(names.size())});
      for (size_t i = 0; i < state_->history.size(); ++i) {
        for (size_t j = 0; j < names.size(); ++j) {
          const double value = rows[i][j].item<double>();
          if (!std::isnan(value)) state_->history[i].extra.emplace_back(names[j], value);
        }
      }
    }
  }
}

}  // namespace topo::training
