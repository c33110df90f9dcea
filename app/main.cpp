// SPDX-License-Identifier: Apache-2.0
// The `topoformer` command: train, evaluate and predict with topologically masked linear
// attention models, and list the masks. Every flag comes from the run schema (run_config.h).
//
//   topoformer train --task pointcloud --dataset mnist --out runs/mnist
//   topoformer eval --out runs/mnist
//   topoformer predict --out runs/mn40 --input chair.off
//   topoformer masks
#include <c10/util/StringUtil.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <map>

#include "app/commands.h"
#include "app/run_config.h"
#include "attention/masks/registry.h"
#include "common/allocator.h"

namespace {

using topo::app::RunConfig;

/// The schema's settings as flags of `command` (all of them, or only those in `only`), their
/// raw text collected in `raw` and applied through the schema's checks afterwards.
struct Flags {
  std::map<std::string, std::vector<std::string>> raw;
  std::map<std::string, bool> switches;
  std::map<std::string, CLI::Option*> options;

  void add(CLI::App* command, const std::vector<std::string>& only = {}) {
    for (const auto& s : topo::app::run_schema()) {
      if (!only.empty() && std::find(only.begin(), only.end(), s.key) == only.end()) continue;
      auto help = s.help;
      if (!s.tasks.empty()) help += " [" + c10::Join(", ", s.tasks) + "]";
      const auto names = topo::app::flag_name(s) + (s.alias.empty() ? "" : "," + s.alias);
      if (s.default_value.index() == 0) {  // booleans are switches: --resume, --no-progress
        options[s.key] = command->add_flag(names, switches[s.key], help);
      } else if (s.default_value.index() == 4) {
        options[s.key] = command->add_option(names, raw[s.key], help)->allow_extra_args(false);
      } else {
        options[s.key] = command->add_option(names, raw[s.key], help)->expected(1);
      }
    }
  }

  /// The flags given on the command line, on top of `config`.
  void apply(RunConfig& config) const {
    for (const auto& [key, option] : options) {
      if (option->count() == 0) continue;
      const auto name = option->get_name();
      const auto* s = topo::app::find_setting(key);
      if (s->default_value.index() == 0) {
        config.set(key, name.rfind("--no-", 0) == 0 ? !switches.at(key) : switches.at(key), name);
      } else if (s->default_value.index() == 4) {
        config.set(key, raw.at(key), name);
      } else {
        config.set_text(key, raw.at(key).back(), name);
      }
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  topo::reuse_freed_memory();  // training reallocates the same large blocks (common/allocator.h)
  CLI::App app{
      "topoformer: topologically masked linear attention for point clouds, molecules and graphs"};
  app.require_subcommand(1);
  std::string config_file, out, input;
  Flags train_flags, eval_flags, predict_flags;

  auto* train = app.add_subcommand("train", "train a model (flags override --config)");
  train->add_option("--config", config_file, "JSON or YAML config file")->check(CLI::ExistingFile);
  train_flags.add(train);

  const char* rebuilt =
      "the model is rebuilt from <out>/config.json: architecture flags are not accepted here";
  auto* eval = app.add_subcommand("eval", "test metric of <out>/checkpoint.pt");
  eval->footer(rebuilt);
  eval->add_option("--out", out, "run folder")->required()->check(CLI::ExistingDirectory);
  eval_flags.add(eval, {"data", "batch_size", "workers", "threads", "votes"});

  auto* predict = app.add_subcommand("predict", "predictions of a trained run for new files");
  predict->footer(rebuilt);
  predict->add_option("--out", out, "run folder")->required()->check(CLI::ExistingDirectory);
  predict
      ->add_option("--input", input,
                   "pointcloud: a .ply/.pcd/.xyz cloud or .off/.obj/.stl mesh (3-D models) or an "
                   "MNIST folder "
                   "(digit models); molecules: an extended XYZ or SDF file; graph: a TU folder "
                   "(with --name)")
      ->required()
      ->check(CLI::ExistingPath);
  predict_flags.add(predict, {"batch_size", "threads", "name", "num_points", "votes"});

  auto* masks =
      app.add_subcommand("masks", "list the masks with their settings, ranges and defaults");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message; a usage error exits with 2 (as argparse does), --help with 0.
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    if (masks->parsed()) {
      std::cout << topo::attention::describe_masks();
      return 0;
    }
    RunConfig config;
    if (train->parsed()) {
      if (!config_file.empty()) config.read_file(config_file);
      train_flags.apply(config);
      return topo::app::train(config, std::vector<std::string>(argv, argv + argc));
    }
    if (eval->parsed()) {
      eval_flags.apply(config);
      return topo::app::evaluate(out, config);
    }
    predict_flags.apply(config);
    return topo::app::predict(out, input, config);
  } catch (const std::exception& e) {
    // A worker of a data-parallel job names its rank (most c10d errors already do).
    const auto message = topo::app::error_message(e);
    const char* rank = std::getenv("RANK");
    const bool named = rank == nullptr || message.rfind("rank ", 0) == 0;
    std::cerr << "topoformer: error: " << (named ? "" : c10::str("rank ", rank, ": ")) << message
              << "\n";
    return 1;
  }
}
