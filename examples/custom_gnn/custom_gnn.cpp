// SPDX-License-Identifier: Apache-2.0
// GraphAttentionLayer inside a user-defined GNN: the user's own mean-aggregation message
// passing followed by graph-masked linear attention, in PyTorch Geometric's (x, edge_index,
// batch) convention.
//   custom_gnn cora  <cora.content[.gz]> <cora.cites>   node classification; split: 20 seeded
//                                                       training nodes per class (140), 500
//                                                       validation, 1,000 test
//   custom_gnn mutag <TU folder with MUTAG_*.txt>        graph classification, 10-fold CV
#include <torch/torch.h>

#include <cstdio>
#include <string>

#include "common/threads.h"
#include "datasets/batching.h"
#include "datasets/graphs.h"
#include "models/graph_attention.h"

using namespace topo;

/// The user's own layer: x_i ← W·mean_{j ∈ N(i) ∪ {i}} x_j (plain message passing).
struct MeanAggregationImpl : torch::nn::Module {
  explicit MeanAggregationImpl(int64_t dim) : linear(register_module("linear", torch::nn::Linear(dim, dim))) {}
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index) {
    const auto loops = torch::arange(x.size(0));
    const auto rows = torch::cat({edge_index[1], loops}), cols = torch::cat({edge_index[0], loops});
    const auto sum = torch::zeros_like(x).index_add(0, rows, x.index_select(0, cols));
    const auto degree = torch::zeros({x.size(0)}, x.options()).index_add(0, rows, torch::ones({rows.size(0)}, x.options()));
    return linear(sum / degree.unsqueeze(1));
  }
  torch::nn::Linear linear;
};
TORCH_MODULE(MeanAggregation);

/// A user-defined GNN mixing both kinds of layers.
struct MyGnnImpl : torch::nn::Module {
  MyGnnImpl(int64_t in, int64_t hidden, int64_t classes, models::GraphMaskKind mask, double dropout)
      : input(register_module("input", torch::nn::Linear(in, hidden))),
        local(register_module("local", MeanAggregation(hidden))),
        attention(register_module("attention", models::GraphAttentionLayer(models::GraphAttentionLayerOptions(hidden, 4).mask(mask)))),
        output(register_module("output", torch::nn::Linear(hidden, classes))),
        dropout(dropout) {}
  /// Node embeddings [N, hidden].
  torch::Tensor embed(const torch::Tensor& x, const torch::Tensor& edge_index, const torch::Tensor& batch) {
    auto h = torch::relu(input(torch::dropout(x, dropout, is_training())));
    h = torch::relu(local(torch::dropout(h, dropout, is_training()), edge_index)) + h;
    return attention(h, edge_index, batch);
  }
  torch::nn::Linear input;
  MeanAggregation local;
  models::GraphAttentionLayer attention;
  torch::nn::Linear output;
  double dropout;
};
TORCH_MODULE(MyGnn);

double accuracy(const torch::Tensor& logits, const torch::Tensor& y) { return (logits.argmax(1) == y).to(torch::kDouble).mean().item<double>(); }

int cora(const std::string& content, const std::string& cites) {
  const auto data = datasets::read_citation_graph(content, cites);
  const auto& g = data.samples[0];
  // Seeded split: 20 training nodes per class, then 500 validation and 1,000 test nodes.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  const auto order = torch::randperm(g.y.size(0), gen, torch::kLong);
  std::vector<int64_t> train, rest, per_class(data.num_classes, 0);
  for (int64_t i = 0; i < order.size(0); ++i) {
    const int64_t node = order[i].item<int64_t>(), c = g.y[node].item<int64_t>();
    (per_class[c] < 20 ? (++per_class[c], train) : rest).push_back(node);
  }
  const auto train_idx = torch::tensor(train), val_idx = torch::tensor(rest).slice(0, 0, 500), test_idx = torch::tensor(rest).slice(0, 500, 1500);
  torch::manual_seed(0);
  MyGnn model(g.x.size(1), 64, data.num_classes, models::GraphMaskKind::kAdjacency, 0.6);
  torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(5e-3).weight_decay(5e-2));
  double best_val = 0, test_at_best = 0;
  for (int epoch = 0; epoch < 200; ++epoch) {
    model->train();
    optimizer.zero_grad();
    const auto logits = model->output(model->embed(g.x, g.edge_index, {}));
    torch::nn::functional::cross_entropy(logits.index_select(0, train_idx), g.y.index_select(0, train_idx)).backward();
    optimizer.step();
    model->eval();
    torch::NoGradGuard guard;
    const auto eval_logits = model->output(model->embed(g.x, g.edge_index, {}));
    const double val = accuracy(eval_logits.index_select(0, val_idx), g.y.index_select(0, val_idx));
    if (val > best_val) {  // model selection on validation only
      best_val = val;
      test_at_best = accuracy(eval_logits.index_select(0, test_idx), g.y.index_select(0, test_idx));
    }
  }
  std::printf("Cora: test accuracy %.4f at the best validation accuracy %.4f (140/500/1000 seeded split)\n", test_at_best, best_val);
  return 0;
}

int mutag(const std::string& folder) {
  const auto data = datasets::read_tu_dataset(folder, "MUTAG");
  double sum = 0;
  const auto folds = datasets::k_fold(static_cast<int64_t>(data.samples.size()), 10, 0);
  for (size_t f = 0; f < folds.size(); ++f) {
    const auto train = datasets::select(data.samples, folds[f].first), test = datasets::select(data.samples, folds[f].second);
    torch::manual_seed(f);
    MyGnn model(data.samples[0].x.size(1), 32, data.num_classes, models::GraphMaskKind::kAdjacency, 0.0);
    torch::optim::AdamW optimizer(model->parameters(), torch::optim::AdamWOptions(3e-3).weight_decay(1e-2));
    const auto pooled = [&](const datasets::Batch& b) {
      const auto h = model->embed(b.data.x, b.data.edge_index, b.batch);
      // Sum pooling (as GIN): the size of a molecule is informative on MUTAG.
      return model->output(torch::zeros({b.num_graphs, h.size(1)}).index_add(0, b.batch, h));
    };
    datasets::DataLoaderOptions lo;
    lo.batch_size = 32;
    lo.seed = f;
    datasets::DataLoader loader(std::make_shared<const std::vector<datasets::Sample>>(train), lo);
    for (int epoch = 0; epoch < 60; ++epoch) {
      model->train();
      loader.start_epoch(epoch);
      while (auto batch = loader.next()) {
        const auto b = datasets::collate(*batch);
        optimizer.zero_grad();
        torch::nn::functional::cross_entropy(pooled(b), b.data.y).backward();
        optimizer.step();
      }
    }
    model->eval();
    torch::NoGradGuard guard;
    const auto b = datasets::collate(test);
    const double acc = accuracy(pooled(b), b.data.y);
    std::fprintf(stderr, "fold %zu: %.4f\n", f + 1, acc);
    sum += acc;
  }
  std::printf("MUTAG: 10-fold cross-validated accuracy %.4f\n", sum / folds.size());
  return 0;
}

int main(int argc, char** argv) {
  topo::set_num_threads(1);
  const std::string task = argc > 1 ? argv[1] : "";
  if (task == "cora" && argc > 3) return cora(argv[2], argv[3]);
  if (task == "mutag" && argc > 2) return mutag(argv[2]);
  std::fprintf(stderr, "usage: custom_gnn cora <content> <cites> | custom_gnn mutag <folder>\n");
  return 2;
}
