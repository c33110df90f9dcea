// SPDX-License-Identifier: Apache-2.0
// Point-cloud classification: MNIST digits as 2-D clouds (pixels above a threshold, intensity as
// the feature) or ModelNet meshes sampled to 3-D clouds; PointCloudClassifier with any masks
// over positions or the kNN graph; cross-entropy and accuracy.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "app/task.h"
#include "attention/masks/flt_mask.h"
#include "datasets/batching.h"
#include "datasets/file_io.h"
#include "datasets/point_clouds.h"
#include "models/point_cloud_classifier.h"
#include "training/plots.h"
#include "training/steps.h"

namespace topo::app {
namespace {

namespace fs = std::filesystem;

/// The bundled default: 10,000 MNIST digits (examples/data/mnist_10k).
std::string data_folder(const RunConfig& c) {
  return c.text("data").empty() ? "examples/data/mnist_10k" : c.text("data");
}

/// MNIST folder → digits with coordinates in [−1, 1] (from the images' own size).
std::vector<datasets::Sample> read_digits(const std::string& folder) {
  return datasets::read_mnist((fs::path(folder) / "images-idx3-ubyte.gz").string(),
                              (fs::path(folder) / "labels-idx1-ubyte.gz").string(), 127,
                              /*centre=*/true);
}

/// A key of each cloud for the draws of its voting copies: FNV-1a of the last part of its name
/// (the file's name, or the image file's name and index), so that the draws depend neither on
/// how the test set is batched or shared among processes nor on how its folder is spelled.
uint64_t cloud_key(const std::string& name) {
  uint64_t hash = 14695981039346656037ULL;
  for (const char ch : fs::path(name).filename().string())
    hash = (hash ^ static_cast<unsigned char>(ch)) * 1099511628211ULL;
  return hash;
}

/// --votes > 1 copies differ only through the augmentations (the model is in eval mode).
void check_votes(const RunConfig& c, const datasets::Transform& augmentation) {
  if (c.integer("votes") > 1 && !augmentation) {
    throw std::runtime_error(c10::str("--votes ", c.integer("votes"),
                                      ": the copies of a test cloud are made with the run's "
                                      "training augmentations, and its --augment is none; use "
                                      "--votes 1 (or train with augmentations)"));
  }
}

/// log of the class probabilities averaged over `votes` copies of each cloud of `batch`
/// (test-time augmentation, PointNet++'s voting, Qi et al. 2017): the cloud as it is, then
/// `votes` − 1 copies through `augmentation`, copy v of a cloud drawn with a generator seeded by
/// (seed, v, cloud_key). Averaging probabilities, not logits, keeps one confident copy from
/// outvoting the others.
torch::Tensor voted_log_probabilities(models::PointCloudClassifierImpl& model,
                                      const std::vector<datasets::Sample>& batch,
                                      const datasets::Transform& augmentation, int64_t votes,
                                      uint64_t seed) {
  const auto log_probabilities = [&](const std::vector<datasets::Sample>& clouds) {
    const auto padded = datasets::collate_padded(clouds);
    return torch::log_softmax(
        model.forward(padded.pos, padded.x.defined() ? padded.x : torch::Tensor(),
                      padded.key_padding_mask),
        1);
  };
  std::vector<torch::Tensor> copies{log_probabilities(batch)};
  for (int64_t v = 1; v < votes; ++v) {
    std::vector<datasets::Sample> augmented;
    augmented.reserve(batch.size());
    for (const auto& cloud : batch) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(
          (seed * 1000003ULL + static_cast<uint64_t>(v)) * 1000000007ULL + cloud_key(cloud.name));
      augmented.push_back(augmentation(cloud, gen));
    }
    copies.push_back(log_probabilities(augmented));
  }
  // log of the mean probability without underflow: logsumexp over the copies − log(votes).
  return torch::logsumexp(torch::stack(copies), 0) - std::log(static_cast<double>(votes));
}

class PointCloudTask : public Task {
 public:
  TaskRun prepare(const RunConfig& c) const override {
    TaskRun run;
    int64_t pos_dim = 0, feature_dim = 0;
    std::vector<std::string> class_names;
    if (c.text("dataset") == "mnist") {
      auto digits = read_digits(data_folder(c));
      // The bundled file is sorted by digit, so the fixed split is a seeded permutation (seed 0,
      // independent of --seed): 7,500 train, 500 validation, 2,000 test of 10,000.
      const auto split =
          datasets::random_split(static_cast<int64_t>(digits.size()), {0.75, 0.05, 0.2}, 0);
      run.train = datasets::select(digits, split[0]);
      run.validation = datasets::select(digits, split[1]);
      run.test = datasets::select(digits, split[2]);
      pos_dim = 2;
      feature_dim = 1;
      for (int i = 0; i < 10; ++i) class_names.push_back(std::to_string(i));
    } else {
      datasets::ModelNetOptions o;
      o.root = c.text("data");
      o.num_points = c.integer("num_points");
      o.seed = static_cast<uint64_t>(c.integer("seed"));
      o.cache_dir = (fs::path(c.text("out")) / "cache").string();
      auto train = datasets::read_modelnet(o);
      o.split = "test";
      auto test = datasets::read_modelnet(o);
      const auto parts = datasets::random_split(static_cast<int64_t>(train.samples.size()),
                                                {0.9, 0.1}, c.integer("seed"));
      run.train = datasets::select(train.samples, parts[0]);
      run.validation = datasets::select(train.samples, parts[1]);
      run.test = test.samples;
      class_names = train.class_names;
      pos_dim = 3;
      for (auto* split : {&run.train, &run.validation, &run.test}) {
        for (auto& s : *split) s = datasets::normalize_scale()(s, std::nullopt);
      }
    }
    // --augment (its defaults: mild scaling and jitter for digits, whose full rotations would
    // confuse 6 and 9; rotations about z, scaling and jitter for ModelNet).
    run.augmentation = c.augmentation();
    check_votes(c, run.augmentation);
    run.recorded = {{"pos_dim", pos_dim},
                    {"feature_dim", feature_dim},
                    {"num_classes", static_cast<int64_t>(class_names.size())},
                    {"class_names", class_names}};
    check_splits(run, data_folder(c));
    check_classes(run.train, static_cast<int64_t>(class_names.size()), class_names, data_folder(c));
    run.baseline = training::majority_class_accuracy(run.train, run.test);
    auto model =
        std::dynamic_pointer_cast<models::PointCloudClassifierImpl>(build_model(c, run.recorded));
    run.model = model;
    run.step = [model,
                smoothing = c.real("label_smoothing")](const std::vector<datasets::Sample>& batch) {
      const auto padded = datasets::collate_padded(batch);
      return training::classification_output(
          model->forward(padded.pos, padded.x, padded.key_padding_mask), padded.y,
          model->is_training() ? smoothing : 0.0);
    };
    if (c.integer("votes") > 1) {
      run.test_step = [model, augmentation = run.augmentation, votes = c.integer("votes"),
                       seed = static_cast<uint64_t>(c.integer("seed"))](
                          const std::vector<datasets::Sample>& batch) {
        return training::classification_output(
            voted_log_probabilities(*model, batch, augmentation, votes, seed),
            datasets::collate_padded(batch).y, 0.0);
      };
    }
    run.draw = [model](const std::string& out) -> bool {
      // What the first block learned about relative positions (clouds scaled to [−1, 1]).
      for (const auto& mask : model->blocks[0]->as<models::TransformerBlock>()->self_attn->masks) {
        if (auto* flt = mask->as<attention::FLTMask>()) {
          training::plot_spectral_rpe(*flt->rpe, (fs::path(out) / "rpe_layer1.png").string(), 1.0);
          return true;
        }
      }
      return false;
    };
    return run;
  }

  std::shared_ptr<torch::nn::Module> build_model(const RunConfig& c,
                                                 const nlohmann::json& recorded) const override {
    torch::manual_seed(static_cast<uint64_t>(c.integer("seed")));
    return models::PointCloudClassifier(
               models::PointCloudClassifierOptions(recorded.at("pos_dim").get<int64_t>(),
                                                   recorded.at("feature_dim").get<int64_t>(),
                                                   recorded.at("num_classes").get<int64_t>())
                   .embed_dim(c.integer("embed_dim"))
                   .num_heads(c.integer("heads"))
                   .num_layers(c.integer("layers"))
                   .num_features(c.integer("features"))
                   .feature_map(models::feature_map_kind_from_string(c.text("feature_map")))
                   .dropout(c.real("dropout"))
                   .masks(c.masks())
                   .knn(c.integer("knn"))
                   .num_stages(c.integer("stages"))
                   .downsample_ratio(c.real("downsample_ratio"))
                   .voxels(parse_voxels(c.text("voxels"))))
        .ptr();
  }

  /// 3-D models: the class of one cloud or mesh file. Digit models: the class of every image of
  /// an MNIST folder (as in training), written to predictions.csv with the file's labels.
  void predict(const RunConfig& c, const nlohmann::json& recorded, torch::nn::Module& module,
               const std::string& input) const override {
    auto& model = dynamic_cast<models::PointCloudClassifierImpl&>(module);
    const auto names = recorded.at("class_names").get<std::vector<std::string>>();
    std::vector<datasets::Sample> samples;
    if (recorded.at("pos_dim").get<int64_t>() == 2) {
      if (!fs::is_directory(input)) {
        throw std::runtime_error(
            input +
            ": this run's model classifies MNIST digits: --input must be a folder "
            "holding images-idx3-ubyte.gz and labels-idx1-ubyte.gz");
      }
      samples = read_digits(input);
    } else {
      const auto ext = fs::path(input).extension().string();
      auto sample = (ext == ".off" || ext == ".obj" || ext == ".stl")
                        ? datasets::sample_mesh(input, c.integer("num_points"))
                        : datasets::read_point_cloud(input);
      sample.name = input;
      samples.push_back(datasets::normalize_scale()(sample, std::nullopt));
    }
    const auto augmentation = c.augmentation();
    check_votes(c, augmentation);
    std::ostringstream csv;
    csv << "sample,predicted,probability" << (samples[0].y.defined() ? ",file_label" : "") << "\n";
    int64_t correct = 0;
    torch::NoGradGuard guard;
    for_each_batch(
        samples, c.integer("batch_size"), [&](const std::vector<datasets::Sample>& batch, int64_t) {
          const auto probabilities =
              voted_log_probabilities(model, batch, augmentation, c.integer("votes"),
                                      static_cast<uint64_t>(c.integer("seed")))
                  .exp();
          for (size_t i = 0; i < batch.size(); ++i) {
            const auto row = probabilities[static_cast<int64_t>(i)];
            const int64_t best = row.argmax().item<int64_t>();
            const double p = row[best].item<double>();
            csv << batch[i].name << ',' << names.at(best) << ',' << p;
            if (batch[i].y.defined()) {
              const int64_t label = batch[i].y.item<int64_t>();
              correct += label == best;
              csv << ',' << names.at(label);
            }
            csv << '\n';
            if (samples.size() <= 20)
              std::printf("%s: %s (p = %.3f)\n", batch[i].name.c_str(), names.at(best).c_str(), p);
          }
        });
    const auto written = (fs::path(c.text("out")) / "predictions.csv").string();
    datasets::write_file_atomically(written, csv.str());
    if (samples[0].y.defined()) {
      std::printf("%zu samples, %lld predicted as labelled in the file (%.4f)\n", samples.size(),
                  (long long)correct, double(correct) / double(samples.size()));
    }
    std::printf("predictions in %s\n", written.c_str());
  }
};

}  // namespace

const Task& point_cloud_task() {
  static const PointCloudTask task;
  return task;
}

}  // namespace topo::app
