// SPDX-License-Identifier: Apache-2.0
// The `topoformer` command: train, evaluate and predict with topologically masked linear
// attention models. Flags or a JSON config file (flags override the file).
//
//   topoformer train --task pointcloud --dataset mnist --data examples/data/mnist_10k --out runs/mnist
//   topoformer eval  --task pointcloud --dataset mnist --data examples/data/mnist_10k --out runs/mnist
//   topoformer predict --task pointcloud --out runs/mnist --input cloud.ply
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "common/threads.h"
#include "datasets/batching.h"
#include "datasets/file_io.h"
#include "datasets/graphs.h"
#include "datasets/molecules.h"
#include "datasets/parsers/text_parsing.h"
#include "datasets/point_clouds.h"
#include "datasets/transforms.h"
#include "models/plots.h"
#include "models/graph_attention.h"
#include "models/molecular_transformer.h"
#include "models/point_cloud_classifier.h"
#include "models/trainer.h"

namespace {

using namespace topo;
namespace fs = std::filesystem;

struct Config {
  std::string task = "pointcloud";
  std::string dataset = "mnist";  // mnist | modelnet | modelnet-h5
  std::string data;
  std::string out = "runs/topoformer";
  std::string input;              // predict
  std::string feature_map = "softmax";  // softmax | relu | elu
  std::string name = "MUTAG";           // TU dataset name (--task graph)
  std::string graph_mask = "";          // none | adjacency | diffusion | random-walk | grf | spanning-tree
                                        // ("": the task's default, diffusion for graphs, none for clouds)
  std::string target = "energy";        // molecules: header key (extxyz) or QM9 property
  double force_weight = 10.0, cutoff = 5.0;
  int64_t epochs = 10, batch_size = 32, workers = 1, seed = 0, threads = 0;
  int64_t num_points = 1024;      // modelnet sampling
  int64_t knn = 16, stages = 1;   // point clouds: kNN graph masks, FPS stages
  int64_t flt_features = 0;       // molecules: FLT spectral RPE frequencies (0: none)
  double downsample_ratio = 0.25;
  int64_t embed_dim = 64, heads = 4, layers = 3, features = 32, rpe_features = 16;
  double rpe_length_scale = 0.3, dropout = 0.1, lr = 3e-3, weight_decay = 0.02, warmup = 0.05, grad_clip = 1.0;
  int64_t patience = 0;
  bool resume = false, progress = true;
};

void to_json(nlohmann::json& j, const Config& c) {
  j = {{"task", c.task}, {"dataset", c.dataset}, {"data", c.data}, {"out", c.out}, {"epochs", c.epochs},
       {"batch_size", c.batch_size}, {"workers", c.workers}, {"seed", c.seed}, {"num_points", c.num_points},
       {"embed_dim", c.embed_dim}, {"heads", c.heads}, {"layers", c.layers}, {"features", c.features},
       {"rpe_features", c.rpe_features}, {"feature_map", c.feature_map}, {"name", c.name},
       {"graph_mask", c.graph_mask}, {"target", c.target}, {"force_weight", c.force_weight}, {"cutoff", c.cutoff}, {"rpe_length_scale", c.rpe_length_scale}, {"dropout", c.dropout},
       {"lr", c.lr}, {"weight_decay", c.weight_decay}, {"warmup", c.warmup}, {"grad_clip", c.grad_clip},
       {"patience", c.patience}, {"knn", c.knn}, {"stages", c.stages}, {"downsample_ratio", c.downsample_ratio},
       {"flt_features", c.flt_features}};
}

/// Values a config file may hold but the flags' own checks never saw.
void validate(const Config& c, const std::string& source) {
  const auto one_of = [&](const char* key, const std::string& value, std::initializer_list<const char*> choices) {
    std::string list;
    for (const char* choice : choices) {
      if (value == choice) return;
      list += std::string(list.empty() ? "" : ", ") + "\"" + choice + "\"";
    }
    throw std::runtime_error(source + ": \"" + key + "\" must be one of " + list + ", got \"" + value + "\"");
  };
  const auto positive = [&](const char* key, double value) {
    if (!(value > 0)) throw std::runtime_error(source + ": \"" + key + "\" must be positive, got " + std::to_string(value));
  };
  one_of("task", c.task, {"pointcloud", "molecules", "graph"});
  one_of("dataset", c.dataset, {"mnist", "modelnet", "extxyz", "qm9", "tu"});
  one_of("feature_map", c.feature_map, {"softmax", "relu", "elu"});
  one_of("graph_mask", c.graph_mask, {"", "none", "adjacency", "diffusion", "random-walk", "grf", "spanning-tree"});
  for (const auto& [key, value] : {std::pair<const char*, double>{"epochs", c.epochs}, {"batch_size", c.batch_size},
                                   {"embed_dim", c.embed_dim}, {"heads", c.heads}, {"layers", c.layers},
                                   {"features", c.features}, {"knn", c.knn}, {"stages", c.stages},
                                   {"num_points", c.num_points}, {"lr", c.lr}, {"cutoff", c.cutoff}}) {
    positive(key, value);
  }
  for (const auto& [key, value] : {std::pair<const char*, int64_t>{"flt_features", c.flt_features}, {"rpe_features", c.rpe_features},
                                   {"workers", c.workers}, {"patience", c.patience}}) {
    if (value < 0) throw std::runtime_error(source + ": \"" + key + "\" must be >= 0, got " + std::to_string(value));
  }
  if (!(c.downsample_ratio > 0 && c.downsample_ratio <= 1)) {
    throw std::runtime_error(source + ": \"downsample_ratio\" must be in (0, 1], got " + std::to_string(c.downsample_ratio));
  }
}

/// A YAML mapping of scalars as JSON (numbers stay numbers, true/false booleans).
nlohmann::json yaml_to_json(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) throw std::runtime_error(path + ": expected a YAML mapping of option: value");
  nlohmann::json j = nlohmann::json::object();
  for (const auto& item : node) {
    const auto key = item.first.as<std::string>();
    const auto& value = item.second;
    if (!value.IsScalar()) throw std::runtime_error(path + ": option \"" + key + "\" must be a single value");
    const auto text = value.Scalar();
    int64_t integer = 0;
    double number = 0;
    if (datasets::parse_int(text, integer)) j[key] = integer;
    else if (datasets::parse_double(text, number)) j[key] = number;
    else if (text == "true" || text == "false") j[key] = text == "true";
    else j[key] = text;
  }
  return j;
}

/// Reads a JSON or YAML (.yaml/.yml) config; unknown keys are an error (a typo must not be
/// silently ignored).
void load_config(const std::string& path, Config& c) {
  nlohmann::json j;
  const auto ext = fs::path(path).extension().string();
  try {
    if (ext == ".yaml" || ext == ".yml") {
      j = yaml_to_json(YAML::Load(datasets::read_file(path)), path);
    } else {
      j = nlohmann::json::parse(datasets::read_file(path));
    }
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON: " + e.what());
  } catch (const YAML::Exception& e) {
    throw std::runtime_error(path + ": not valid YAML: " + e.what());
  }
  nlohmann::json known;
  to_json(known, c);
  for (const char* recorded : {"pos_dim", "feature_dim", "num_classes", "class_names", "in_features", "node_label_values",
                               "with_forces"}) {
    known[recorded] = nullptr;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!known.contains(it.key())) throw std::runtime_error(path + ": unknown key \"" + it.key() + "\"");
  }
  const auto get = [&](const char* key, auto& field) {
    if (j.contains(key)) {
      try {
        field = j.at(key).get<std::decay_t<decltype(field)>>();
      } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error(path + ": key \"" + key + "\" has the wrong type (" + e.what() + ")");
      }
    }
  };
  get("task", c.task); get("dataset", c.dataset); get("data", c.data); get("out", c.out); get("epochs", c.epochs);
  get("batch_size", c.batch_size); get("workers", c.workers); get("seed", c.seed); get("num_points", c.num_points);
  get("embed_dim", c.embed_dim); get("heads", c.heads); get("layers", c.layers); get("features", c.features);
  get("rpe_features", c.rpe_features); get("feature_map", c.feature_map); get("name", c.name);
  get("graph_mask", c.graph_mask); get("target", c.target); get("force_weight", c.force_weight); get("cutoff", c.cutoff); get("rpe_length_scale", c.rpe_length_scale); get("dropout", c.dropout);
  get("lr", c.lr); get("weight_decay", c.weight_decay); get("warmup", c.warmup); get("grad_clip", c.grad_clip);
  get("patience", c.patience); get("knn", c.knn); get("stages", c.stages); get("downsample_ratio", c.downsample_ratio);
  get("flt_features", c.flt_features);
  validate(c, path);
}

struct PointCloudData {
  std::vector<datasets::Sample> train, validation, test;
  int64_t num_classes = 0, pos_dim = 0, feature_dim = 0;
  std::vector<std::string> class_names;
};

/// MNIST digits: pixel coordinates scaled to [−1, 1], intensity as the feature. The bundled
/// file is sorted by digit, so the fixed split is a seeded permutation (seed 0, independent
/// of --seed): 8,000 train (7,500 + 500 validation) and 2,000 test.
PointCloudData load_point_clouds(const Config& c) {
  PointCloudData d;
  if (c.dataset == "mnist") {
    auto digits = datasets::read_mnist((fs::path(c.data) / "images-idx3-ubyte.gz").string(),
                                       (fs::path(c.data) / "labels-idx1-ubyte.gz").string());
    for (auto& s : digits) s.pos = (s.pos - 13.5f) / 13.5f;
    const int64_t n = static_cast<int64_t>(digits.size());
    const auto split = datasets::random_split(n, {0.75, 0.05, 0.2}, /*seed=*/0);
    d.train = datasets::select(digits, split[0]);
    d.validation = datasets::select(digits, split[1]);
    d.test = datasets::select(digits, split[2]);
    d.num_classes = 10;
    d.pos_dim = 2;
    d.feature_dim = 1;
    for (int i = 0; i < 10; ++i) d.class_names.push_back(std::to_string(i));
  } else if (c.dataset == "modelnet") {
    datasets::ModelNetOptions o;
    o.root = c.data;
    o.num_points = c.num_points;
    o.seed = static_cast<uint64_t>(c.seed);
    o.cache_dir = (fs::path(c.out) / "cache").string();
    auto train = datasets::read_modelnet(o);
    o.split = "test";
    auto test = datasets::read_modelnet(o);
    const auto parts = datasets::random_split(static_cast<int64_t>(train.samples.size()), {0.9, 0.1}, c.seed);
    d.train = datasets::select(train.samples, parts[0]);
    d.validation = datasets::select(train.samples, parts[1]);
    d.test = test.samples;
    d.num_classes = static_cast<int64_t>(train.class_names.size());
    d.class_names = train.class_names;
    d.pos_dim = 3;
  } else {
    throw std::runtime_error("--dataset must be mnist or modelnet, got \"" + c.dataset + "\"");
  }
  if (d.pos_dim == 3) {
    for (auto* split : {&d.train, &d.validation, &d.test}) {
      for (auto& s : *split) s = datasets::normalize_scale()(s, std::nullopt);
    }
  }
  return d;
}

models::GraphMaskKind graph_mask_kind(const std::string& name) {
  if (name == "none") return models::GraphMaskKind::kNone;
  if (name == "adjacency") return models::GraphMaskKind::kAdjacency;
  if (name == "random-walk") return models::GraphMaskKind::kRandomWalkKernel;
  if (name == "grf") return models::GraphMaskKind::kGraphRandomFeatures;
  if (name == "spanning-tree") return models::GraphMaskKind::kSpanningTree;
  if (name == "diffusion") return models::GraphMaskKind::kDiffusion;
  throw std::runtime_error("graph mask must be none, adjacency, diffusion, random-walk, grf or spanning-tree, got \"" +
                           name + "\"");
}

models::PointCloudClassifier make_model(const Config& c, const PointCloudData& d) {
  return models::PointCloudClassifier(models::PointCloudClassifierOptions(d.pos_dim, d.feature_dim, d.num_classes)
                                          .embed_dim(c.embed_dim)
                                          .num_heads(c.heads)
                                          .num_layers(c.layers)
                                          .num_features(c.features)
                                          .feature_map(c.feature_map == "relu"  ? attention::FeatureMapKind::kRelu
                                                       : c.feature_map == "elu" ? attention::FeatureMapKind::kEluPlusOne
                                                                                : attention::FeatureMapKind::kSoftmaxPositive)
                                          .rpe_features(c.rpe_features)
                                          .rpe_length_scale(c.rpe_length_scale)
                                          .dropout(c.dropout)
                                          .graph_mask(graph_mask_kind(c.graph_mask.empty() ? "none" : c.graph_mask))
                                          .knn(c.knn)
                                          .num_stages(c.stages)
                                          .downsample_ratio(c.downsample_ratio));
}

models::StepFunction classification_step(models::PointCloudClassifier model) {
  return [model](const std::vector<datasets::Sample>& batch) mutable {
    const auto padded = datasets::collate_padded(batch);
    const auto logits = model->forward(padded.pos, padded.x, padded.key_padding_mask);
    models::StepOutput out;
    out.loss = torch::nn::functional::cross_entropy(logits, padded.y);
    out.metric_sum = (logits.argmax(1) == padded.y).sum().item<double>();
    out.count = static_cast<int64_t>(batch.size());
    return out;
  };
}

datasets::DataLoader loader(const std::vector<datasets::Sample>& samples, const Config& c, bool train, int64_t pos_dim) {
  datasets::DataLoaderOptions o;
  o.batch_size = c.batch_size;
  o.shuffle = train;
  o.seed = static_cast<uint64_t>(c.seed);
  o.num_workers = c.workers;
  if (train && pos_dim > 0) {
    // Mild augmentation: anisotropic scaling and jitter (rotations would confuse 6 and 9).
    o.transform = pos_dim == 2 ? datasets::compose({datasets::random_scale(0.85, 1.15), datasets::random_jitter(0.02, 0.05)})
                               : datasets::compose({datasets::random_rotate(true), datasets::random_scale(0.8, 1.25),
                                                    datasets::random_jitter(0.01, 0.05)});
  }
  return datasets::DataLoader(std::make_shared<const std::vector<datasets::Sample>>(samples), o);
}

/// A task: its data splits, model, per-batch step and metric.
struct Task {
  std::vector<datasets::Sample> train, validation, test;
  std::shared_ptr<torch::nn::Module> model;
  models::StepFunction step;
  std::string metric = "accuracy";
  bool higher_is_better = true;
  int64_t pos_dim = 0;                       // point clouds: for augmentation
  std::function<void()> after_training{};    // e.g. pictures of what was learned
  nlohmann::json shape = nlohmann::json::object();  // recorded in config.json for predict
};

Task point_cloud_task(const Config& c) {
  const auto data = load_point_clouds(c);
  torch::manual_seed(static_cast<uint64_t>(c.seed));
  auto model = make_model(c, data);
  Task t{data.train, data.validation, data.test, model.ptr(), classification_step(model)};
  t.pos_dim = data.pos_dim;
  t.shape = {{"pos_dim", data.pos_dim}, {"feature_dim", data.feature_dim}, {"num_classes", data.num_classes},
             {"class_names", data.class_names}};
  t.after_training = [model, c]() mutable {
    // What the first layer learned about relative positions (unit-scaled clouds: Δ ∈ [−1, 1]²).
    if (auto first = model->blocks[0]->as<models::TransformerBlock>(); first && first->rpe) {
      models::plot_spectral_rpe(*first->rpe, (fs::path(c.out) / "rpe_layer1.png").string(), 1.0);
    }
  };
  return t;
}


models::GraphTransformer make_graph_model(const Config& c, int64_t in_features, int64_t num_classes) {
  return models::GraphTransformer(models::GraphTransformerOptions(in_features, num_classes)
                                      .embed_dim(c.embed_dim).num_heads(c.heads).num_layers(c.layers)
                                      .mask(graph_mask_kind(c.graph_mask.empty() ? "diffusion" : c.graph_mask))
                                      .dropout(c.dropout));
}

/// Graph classification on a TU dataset: seeded 80/10/10 split.
Task graph_task(const Config& c) {
  const auto set = datasets::read_tu_dataset(c.data, c.name);
  const auto parts = datasets::random_split(static_cast<int64_t>(set.samples.size()), {0.8, 0.1, 0.1}, 0);
  torch::manual_seed(static_cast<uint64_t>(c.seed));
  auto model = make_graph_model(c, set.samples[0].x.size(1), set.num_classes);
  Task t{datasets::select(set.samples, parts[0]), datasets::select(set.samples, parts[1]),
         datasets::select(set.samples, parts[2]), model.ptr(),
         [model](const std::vector<datasets::Sample>& batch) mutable {
           const auto b = datasets::collate(batch);
           const auto logits = model->forward(b.data.x, b.data.edge_index, b.batch);
           return models::StepOutput{torch::nn::functional::cross_entropy(logits, b.data.y),
                                     (logits.argmax(1) == b.data.y).sum().item<double>(), b.num_graphs};
         }};
  t.shape = {{"num_classes", set.num_classes}, {"in_features", set.samples[0].x.size(1)},
             {"class_names", set.class_names}, {"node_label_values", set.node_label_values}};
  return t;
}

/// The radius-graph mask: the local RPE by default, or a graph mask named by --graph-mask.
models::MolecularTransformer make_molecule_model(const Config& c) {
  const bool local = c.graph_mask.empty();
  return models::MolecularTransformer(models::MolecularTransformerOptions().embed_dim(c.embed_dim).num_heads(c.heads)
                                          .num_layers(c.layers).num_features(c.features).cutoff(c.cutoff)
                                          .local_rpe(local)
                                          .graph_mask(local ? models::GraphMaskKind::kNone : graph_mask_kind(c.graph_mask))
                                          .flt_features(c.flt_features));
}

/// Molecular energies (and forces when the data has them): extended XYZ (--target header key)
/// or a QM9 folder/archive (--target one of its 15 properties). Seeded 80/10/10 split. The
/// metric is the energy MAE in the data's units.
Task molecule_task(const Config& c) {
  datasets::MoleculeSet set;
  if (c.dataset == "qm9") {
    set = datasets::read_qm9(c.data);
    const auto& names = set.target_names;
    const auto it = std::find(names.begin(), names.end(), c.target);
    if (it == names.end()) throw std::runtime_error("--target must be a QM9 property (U0, gap, …), got \"" + c.target + "\"");
    const int64_t column = it - names.begin();
    for (auto& s : set.samples) s.y = s.y.narrow(0, column, 1);
  } else {
    set = datasets::read_extended_xyz(c.data, {c.target});
  }
  const auto parts = datasets::random_split(static_cast<int64_t>(set.samples.size()), {0.8, 0.1, 0.1}, 0);
  torch::manual_seed(static_cast<uint64_t>(c.seed));
  auto model = make_molecule_model(c);
  // Per-element reference energies from a least-squares fit on the training split.
  const auto train = datasets::select(set.samples, parts[0]);
  auto counts = torch::zeros({static_cast<int64_t>(train.size()), model->options.max_atomic_number() + 1}, torch::kDouble);
  auto targets = torch::zeros({static_cast<int64_t>(train.size()), 1}, torch::kDouble);
  for (size_t i = 0; i < train.size(); ++i) {
    counts[i].index_add_(0, train[i].z, torch::ones({train[i].z.size(0)}, torch::kDouble));
    targets[i][0] = train[i].y[0];
  }
  {
    torch::NoGradGuard guard;
    // Pseudo-inverse: most element columns are empty (lstsq's default driver returned zeros).
    model->atom_reference->weight.copy_(torch::matmul(torch::linalg_pinv(counts), targets).to(torch::kFloat));
  }
  const bool with_forces = set.samples[0].forces.defined() && c.force_weight > 0;
  const double force_weight = c.force_weight;
  Task t{train, datasets::select(set.samples, parts[1]), datasets::select(set.samples, parts[2]), model.ptr(),
         [model, with_forces, force_weight](const std::vector<datasets::Sample>& batch) mutable {
           const auto p = datasets::collate_padded(batch);
           const auto target = p.y.squeeze(-1).to(torch::kFloat);
           models::StepOutput out;
           torch::Tensor energy, forces;
           if (with_forces) {
             std::tie(energy, forces) = model->energy_and_forces(p.z, p.pos, p.key_padding_mask, model->is_training());
             out.loss = torch::mse_loss(energy, target) + force_weight * torch::mse_loss(forces, p.forces);
           } else {
             energy = model->forward(p.z, p.pos, p.key_padding_mask);
             out.loss = torch::mse_loss(energy, target);
           }
           const auto error = energy.detach() - target;
           out.metric_sum = error.abs().sum().item<double>();
           out.count = static_cast<int64_t>(batch.size());
           out.extra.push_back({"energy_rmse", error.pow(2).sum().item<double>(), double(out.count), true});
           if (with_forces) {
             // Padded atoms have zero target and predicted force; count only real components.
             const double components = 3.0 * (~p.key_padding_mask).sum().item<double>();
             out.extra.push_back({"force_mae", (forces.detach() - p.forces).abs().sum().item<double>(), components});
           }
           return out;
         }};
  t.metric = "energy_mae";
  t.shape = {{"with_forces", with_forces}, {"target", c.target}};
  t.after_training = [model, c]() mutable {
    // What the first layer learned as a function of interatomic distance, per head.
    if (model->options.local_rpe()) {
      models::plot_local_rpe(*model->rpes[0]->as<geometry::LocalRPE>(), (fs::path(c.out) / "rpe_layer1.png").string());
    }
  };
  t.higher_is_better = false;
  return t;
}

Task make_task(const Config& c) {
  if (c.task == "graph") return graph_task(c);
  if (c.task == "molecules") return molecule_task(c);
  return point_cloud_task(c);
}

models::TrainerOptions trainer_options(const Config& c, const Task& t) {
  return models::TrainerOptions()
      .epochs(c.epochs)
      .learning_rate(c.lr)
      .weight_decay(c.weight_decay)
      .warmup_fraction(c.warmup)
      .grad_clip(c.grad_clip)
      .early_stopping_patience(c.patience)
      .higher_is_better(t.higher_is_better)
      .metric_name(t.metric)
      .checkpoint_path((fs::path(c.out) / "checkpoint.pt").string())
      .resume(c.resume)
      .metrics_csv((fs::path(c.out) / "metrics.csv").string())
      .metrics_json((fs::path(c.out) / "metrics.json").string())
      .progress(c.progress);
}

/// ", name: value" for each extra metric.
std::string format_extra(const models::NamedValues& extra) {
  std::string out;
  for (const auto& [name, value] : extra) out += c10::str(", ", name, ": ", value);
  return out;
}

int train(const Config& c) {
  const auto start = std::chrono::steady_clock::now();
  fs::create_directories(c.out);
  auto task = make_task(c);
  {
    nlohmann::json saved;
    to_json(saved, c);
    saved.update(task.shape);
    datasets::write_file_atomically((fs::path(c.out) / "config.json").string(), saved.dump(2) + "\n");
  }
  std::cerr << "topoformer: " << task.train.size() << " training, " << task.validation.size() << " validation, "
            << task.test.size() << " test samples; " << topo::parallel_info() << "\n";
  models::Trainer trainer(task.model, trainer_options(c, task));
  auto train_loader = loader(task.train, c, true, task.pos_dim);
  auto validation_loader = loader(task.validation, c, false, task.pos_dim);
  auto test_loader = loader(task.test, c, false, task.pos_dim);
  trainer.fit(task.step, train_loader, &validation_loader);
  models::plot_learning_curves((fs::path(c.out) / "metrics.csv").string(), (fs::path(c.out) / "learning_curves.png").string());
  if (task.after_training) task.after_training();
  const auto test = trainer.evaluate(task.step, test_loader);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("test %s: %.4f%s (%lld samples), test loss %.4f, %.0f s\n", task.metric.c_str(), test.metric,
              format_extra(test.extra).c_str(), (long long)test.count, test.loss, seconds);
  std::printf("outputs in %s: checkpoint.pt, metrics.csv, metrics.json, learning_curves.png, config.json\n", c.out.c_str());
  return 0;
}

/// Evaluates <out>/checkpoint.pt with the run's recorded settings (<out>/config.json), so the
/// model is rebuilt exactly as trained; `data` (when given) points at the data elsewhere.
int evaluate(const Config& flags, const std::string& data) {
  Config c = flags;
  const auto recorded = fs::path(flags.out) / "config.json";
  if (fs::exists(recorded)) {
    load_config(recorded.string(), c);
    c.out = flags.out;
    if (!data.empty()) c.data = data;
  }
  if (c.data.empty()) throw std::runtime_error("eval: no " + recorded.string() + " and no --data");
  auto task = make_task(c);
  models::Trainer trainer(task.model, trainer_options(c, task).resume(true).progress(false));
  if (trainer.start_epoch() == 0) throw std::runtime_error((fs::path(c.out) / "checkpoint.pt").string() + ": no checkpoint to evaluate");
  auto test_loader = loader(task.test, c, false, task.pos_dim);
  const auto test = trainer.evaluate(task.step, test_loader);
  std::printf("test %s: %.4f%s (%lld samples), test loss %.4f\n", task.metric.c_str(), test.metric,
              format_extra(test.extra).c_str(), (long long)test.count, test.loss);
  return 0;
}

/// Loads <out>/checkpoint.pt into `model`.
void load_trained(const std::shared_ptr<torch::nn::Module>& model, const Config& c) {
  const auto checkpoint = (fs::path(c.out) / "checkpoint.pt").string();
  models::Trainer trainer(model, models::TrainerOptions().checkpoint_path(checkpoint).resume(true).progress(false));
  if (trainer.start_epoch() == 0) throw std::runtime_error(checkpoint + ": no checkpoint");
  model->eval();
}

/// Point clouds: the class of one cloud or mesh file.
int predict_point_cloud(const Config& c, const Config& trained, const nlohmann::json& saved, const std::string& path) {
  PointCloudData shape;
  shape.pos_dim = saved.at("pos_dim").get<int64_t>();
  shape.feature_dim = saved.at("feature_dim").get<int64_t>();
  shape.num_classes = saved.at("num_classes").get<int64_t>();
  shape.class_names = saved.at("class_names").get<std::vector<std::string>>();
  if (shape.pos_dim != 3 || shape.feature_dim != 0) {
    throw std::runtime_error(path + ": predict reads 3-D point clouds and meshes; this run's model takes " +
                             std::to_string(shape.pos_dim) + "-D points with " + std::to_string(shape.feature_dim) + " features");
  }
  auto model = make_model(trained, shape);
  load_trained(model.ptr(), c);
  const auto ext = fs::path(c.input).extension().string();
  auto sample = (ext == ".off" || ext == ".obj" || ext == ".stl") ? datasets::sample_mesh(c.input, trained.num_points)
                                                                   : datasets::read_point_cloud(c.input);
  sample = datasets::normalize_scale()(sample, std::nullopt);
  torch::NoGradGuard guard;
  const auto probabilities = torch::softmax(model->forward(sample.pos.unsqueeze(0)), 1)[0];
  const int64_t best = probabilities.argmax().item<int64_t>();
  std::printf("%s: %s (p = %.3f)\n", c.input.c_str(), shape.class_names.at(best).c_str(), probabilities[best].item<double>());
  return 0;
}

/// Molecules: energy (and forces) of every molecule of an extended XYZ or SDF file, printed
/// and written to <out>/predictions.extxyz.
int predict_molecules(const Config& c, const Config& trained, const nlohmann::json& saved) {
  auto model = make_molecule_model(trained);
  load_trained(model.ptr(), c);
  const bool with_forces = saved.value("with_forces", false);
  const auto ext = fs::path(c.input).extension().string();
  const auto set = ext == ".sdf" || ext == ".mol" ? datasets::read_sdf(c.input) : datasets::read_extended_xyz(c.input, {});
  if (set.samples.empty()) throw std::runtime_error(c.input + ": no molecules");
  std::ostringstream out;
  out << std::setprecision(10);
  const int64_t n = static_cast<int64_t>(set.samples.size());
  for (int64_t start = 0; start < n; start += trained.batch_size) {
    const std::vector<datasets::Sample> batch(set.samples.begin() + start, set.samples.begin() + std::min(n, start + trained.batch_size));
    const auto p = datasets::collate_padded(batch);
    torch::Tensor energy, forces;
    if (with_forces) {
      std::tie(energy, forces) = model->energy_and_forces(p.z, p.pos, p.key_padding_mask);
    } else {
      torch::NoGradGuard guard;
      energy = model->forward(p.z, p.pos, p.key_padding_mask);
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& s = batch[i];
      const double e = energy[static_cast<int64_t>(i)].item<double>();
      std::printf("%s: %s = %.6f\n", s.name.c_str(), trained.target.c_str(), e);
      const int64_t atoms = s.z.size(0);
      out << atoms << "\nProperties=species:S:1:pos:R:3" << (with_forces ? ":forces:R:3" : "") << " " << trained.target
          << "=" << e << "\n";
      for (int64_t a = 0; a < atoms; ++a) {
        out << datasets::element_symbol(s.z[a].item<int64_t>());
        for (int64_t k = 0; k < 3; ++k) out << ' ' << s.pos[a][k].item<double>();
        if (with_forces) {
          for (int64_t k = 0; k < 3; ++k) out << ' ' << forces[static_cast<int64_t>(i)][a][k].item<double>();
        }
        out << '\n';
      }
    }
  }
  const auto written = (fs::path(c.out) / "predictions.extxyz").string();
  datasets::write_file_atomically(written, out.str());
  std::printf("predictions for %lld molecules in %s\n", (long long)n, written.c_str());
  return 0;
}

/// Graphs: the class of every graph of a TU-format dataset (--input folder, --name), printed
/// with the file's own label and written to <out>/predictions.csv.
int predict_graphs(const Config& c, const Config& trained, const nlohmann::json& saved) {
  const auto class_names = saved.at("class_names").get<std::vector<std::string>>();
  // The training run's node-label columns, so that new files one-hot encode the same way.
  const auto set = datasets::read_tu_dataset(c.input, c.name, saved.value("node_label_values", std::vector<int64_t>{}));
  const int64_t in_features = saved.at("in_features").get<int64_t>();
  if (set.samples.empty()) throw std::runtime_error(c.input + ": no graphs");
  if (set.samples[0].x.size(1) != in_features) {
    throw std::runtime_error(c.input + ": graphs with " + std::to_string(set.samples[0].x.size(1)) +
                             " node features, the model was trained on " + std::to_string(in_features));
  }
  auto model = make_graph_model(trained, in_features, static_cast<int64_t>(class_names.size()));
  load_trained(model.ptr(), c);
  std::ostringstream csv;
  csv << "graph,predicted,probability,file_label\n";
  int64_t correct = 0;
  const int64_t n = static_cast<int64_t>(set.samples.size());
  torch::NoGradGuard guard;
  for (int64_t start = 0; start < n; start += trained.batch_size) {
    const std::vector<datasets::Sample> batch(set.samples.begin() + start, set.samples.begin() + std::min(n, start + trained.batch_size));
    const auto b = datasets::collate(batch);
    const auto probabilities = torch::softmax(model->forward(b.data.x, b.data.edge_index, b.batch), 1);
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto row = probabilities[static_cast<int64_t>(i)];
      const int64_t best = row.argmax().item<int64_t>();
      const auto& file_label = set.class_names.at(batch[i].y.item<int64_t>());
      correct += class_names.at(best) == file_label;
      std::printf("%s: %s (p = %.3f; file label %s)\n", batch[i].name.c_str(), class_names.at(best).c_str(),
                  row[best].item<double>(), file_label.c_str());
      csv << batch[i].name << ',' << class_names.at(best) << ',' << row[best].item<double>() << ',' << file_label << '\n';
    }
  }
  const auto written = (fs::path(c.out) / "predictions.csv").string();
  datasets::write_file_atomically(written, csv.str());
  std::printf("%lld graphs, %lld predicted as labelled in the file (%.4f); predictions in %s\n", (long long)n,
              (long long)correct, double(correct) / n, written.c_str());
  return 0;
}

int predict(const Config& c) {
  if (c.input.empty()) throw std::runtime_error("predict needs --input (a point cloud or mesh, molecules, or a TU folder)");
  // The model's shape, class names and architecture flags were recorded at training time.
  const auto path = (fs::path(c.out) / "config.json").string();
  const auto saved = nlohmann::json::parse(datasets::read_file(path));
  Config trained = c;
  load_config(path, trained);
  if (trained.task == "molecules") return predict_molecules(c, trained, saved);
  if (trained.task == "graph") return predict_graphs(c, trained, saved);
  return predict_point_cloud(c, trained, saved, path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"topoformer: topologically masked linear attention for point clouds, molecules and graphs"};
  app.require_subcommand(1);
  Config c;
  std::string config_file;
  const auto add_common = [&](CLI::App* cmd) {
    cmd->add_option("--config", config_file, "JSON or YAML config file (flags override it)")->check(CLI::ExistingFile);
    cmd->add_option("--task", c.task, "pointcloud | molecules | graph")->check(CLI::IsMember({"pointcloud", "molecules", "graph"}));
    cmd->add_option("--dataset", c.dataset, "pointcloud: mnist | modelnet; molecules: extxyz | qm9; graph: tu")
        ->check(CLI::IsMember({"mnist", "modelnet", "extxyz", "qm9", "tu"}));
    cmd->add_option("--name", c.name, "TU dataset name (files <data>/<name>_A.txt, …)");
    cmd->add_option("--graph-mask", c.graph_mask,
                    "none | adjacency | diffusion | random-walk | grf | spanning-tree (graph: default diffusion; "
                    "pointcloud: on the kNN graph, default none; molecules: on the radius graph instead of the "
                    "default local RPE)")
        ->check(CLI::IsMember({"none", "adjacency", "diffusion", "random-walk", "grf", "spanning-tree"}));
    cmd->add_option("--knn", c.knn, "pointcloud: neighbours of the kNN graph and of the pooling neighbourhoods")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--stages", c.stages, "pointcloud: stages of blocks with farthest-point downsampling between them")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--downsample-ratio", c.downsample_ratio, "pointcloud: fraction of points kept per stage")
        ->check(CLI::Range(0.0, 1.0));
    cmd->add_option("--target", c.target, "molecules: extended-XYZ header key or QM9 property");
    cmd->add_option("--force-weight", c.force_weight, "weight of the force MSE (molecules with forces)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--cutoff", c.cutoff, "radius (Angstrom) of the molecular radius graph")->check(CLI::PositiveNumber);
    cmd->add_option("--flt-features", c.flt_features, "molecules: FLT spectral RPE frequencies over 3-D positions (0: none)")
        ->check(CLI::NonNegativeNumber);
    cmd->add_option("--data", c.data, "dataset folder");
    cmd->add_option("--out", c.out, "run folder (checkpoint, metrics, plots)");
    cmd->add_option("--batch-size", c.batch_size)->check(CLI::PositiveNumber);
    cmd->add_option("--workers", c.workers, "background data-loading threads")->check(CLI::NonNegativeNumber);
    cmd->add_option("--threads", c.threads, "compute threads (0: TOPO_NUM_THREADS / OMP_NUM_THREADS / all)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--num-points", c.num_points, "points sampled per mesh (ModelNet)")->check(CLI::PositiveNumber);
    cmd->add_option("--embed-dim", c.embed_dim)->check(CLI::PositiveNumber);
    cmd->add_option("--heads", c.heads)->check(CLI::PositiveNumber);
    cmd->add_option("--layers", c.layers)->check(CLI::PositiveNumber);
    cmd->add_option("--features", c.features, "random features per head")->check(CLI::PositiveNumber);
    cmd->add_option("--feature-map", c.feature_map, "softmax (FAVOR+) | relu | elu (elu+1)")
        ->check(CLI::IsMember({"softmax", "relu", "elu"}));
    cmd->add_option("--rpe-features", c.rpe_features, "FLT spectral RPE frequencies (0: none)")->check(CLI::NonNegativeNumber);
    cmd->add_option("--rpe-length-scale", c.rpe_length_scale)->check(CLI::PositiveNumber);
    cmd->add_option("--seed", c.seed);
  };
  auto* train_cmd = app.add_subcommand("train", "train a model");
  add_common(train_cmd);
  train_cmd->add_option("--epochs", c.epochs)->check(CLI::PositiveNumber);
  train_cmd->add_option("--lr", c.lr, "peak learning rate (AdamW, warm-up then cosine)")->check(CLI::PositiveNumber);
  train_cmd->add_option("--weight-decay", c.weight_decay)->check(CLI::NonNegativeNumber);
  train_cmd->add_option("--warmup", c.warmup, "fraction of steps spent warming up")->check(CLI::Range(0.0, 0.99));
  train_cmd->add_option("--grad-clip", c.grad_clip)->check(CLI::NonNegativeNumber);
  train_cmd->add_option("--dropout", c.dropout)->check(CLI::Range(0.0, 0.99));
  train_cmd->add_option("--patience", c.patience, "early-stopping patience in epochs (0: off)")->check(CLI::NonNegativeNumber);
  train_cmd->add_flag("--resume", c.resume, "continue from <out>/checkpoint.pt");
  train_cmd->add_flag("!--no-progress", c.progress, "no progress line");
  auto* eval_cmd = app.add_subcommand("eval", "evaluate <out>/checkpoint.pt on the test split (settings from <out>/config.json)");
  add_common(eval_cmd);
  auto* predict_cmd = app.add_subcommand("predict", "classify one point cloud or mesh file");
  add_common(predict_cmd);
  predict_cmd->add_option("--input", c.input,
                          "pointcloud: a .ply/.pcd/.xyz cloud or .off/.obj/.stl mesh; molecules: an extended XYZ or SDF "
                          "file; graph: a TU-format folder (with --name)")
      ->check(CLI::ExistingPath);
  try {
    // Two passes: the config file first, then the flags on top of it.
    app.parse(argc, argv);
    if (!config_file.empty()) {
      load_config(config_file, c);
      app.parse(argc, argv);
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "topoformer: error: " << e.what() << "\n";
    return 1;
  }
  try {
    if (c.threads > 0) topo::set_num_threads(c.threads); else topo::set_num_threads();
    if (c.data.empty() && train_cmd->parsed()) {
      if (c.dataset != "mnist") throw std::runtime_error("--data is required for --dataset " + c.dataset);
      c.data = "examples/data/mnist_10k";
    }
    if (train_cmd->parsed()) return train(c);
    if (eval_cmd->parsed()) return evaluate(c, eval_cmd->count("--data") > 0 ? c.data : std::string());
    return predict(c);
  } catch (const std::exception& e) {
    std::cerr << "topoformer: error: " << e.what() << "\n";
    return 1;
  }
}
