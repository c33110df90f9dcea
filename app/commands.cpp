// SPDX-License-Identifier: Apache-2.0
#include "app/commands.h"

#include <c10/util/Exception.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "app/launch.h"
#include "app/task.h"
#include "common/threads.h"
#include "datasets/batching.h"
#include "datasets/file_io.h"
#include "training/distributed.h"
#include "training/plots.h"

namespace topo::app {
namespace {

namespace fs = std::filesystem;

/// --threads, else TOPO_NUM_THREADS / OMP_NUM_THREADS, else the machine's hardware threads
/// shared among the processes of the job on this machine.
void set_threads(const RunConfig& c, int64_t local_processes = 1) {
  if (c.integer("threads") > 0) {
    topo::set_num_threads(c.integer("threads"));
  } else if (local_processes > 1 && std::getenv("TOPO_NUM_THREADS") == nullptr &&
             std::getenv("OMP_NUM_THREADS") == nullptr) {
    const int64_t hardware = std::max(1u, std::thread::hardware_concurrency());
    topo::set_num_threads(static_cast<int>(std::max<int64_t>(1, hardware / local_processes)));
  } else {
    topo::set_num_threads();
  }
}

/// `fn` on this process, or on every rank with errors shared (ProcessGroup::run_together).
void together(training::ProcessGroup* group, const std::function<void()>& fn, const char* what) {
  if (group != nullptr)
    group->run_together(fn, what);
  else
    fn();
}

/// A loader over `samples`; the training one (`train`) reshuffles every epoch and augments.
datasets::DataLoader loader(const std::vector<datasets::Sample>& samples, const RunConfig& c,
                            bool train, const datasets::Transform& augmentation,
                            const training::ProcessGroup* group = nullptr) {
  datasets::DataLoaderOptions o;
  if (group != nullptr) {
    o.num_replicas = group->size();
    o.rank = group->rank();
  }
  o.batch_size = c.integer("batch_size");
  o.shuffle = train;
  o.seed = static_cast<uint64_t>(c.integer("seed"));
  o.num_workers = c.integer("workers");
  o.transform = augmentation;
  return datasets::DataLoader(std::make_shared<const std::vector<datasets::Sample>>(samples), o);
}

training::TrainerOptions trainer_options(const RunConfig& c, const TaskRun& run) {
  const auto out = fs::path(c.text("out"));
  return training::TrainerOptions()
      .epochs(c.integer("epochs"))
      .learning_rate(c.real("lr"))
      .weight_decay(c.real("weight_decay"))
      .warmup_fraction(c.real("warmup"))
      .grad_clip(c.real("grad_clip"))
      .early_stopping_patience(c.integer("patience"))
      .higher_is_better(run.higher_is_better)
      .metric_name(run.metric)
      .checkpoint_path((out / "checkpoint.pt").string())
      .resume(c.flag("resume"))
      .metrics_csv((out / "metrics.csv").string())
      .metrics_json((out / "metrics.json").string())
      .progress(c.flag("progress"));
}

/// "test accuracy: 0.9725 (baseline 0.1205); 2000 samples, test loss 0.1602<suffix>": every
/// metric followed by its own baseline (the main one's, then each extra metric's).
void print_test(const TaskRun& run, const training::Evaluation& test, const std::string& suffix) {
  char shown[32];
  std::snprintf(shown, sizeof(shown), "%.4f", test.metric);
  std::string metrics = c10::str("test ", run.metric, ": ", shown);
  if (run.baseline) metrics += c10::str(" (baseline ", *run.baseline, ")");
  for (const auto& [name, value] : test.extra) {
    metrics += c10::str(", ", name, ": ", value);
    const auto baseline = run.extra_baselines.find(name);
    if (baseline != run.extra_baselines.end())
      metrics += c10::str(" (baseline ", baseline->second, ")");
  }
  std::printf("%s; %lld samples, test loss %.4f%s\n", metrics.c_str(), (long long)test.count,
              test.loss, suffix.c_str());
}

/// <out>/config.json as (settings, recorded), with `overrides` applied on top.
std::pair<RunConfig, nlohmann::json> read_run(const std::string& out, const RunConfig& overrides) {
  const auto path = (fs::path(out) / "config.json").string();
  if (!fs::exists(path))
    throw std::runtime_error(path + ": no such file (is --out the folder of a training run?)");
  RunConfig config;
  config.read_file(path);
  // Molecular runs trained before the density channels and C¹ profiles (2026-12-02) hold other
  // parameters and would compute something else: say so instead of failing on a tensor name.
  if (config.text("task") == "molecules" && !config.given("density_channels")) {
    throw std::runtime_error(path +
                             ": written by an older topoformer (molecular runs before the "
                             "density channels and C1 profiles of 2026-12-02); retrain the run");
  }
  config.set("out", out, "--out");
  for (const auto& key : overrides.given_keys())
    config.set(key, overrides.get(key), flag_name(*find_setting(key)));
  config.validate();
  const auto saved = nlohmann::json::parse(datasets::read_file(path));
  return {config, saved.value("recorded", nlohmann::json::object())};
}

/// Loads <out>/checkpoint.pt into `model`.
void load_trained(const std::shared_ptr<torch::nn::Module>& model, const std::string& out) {
  const auto checkpoint = (fs::path(out) / "checkpoint.pt").string();
  training::Trainer trainer(
      model, training::TrainerOptions().checkpoint_path(checkpoint).resume(true).progress(false));
  if (trainer.start_epoch() == 0) throw std::runtime_error(checkpoint + ": no checkpoint to load");
  model->eval();
}

}  // namespace

std::string error_message(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e))
    return c10_error->what_without_backtrace();
  return e.what();
}

int train(const RunConfig& given, const std::vector<std::string>& command_line) {
  const auto start = std::chrono::steady_clock::now();
  RunConfig config = given;
  const auto env = training::LaunchEnvironment::from_environment();
  if (env.launched) {
    // Under a launcher the job's size is the launcher's; config.json records it.
    if (config.given("nproc") && config.integer("nproc") != env.world_size) {
      throw std::runtime_error(c10::str("--nproc ", config.integer("nproc"),
                                        ": this process was started by a launcher with "
                                        "WORLD_SIZE = ",
                                        env.world_size, "; give --nproc only without a launcher"));
    }
    config.set("nproc", env.world_size, "WORLD_SIZE");
  }
  config.validate();
  if (!env.launched && config.integer("nproc") > 1) {
    TORCH_CHECK(!command_line.empty(), "train: nproc > 1 needs the command line to start workers");
    return launch_workers(config.integer("nproc"), command_line);
  }
  set_threads(config, env.local_world_size);
  std::shared_ptr<training::ProcessGroup> group;
  if (env.world_size > 1) group = training::ProcessGroup::create(env, config.real("dist_timeout"));
  const bool writes = env.rank == 0;
  const auto out = fs::path(config.text("out"));
  const auto& task = app::task(config.text("task"));
  TaskRun run;
  together(
      group.get(), [&] { run = task.prepare(config); }, "reading the data");
  const auto config_path = (out / "config.json").string();
  together(
      group.get(),
      [&] {
        if (!writes) return;
        fs::create_directories(out);
        nlohmann::json saved = config.to_json();
        saved["recorded"] = run.recorded;
        if (config.flag("resume") && fs::exists(config_path)) {
          // A resumed run must be the run that wrote the checkpoint: compare before touching
          // anything. The number of processes may differ.
          const auto previous = nlohmann::json::parse(datasets::read_file(config_path));
          // A setting added after that run was written (absent from its file) matches when this
          // run has the setting's default, which is what the run used.
          RunConfig defaults;  // the defaults of this task and dataset (augment differs by it)
          defaults.set("task", config.text("task"), "--task");
          defaults.set("dataset", config.text("dataset"), "--dataset");
          const auto default_json = defaults.to_json();
          for (const char* part : {"data", "model", "recorded"}) {
            const auto before = previous.value(part, nlohmann::json::object()),
                       now = saved.value(part, nlohmann::json::object());
            for (auto it = now.begin(); it != now.end(); ++it) {
              if (std::string(part) == "data" && (it.key() == "workers" || it.key() == "data"))
                continue;
              if (!before.contains(it.key()) && std::string(part) != "recorded" &&
                  default_json.value(part, nlohmann::json::object())
                          .value(it.key(), nlohmann::json()) == it.value())
                continue;
              if (!before.contains(it.key()) || before[it.key()] != it.value()) {
                throw std::runtime_error(
                    "--resume: " + config_path + " has " + part + "." + it.key() + " = " +
                    (before.contains(it.key()) ? before[it.key()].dump() : std::string("(none)")) +
                    ", this run " + it.value().dump() + "; resume with the run's own settings");
              }
            }
          }
        }
        std::string record;
        try {
          record = saved.dump(2) + "\n";
        } catch (const nlohmann::json::type_error&) {  // settings are checked; data names not
          throw std::runtime_error(config_path +
                                   ": cannot record the run: a class or file name read from the "
                                   "data is not UTF-8 text (JSON holds only UTF-8); rename it");
        }
        datasets::write_file_atomically(config_path, record);
        std::cerr << "topoformer: " << run.train.size() << " training, " << run.validation.size()
                  << " validation, " << run.test.size() << " test samples; "
                  << topo::parallel_info()
                  << (group ? c10::str("; ", group->size(), " processes (c10d Gloo)") : "") << "\n";
      },
      "recording the run");
  training::Trainer trainer(run.model, trainer_options(config, run).process_group(group));
  auto train_loader = loader(run.train, config, true, run.augmentation, group.get());
  auto validation_loader = loader(run.validation, config, false, {}, group.get());
  auto test_loader = loader(run.test, config, false, {}, group.get());
  trainer.fit(run.step, train_loader, &validation_loader);
  bool drew = false;
  together(
      group.get(),
      [&] {
        if (!writes) return;
        training::plot_learning_curves(
            (out / "metrics.csv").string(), (out / "learning_curves.png").string(),
            config.text("task") + " (" + config.text("dataset") + ")", run.baseline);
        drew = run.draw && run.draw(out.string());
      },
      "drawing the run");
  const auto test = trainer.evaluate(run.test_step ? run.test_step : run.step, test_loader);
  if (!writes) return 0;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  print_test(run, test, c10::str(", ", static_cast<int64_t>(seconds), " s"));
  std::printf(
      "outputs in %s: config.json, checkpoint.pt, metrics.csv, metrics.json, "
      "learning_curves.png%s\n",
      out.string().c_str(), drew ? ", rpe_layer1.png" : "");
  return 0;
}

int evaluate(const std::string& out, const RunConfig& overrides) {
  auto [config, recorded] = read_run(out, overrides);
  set_threads(config);
  auto run = app::task(config.text("task")).prepare(config);
  load_trained(run.model, out);
  training::Trainer trainer(run.model,
                            training::TrainerOptions().progress(false).metric_name(run.metric));
  auto test_loader = loader(run.test, config, false, {});
  print_test(run, trainer.evaluate(run.test_step ? run.test_step : run.step, test_loader), "");
  return 0;
}

TrainedRun load_run(const std::string& out) {
  auto [config, recorded] = read_run(out, RunConfig());
  auto model = app::task(config.text("task")).build_model(config, recorded);
  load_trained(model, out);
  return {config, recorded, model};
}

int predict(const std::string& out, const std::string& input, const RunConfig& overrides) {
  auto [config, recorded] = read_run(out, overrides);
  set_threads(config);
  const auto& task = app::task(config.text("task"));
  auto model = task.build_model(config, recorded);
  load_trained(model, out);
  task.predict(config, recorded, *model, input);
  return 0;
}

}  // namespace topo::app
