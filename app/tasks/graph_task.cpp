// SPDX-License-Identifier: Apache-2.0
// Graph classification on TU datasets: GraphTransformer with graph and tree masks, seeded
// 80/10/10 split, cross-entropy and accuracy.
#include <torch/torch.h>

#include <filesystem>
#include <sstream>

#include "app/task.h"
#include "datasets/batching.h"
#include "datasets/file_io.h"
#include "datasets/graphs.h"
#include "models/graph_attention.h"
#include "training/steps.h"

namespace topo::app {
namespace {

namespace fs = std::filesystem;

class GraphTask : public Task {
 public:
  TaskRun prepare(const RunConfig& c) const override {
    TaskRun run;
    const auto set = datasets::read_tu_dataset(c.text("data"), c.text("name"));
    const int64_t n = static_cast<int64_t>(set.samples.size());
    const auto parts = datasets::random_split(n, {0.8, 0.1, 0.1}, 0);
    run.train = datasets::select(set.samples, parts[0]);
    run.validation = datasets::select(set.samples, parts[1]);
    run.test = datasets::select(set.samples, parts[2]);
    check_splits(run, c.text("data"));
    run.recorded = {{"num_classes", set.num_classes},
                    {"in_features", set.samples[0].x.size(1)},
                    {"class_names", set.class_names},
                    {"node_label_values", set.node_label_values}};
    check_classes(run.train, set.num_classes, set.class_names,
                  c.text("data") + " (" + c.text("name") + ")");
    run.baseline = training::majority_class_accuracy(run.train, run.test);
    auto model =
        std::dynamic_pointer_cast<models::GraphTransformerImpl>(build_model(c, run.recorded));
    run.model = model;
    run.step = [model,
                smoothing = c.real("label_smoothing")](const std::vector<datasets::Sample>& batch) {
      const auto b = datasets::collate(batch);
      return training::classification_output(model->forward(b.data.x, b.data.edge_index, b.batch),
                                             b.data.y, model->is_training() ? smoothing : 0.0);
    };
    return run;
  }

  std::shared_ptr<torch::nn::Module> build_model(const RunConfig& c,
                                                 const nlohmann::json& recorded) const override {
    torch::manual_seed(static_cast<uint64_t>(c.integer("seed")));
    return models::GraphTransformer(
               models::GraphTransformerOptions(recorded.at("in_features").get<int64_t>(),
                                               recorded.at("num_classes").get<int64_t>())
                   .embed_dim(c.integer("embed_dim"))
                   .num_heads(c.integer("heads"))
                   .num_layers(c.integer("layers"))
                   .num_features(c.integer("features"))
                   .feature_map(models::feature_map_kind_from_string(c.text("feature_map")))
                   .dropout(c.real("dropout"))
                   .masks(c.masks()))
        .ptr();
  }

  /// The class of every graph of a TU-format folder (--input, --name), printed with the file's
  /// own label and written to <out>/predictions.csv.
  void predict(const RunConfig& c, const nlohmann::json& recorded, torch::nn::Module& module,
               const std::string& input) const override {
    auto& model = dynamic_cast<models::GraphTransformerImpl&>(module);
    const auto class_names = recorded.at("class_names").get<std::vector<std::string>>();
    // The training run's node-label columns, so that new files one-hot encode the same way.
    const auto set = datasets::read_tu_dataset(
        input, c.text("name"), recorded.value("node_label_values", std::vector<int64_t>{}));
    const int64_t in_features = recorded.at("in_features").get<int64_t>();
    if (set.samples.empty()) throw std::runtime_error(input + ": no graphs");
    if (set.samples[0].x.size(1) != in_features) {
      throw std::runtime_error(input + ": graphs with " + std::to_string(set.samples[0].x.size(1)) +
                               " node features, the model was trained on " +
                               std::to_string(in_features));
    }
    std::ostringstream csv;
    csv << "graph,predicted,probability,file_label\n";
    int64_t correct = 0;
    torch::NoGradGuard guard;
    for_each_batch(set.samples, c.integer("batch_size"),
                   [&](const std::vector<datasets::Sample>& batch, int64_t) {
                     const auto b = datasets::collate(batch);
                     const auto probabilities =
                         torch::softmax(model.forward(b.data.x, b.data.edge_index, b.batch), 1);
                     for (size_t i = 0; i < batch.size(); ++i) {
                       const auto row = probabilities[static_cast<int64_t>(i)];
                       const int64_t best = row.argmax().item<int64_t>();
                       const auto& file_label = set.class_names.at(batch[i].y.item<int64_t>());
                       correct += class_names.at(best) == file_label;
                       std::printf("%s: %s (p = %.3f; file label %s)\n", batch[i].name.c_str(),
                                   class_names.at(best).c_str(), row[best].item<double>(),
                                   file_label.c_str());
                       csv << batch[i].name << ',' << class_names.at(best) << ','
                           << row[best].item<double>() << ',' << file_label << '\n';
                     }
                   });
    const auto written = (fs::path(c.text("out")) / "predictions.csv").string();
    datasets::write_file_atomically(written, csv.str());
    std::printf("%zu graphs, %lld predicted as labelled in the file (%.4f); predictions in %s\n",
                set.samples.size(), (long long)correct,
                double(correct) / double(set.samples.size()), written.c_str());
  }
};

}  // namespace

const Task& graph_task() {
  static const GraphTask task;
  return task;
}

}  // namespace topo::app
