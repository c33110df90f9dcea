// SPDX-License-Identifier: Apache-2.0
// The run configuration: the same checks for flags, JSON and YAML (exact types, ranges, unknown,
// duplicate and misplaced keys, keys of another task, keys without effect), config.json records
// the task's settings only and reads back to the same run, and every model setting of every task
// changes the model it builds.
#include "app/run_config.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "app/task.h"
#include "datasets/transforms.h"
#include "models/graph_attention.h"
#include "models/molecular_transformer.h"
#include "models/point_cloud_classifier.h"
#include "support/tensor_assertions.h"

namespace topo::app {
namespace {

namespace fs = std::filesystem;

std::string write(const std::string& name, const std::string& text) {
  const auto path =
      fs::temp_directory_path() / ("topo_run_config_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

RunConfig from_file(const std::string& name, const std::string& text) {
  RunConfig config;
  config.read_file(write(name, text));
  return config;
}

TEST(RunConfig, FilesAndFlagsAreCheckedAlike) {
  EXPECT_THROW_WITH(from_file("a.json", R"({"epochs": 2.5})"),
                    "a.json: \"epochs\" must be an integer, got 2.5");
  EXPECT_THROW_WITH(from_file("b.yaml", "grad_clip: -1\n"),
                    "b.yaml: \"grad_clip\" must be in [0, 1e+09], got -1");
  EXPECT_THROW_WITH(from_file("c.json", R"({"lr": 0.1, "lr": 0.2})"),
                    "c.json: key \"lr\" is given twice");
  EXPECT_THROW_WITH(from_file("d.yaml", "lr: 0.1\nepochs: 3\nlr: 0.2\n"),
                    "d.yaml:3: key \"lr\" is given twice");
  EXPECT_THROW_WITH(from_file("e.json", R"({"seed": 99999999999999999999})"),
                    "e.json: \"seed\" must be an integer");
  EXPECT_THROW_WITH(from_file("f.yaml", "learning_rate: 0.1\n"),
                    "f.yaml:1: unknown key \"learning_rate\"");
  EXPECT_THROW_WITH(from_file("g.json", R"({"model": {"epochs": 3}})"),
                    "g.json: \"epochs\" belongs to section \"training\", not \"model\"");
  EXPECT_THROW_WITH(from_file("h.yaml", "epochs: \"3\"\n"),
                    "h.yaml: \"epochs\" must be an integer, got \"3\"");
  EXPECT_THROW_WITH(from_file("i.json", R"({"data": {"task": "graph"}, "task": "graph"})"),
                    "i.json: key \"task\" is given twice");
  EXPECT_EQ(from_file("j.yaml", "threads: 2\nepochs: 3\n").integer("threads"),
            2);  // threads is a key too
  RunConfig flags;
  EXPECT_THROW_WITH(flags.set_text("epochs", "1e20", "--epochs"),
                    "--epochs: \"epochs\" must be an integer, got \"1e20\"");
  EXPECT_THROW_WITH(flags.set_text("epochs", "100000000", "--epochs"),
                    "must be in [1, 100000], got 100000000");
  EXPECT_THROW_WITH(flags.set_text("seed", "99999999999999999999", "--seed"),
                    "must be an integer that fits in 64 bits");
  EXPECT_THROW_WITH(flags.set_text("feature_map", "gelu", "--feature-map"),
                    "must be one of \"softmax\"");
  EXPECT_THROW_WITH(
      flags.set("masks", std::vector<std::string>{"diffusion:tme=1"}, "--mask"),
      "--mask: \"masks\" entry \"diffusion:tme=1\": make_mask(\"diffusion\"): `settings`");
  flags.set_text("lr", "3", "--lr");  // an integer is a number
  EXPECT_EQ(flags.real("lr"), 3.0);
  // config.json records settings as JSON (UTF-8 only): a Latin-1 path is refused up front, not
  // after training with `[json.exception.type_error.316]`.
  EXPECT_THROW_WITH(flags.set_text("data", "/data/caf\xe9.xyz", "--data"),
                    "--data: \"data\" must be UTF-8 text (config.json records it), got "
                    "\"/data/caf\\xE9.xyz\" with a non-UTF-8 byte at offset 9");
  flags.set_text("data", "/data/caf\xc3\xa9.xyz", "--data");  // UTF-8 é is fine
  EXPECT_EQ(flags.text("data"), "/data/caf\xc3\xa9.xyz");
  EXPECT_THROW_WITH(flags.set("masks", std::vector<std::string>{"causal\xff"}, "--mask"),
                    "\"masks\" must be UTF-8 text");
  // What JSON writers refuse: overlong forms, surrogates, code points above U+10FFFF, a
  // sequence cut short.
  for (const char* bad : {"\xc0\xaf", "\xe0\x80\x80", "\xed\xa0\x80", "\xf5\x80\x80\x80",
                          "\xf4\x90\x80\x80", "a\xe2\x82"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW_WITH(flags.set_text("out", bad, "--out"), "must be UTF-8 text");
  }
  flags.set_text("out", "runs/\xf0\x9f\x90\x8d", "--out");  // U+1F40D is fine
}

TEST(RunConfig, SettingsOfAnotherTaskOrWithoutEffectAreErrors) {
  RunConfig molecules;
  molecules.set_text("task", "molecules", "--task");
  molecules.set_text("data", "x.extxyz", "--data");
  molecules.set_text("knn", "8", "--knn");
  EXPECT_THROW_WITH(molecules.validate(),
                    "--knn: \"knn\" applies to --task pointcloud, not molecules");
  RunConfig contradiction;
  contradiction.set_text("task", "graph", "--task");
  contradiction.set_text("dataset", "mnist", "--dataset");
  EXPECT_THROW_WITH(contradiction.validate(),
                    "--dataset: \"dataset\" \"mnist\" is not a graph dataset (tu)");
  RunConfig clouds;
  clouds.set_text("knn", "8", "--knn");
  EXPECT_THROW_WITH(clouds.validate(), "--knn: \"knn\" has no effect without a graph mask");
  clouds.set("masks", std::vector<std::string>{"flt", "adjacency"}, "--mask");
  clouds.validate();
  clouds.set_text("downsample_ratio", "0.5", "--downsample-ratio");
  EXPECT_THROW_WITH(clouds.validate(), "\"downsample_ratio\" has no effect with stages = 1");
  RunConfig heads;
  heads.set_text("heads", "3", "--heads");
  EXPECT_THROW_WITH(heads.validate(), "--heads: \"heads\" (3) must divide \"embed_dim\" (64)");
  RunConfig no_radius_graph;
  no_radius_graph.set_text("task", "molecules", "--task");
  no_radius_graph.set_text("data", "x.extxyz", "--data");
  no_radius_graph.set("masks", std::vector<std::string>{"flt"}, "--mask");
  no_radius_graph.set_text("cutoff", "4", "--cutoff");
  no_radius_graph.validate();  // the density channels use it
  no_radius_graph.set_text("density_channels", "0", "--density-channels");
  EXPECT_THROW_WITH(no_radius_graph.validate(), "--cutoff: \"cutoff\" has no effect");
  RunConfig deterministic;
  deterministic.set_text("task", "graph", "--task");
  deterministic.set_text("data", "TU", "--data");
  deterministic.set_text("features", "16", "--features");
  EXPECT_THROW_WITH(
      deterministic.validate(),
      "--features: \"features\" has no effect with the deterministic feature map elu");
  deterministic.set_text("feature_map", "softmax-exact", "--feature-map");
  EXPECT_THROW_WITH(deterministic.validate(),
                    "\"features\" has no effect with the deterministic feature map softmax-exact");
  // softmax-exact with the graph task's default mask, diffusion (not sparse): the model is
  // refused when built, which `train` does before it writes the run folder.
  RunConfig exact;
  exact.set_text("task", "graph", "--task");
  exact.set_text("data", "TU", "--data");
  exact.set_text("feature_map", "softmax-exact", "--feature-map");
  exact.validate();
  const nlohmann::json graph_inputs = {{"in_features", 3}, {"num_classes", 2}};
  EXPECT_THROW_WITH(app::task("graph").build_model(exact, graph_inputs),
                    "the softmax-exact feature map needs one sparse mask (adjacency, local-rpe)");
  exact.set("masks", std::vector<std::string>{"adjacency"}, "--mask");
  EXPECT_NE(app::task("graph").build_model(exact, graph_inputs), nullptr);
  RunConfig no_data;
  no_data.set_text("task", "graph", "--task");
  EXPECT_THROW_WITH(no_data.validate(), "--data: required for --dataset tu");
}

TEST(RunConfig, ConfigJsonRecordsTheTasksSettingsAndReadsBackToTheSameRun) {
  RunConfig clouds;
  const auto j = clouds.to_json();
  EXPECT_FALSE(j["data"].contains("name"));     // a TU setting
  EXPECT_FALSE(j["model"].contains("cutoff"));  // a molecule setting
  EXPECT_FALSE(j["model"].contains("knn"));     // no graph mask and one stage: knn is unused
  EXPECT_FALSE(j["data"].contains("threads"));  // how it ran, not what
  EXPECT_EQ(j["model"]["feature_map"], "softmax");
  EXPECT_EQ(j["model"]["masks"], nlohmann::json::array({"flt:features=16,length_scale=0.3"}));
  RunConfig molecules;
  molecules.set_text("task", "molecules", "--task");
  const auto m = molecules.to_json();
  EXPECT_EQ(m["model"]["feature_map"], "elu");  // the task's default, recorded as what ran
  EXPECT_EQ(m["model"]["dropout"], 0.0);
  EXPECT_EQ(m["model"]["masks"], nlohmann::json::array({"local-rpe"}));
  EXPECT_TRUE(m["model"].contains("cutoff"));
  auto written = m;
  written["recorded"] = {{"with_forces", true}};
  const auto reread = from_file("config.json", written.dump(2));
  EXPECT_EQ(reread.to_json(), m);
}

TEST(RunConfig, AugmentationsFollowTheDatasetAndAreRecordedAsTheyRan) {
  datasets::Sample cloud;
  cloud.pos = torch::rand({20, 3}) * 2 - 1;
  const auto applied = [&](const datasets::Transform& t) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
    return t(cloud, gen).pos;
  };
  RunConfig digits;  // pointcloud on mnist: mild scaling and jitter
  EXPECT_EQ(digits.to_json()["data"]["augment"],
            nlohmann::json::array({"scale:low=0.85,high=1.15", "jitter:sigma=0.02,clip=0.05"}));
  EXPECT_TRUE(applied(digits.augmentation())
                  .equal(applied(datasets::compose(
                      {datasets::random_scale(0.85, 1.15), datasets::random_jitter(0.02, 0.05)}))));
  RunConfig shapes;  // ModelNet: rotations about z as well
  shapes.set_text("dataset", "modelnet", "--dataset");
  EXPECT_EQ(shapes.to_json()["data"]["augment"],
            nlohmann::json::array(
                {"rotate:degrees=180", "scale:low=0.8,high=1.25", "jitter:sigma=0.01,clip=0.05"}));
  EXPECT_FALSE(applied(shapes.augmentation()).equal(applied(digits.augmentation())));
  RunConfig given;
  given.set("augment", std::vector<std::string>{"rotate:degrees=15", "dropout:max_ratio=0.2"},
            "--augment");
  EXPECT_EQ(given.to_json()["data"]["augment"],
            nlohmann::json::array({"rotate:degrees=15", "dropout:max_ratio=0.2"}));
  EXPECT_TRUE(applied(given.augmentation())
                  .equal(applied(datasets::compose(
                      {datasets::random_rotate(true, 15), datasets::random_point_dropout(0.2)}))));
  RunConfig none;
  none.set("augment", std::vector<std::string>{"none"}, "--augment");
  EXPECT_FALSE(static_cast<bool>(none.augmentation()));
  EXPECT_THROW_WITH(none.set("augment", std::vector<std::string>{"none", "jitter"}, "--augment"),
                    "\"none\" cannot be combined");
  EXPECT_THROW_WITH(none.set("augment", std::vector<std::string>{"jitter:amount=2"}, "--augment"),
                    "--augment: \"augment\" entry augmentation \"jitter:amount=2\"");
  // Classification tasks only; label smoothing is recorded with the training settings.
  EXPECT_EQ(digits.to_json()["training"]["label_smoothing"], 0.0);
  RunConfig molecules;
  molecules.set_text("task", "molecules", "--task");
  EXPECT_FALSE(molecules.to_json()["data"].contains("augment"));
  EXPECT_FALSE(molecules.to_json()["training"].contains("label_smoothing"));
  molecules.set_text("data", "x.extxyz", "--data");
  molecules.set_text("label_smoothing", "0.1", "--label-smoothing");
  EXPECT_THROW_WITH(molecules.validate(), "\"label_smoothing\" applies to --task pointcloud");
}

/// A fixed batch through `model` in eval mode (after seeding), by task.
torch::Tensor output(const std::string& task, torch::nn::Module& module) {
  module.eval();
  torch::manual_seed(9);
  if (task == "pointcloud") {
    auto& model = dynamic_cast<models::PointCloudClassifierImpl&>(module);
    return model.forward(torch::rand({2, 12, 2}) * 2 - 1, torch::rand({2, 12, 1}));
  }
  if (task == "molecules") {
    auto& model = dynamic_cast<models::MolecularTransformerImpl&>(module);
    return model.forward(torch::tensor({{6, 1, 1, 8, 1}, {6, 6, 1, 1, 8}}),
                         torch::randn({2, 5, 3}) * 1.5);
  }
  auto& model = dynamic_cast<models::GraphTransformerImpl&>(module);
  const auto edges = torch::tensor({{0, 1, 2, 3, 4, 5}, {1, 2, 3, 0, 5, 6}});
  return model.forward(torch::rand({7, 3}), edges, torch::tensor({0, 0, 0, 0, 1, 1, 1}));
}

std::string signature(const std::string& task, const RunConfig& config,
                      const nlohmann::json& recorded) {
  auto model = app::task(task).build_model(config, recorded);
  std::ostringstream out;
  out << *model << output(task, *model);
  return out.str();
}

TEST(RunConfig, EveryModelSettingChangesTheModel) {
  const std::map<std::string, nlohmann::json> recorded = {
      {"pointcloud", {{"pos_dim", 2}, {"feature_dim", 1}, {"num_classes", 3}}},
      {"molecules", {{"with_forces", false}, {"elements", {1, 6, 8}}}},
      {"graph", {{"in_features", 3}, {"num_classes", 2}}}};
  // Base runs small enough to build fast, with every model setting in effect (two stages and
  // a graph mask make knn and downsample_ratio matter).
  const std::map<std::string, std::map<std::string, Value>> base = {
      {"pointcloud",
       {{"embed_dim", int64_t{16}},
        {"heads", int64_t{2}},
        {"layers", int64_t{2}},
        {"features", int64_t{8}},
        {"stages", int64_t{2}},
        {"knn", int64_t{3}},
        {"downsample_ratio", 0.5},
        {"masks", std::vector<std::string>{"flt:features=4", "adjacency"}}}},
      {"molecules",
       {{"embed_dim", int64_t{16}},
        {"heads", int64_t{2}},
        {"layers", int64_t{1}},
        {"features", int64_t{8}},
        {"feature_map", std::string("softmax")}}},
      {"graph",
       {{"embed_dim", int64_t{16}},
        {"heads", int64_t{2}},
        {"layers", int64_t{1}},
        {"features", int64_t{8}},
        {"feature_map", std::string("softmax")}}}};
  const std::map<std::string, Value> changed = {{"embed_dim", int64_t{24}},
                                                {"heads", int64_t{4}},
                                                {"layers", int64_t{3}},
                                                {"features", int64_t{12}},
                                                {"feature_map", std::string("relu")},
                                                {"masks", std::vector<std::string>{"none"}},
                                                {"dropout", 0.37},
                                                {"knn", int64_t{5}},
                                                {"stages", int64_t{1}},
                                                {"downsample_ratio", 0.75},
                                                {"cutoff", 2.5},
                                                {"density_channels", int64_t{4}},
                                                {"readout", std::string("mean")},
                                                {"voxels", std::string("4x4")}};
  for (const auto& task : {"pointcloud", "molecules", "graph"}) {
    RunConfig config;
    config.set("task", std::string(task), "test");
    for (const auto& [key, value] : base.at(task)) config.set(key, value, "test");
    const auto reference = signature(task, config, recorded.at(task));
    int checked = 0;
    for (const auto& s : run_schema()) {
      if (s.section != Section::kModel) continue;
      if (!s.tasks.empty() && std::find(s.tasks.begin(), s.tasks.end(), task) == s.tasks.end())
        continue;
      ASSERT_TRUE(changed.count(s.key))
          << "model setting \"" << s.key << "\" has no changed value in this test";
      RunConfig other = config;
      other.set(s.key, changed.at(s.key), "test");
      std::string reference_here = reference;
      if (s.key == "voxels") {  // voxel tokens take one stage and no graph mask: compare with that
        RunConfig points = config;
        points.set("stages", int64_t{1}, "test");
        points.set("masks", std::vector<std::string>{"flt:features=4"}, "test");
        reference_here = signature(task, points, recorded.at(task));
        other = points;
        other.set("voxels", changed.at("voxels"), "test");
      }
      EXPECT_NE(signature(task, other, recorded.at(task)), reference_here)
          << task << ": " << s.key << " changed nothing";
      ++checked;
    }
    EXPECT_GE(checked, 7) << task;
  }
}

}  // namespace
}  // namespace topo::app
