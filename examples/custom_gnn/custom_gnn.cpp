// SPDX-License-Identifier: Apache-2.0
// GraphAttentionLayer inside user-defined GNNs, in PyTorch Geometric's (x, edge_index, batch)
// convention: the user's own message-passing layers (GCN on Cora, GINE on MUTAG) with
// graph-masked linear attention (adjacency mask on Cora, diffusion mask on MUTAG by default).
//   custom_gnn cora <cora.content[.gz]> <cora.cites> [--seeds N]   node classification; split:
//       20 seeded training nodes per class (140), 500 validation, 1,000 test; N seeds (5);
//       GCN → attention → GCN
//   custom_gnn mutag <TU folder with MUTAG_*.txt> [--seeds N]      graph classification, 10-fold;
//       3 GINE layers, attention beside each (GPS); --arrangement stacked puts it between them;
//       N seeds (1) repeat the same folds with other initial weights and batch orders
// Both take --hidden N, --epochs N, --mask SPEC (repeatable; a graph mask of `topoformer masks`)
// or --mask none (the user's layers alone: the ablation's baseline), --mlp-ratio N (the attention
// block's MLP width / hidden; 0: attention only), and print the settings that ran and the
// majority-class baseline beside the accuracy. Results: BENCHMARKS.md.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "attention/masks/registry.h"
#include "common/allocator.h"
#include "common/threads.h"
#include "datasets/batching.h"
#include "datasets/graphs.h"
#include "graph/graph.h"
#include "models/graph_attention.h"
#include "training/steps.h"

using namespace topo;

/// The user's own GCN convolution: x_i ← Σ_{j ∈ N(i) ∪ {i}} W x_j / √(d_i d_j).
struct GcnConvImpl : torch::nn::Module {
  GcnConvImpl(int64_t in, int64_t out)
      : linear(register_module("linear", torch::nn::Linear(in, out))) {}
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index) {
    const auto loops = torch::arange(x.size(0));
    const auto rows = torch::cat({edge_index[1], loops}), cols = torch::cat({edge_index[0], loops});
    const auto degree = torch::zeros({x.size(0)}, x.options())
                            .index_add(0, rows, torch::ones({rows.size(0)}, x.options()));
    const auto norm = degree.rsqrt();
    const auto weight = (norm.index_select(0, rows) * norm.index_select(0, cols)).unsqueeze(1);
    const auto h = linear(x);
    return torch::zeros_like(h).index_add(0, rows, h.index_select(0, cols) * weight);
  }
  torch::nn::Linear linear;
};
TORCH_MODULE(GcnConv);

/// Node classifier: GCN → graph-masked attention → GCN; without masks (`--mask none`) the
/// user's two GCN layers alone, the ablation's baseline.
struct NodeClassifierImpl : torch::nn::Module {
  NodeClassifierImpl(int64_t in, int64_t hidden, int64_t classes, double dropout,
                     const std::vector<attention::MaskSpec>& masks, int64_t mlp_ratio,
                     attention::FeatureMapKind feature_map)
      : first(register_module("first", GcnConv(in, hidden))),
        attention(masks.empty() ? nullptr
                                : register_module("attention",
                                                  models::GraphAttentionLayer(
                                                      models::GraphAttentionLayerOptions(hidden, 4)
                                                          .masks(masks)
                                                          .dropout(0.3)
                                                          .mlp_ratio(mlp_ratio)
                                                          .feature_map(feature_map)))),
        last(register_module("last", GcnConv(hidden, classes))),
        dropout(dropout) {}
  /// `graph`: the one graph made once by models::make_graph_batch (full-batch training sees the
  /// same structure every epoch, so the masks' per-batch structure is computed once per run).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                        const models::GraphBatch& graph) {
    auto h = torch::relu(first(torch::dropout(x, dropout, is_training()), edge_index));
    if (attention) h = attention->forward_batch(torch::dropout(h, dropout, is_training()), graph);
    return last(torch::dropout(h, dropout, is_training()), edge_index);
  }
  // Declared (so built and initialised) in the order of the layers, as the Python example.
  GcnConv first;
  models::GraphAttentionLayer attention;
  GcnConv last;
  double dropout;
};
TORCH_MODULE(NodeClassifier);

/// The user's own GINE layer (GIN with edge features): x_i ← MLP((1 + ε) x_i + Σ_j ReLU(x_j + W
/// e_ij)).
struct GineConvImpl : torch::nn::Module {
  GineConvImpl(int64_t dim, int64_t edge_dim)
      : mlp(register_module(
            "mlp", torch::nn::Sequential(torch::nn::Linear(dim, dim), torch::nn::BatchNorm1d(dim),
                                         torch::nn::ReLU(), torch::nn::Linear(dim, dim),
                                         torch::nn::ReLU()))),
        edge(register_module("edge", torch::nn::Linear(edge_dim, dim))),
        epsilon(register_parameter("epsilon", torch::zeros({1}))) {}
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& edge_index,
                        const torch::Tensor& edge_attr) {
    const auto message = torch::relu(x.index_select(0, edge_index[0]) + edge(edge_attr));
    return mlp->forward((1 + epsilon) * x +
                        torch::zeros_like(x).index_add(0, edge_index[1], message));
  }
  torch::nn::Sequential mlp;
  torch::nn::Linear edge;
  torch::Tensor epsilon;
};
TORCH_MODULE(GineConv);

/// Graph classifier: `layers` GINE layers with graph-masked attention either stacked between
/// them (GINE → attention → GINE → …) or, with `parallel`, beside each of them as in GPS
/// (Rampášek et al. 2022: h ← GINE(h) + Attention(h), the attention block's own residual and MLP
/// included); every layer's output sum-pooled per graph (molecule size is informative on MUTAG)
/// and concatenated. Without masks the GINE layers alone.
struct GraphClassifierImpl : torch::nn::Module {
  GraphClassifierImpl(int64_t in, int64_t edge_dim, int64_t hidden, int64_t classes, double dropout,
                      const std::vector<attention::MaskSpec>& masks, int64_t layers, bool parallel,
                      int64_t mlp_ratio, attention::FeatureMapKind feature_map)
      : input(register_module("input", torch::nn::Linear(in, hidden))),
        parallel(parallel),
        dropout(dropout) {
    // Registered in the order of the layers (built and initialised so), as the Python example.
    for (int64_t l = 0; l < layers; ++l) {
      gine.push_back(register_module("gine" + std::to_string(l + 1), GineConv(hidden, edge_dim)));
      if (!masks.empty() && (parallel || l + 1 < layers))
        attention.push_back(register_module(
            "attention" + std::to_string(l + 1),
            models::GraphAttentionLayer(models::GraphAttentionLayerOptions(hidden, 4)
                                            .masks(masks)
                                            .mlp_ratio(mlp_ratio)
                                            .feature_map(feature_map)
                                            .layer_id(l))));
    }
    const int64_t pooled = 1 + layers + (parallel ? 0 : static_cast<int64_t>(attention.size()));
    output = register_module("output", torch::nn::Linear(pooled * hidden, classes));
  }
  torch::Tensor forward(const datasets::Batch& b) {
    std::vector<torch::Tensor> outputs{input(b.data.x)};
    // One structure for every attention layer (the masks' per-batch cache).
    const auto graphs = attention.empty()
                            ? models::GraphBatch{}
                            : models::make_graph_batch(outputs[0], b.data.edge_index, b.batch);
    for (size_t l = 0; l < gine.size(); ++l) {
      const auto& h = outputs.back();
      auto local = gine[l](h, b.data.edge_index, b.data.edge_attr);
      if (parallel && !attention.empty()) {
        outputs.push_back(local + attention[l]->forward_batch(h, graphs));
        continue;
      }
      outputs.push_back(local);
      if (l < attention.size()) outputs.push_back(attention[l]->forward_batch(local, graphs));
    }
    std::vector<torch::Tensor> pooled;
    for (const auto& h : outputs)
      pooled.push_back(
          torch::zeros({b.num_graphs, h.size(1)}, h.options()).index_add(0, b.batch, h));
    return output(torch::dropout(torch::cat(pooled, 1), dropout, is_training()));
  }
  torch::nn::Linear input;
  std::vector<GineConv> gine;
  std::vector<models::GraphAttentionLayer> attention;
  torch::nn::Linear output{nullptr};
  bool parallel;
  double dropout;
};
TORCH_MODULE(GraphClassifier);

double accuracy(const torch::Tensor& logits, const torch::Tensor& y) {
  return (logits.argmax(1) == y).to(torch::kDouble).mean().item<double>();
}

/// Knobs of the example's command line.
struct Options {
  std::vector<attention::MaskSpec> masks;  ///< empty: the user's layers alone
  int seeds = 0;                           ///< runs averaged; 0: the task's (Cora 5, MUTAG 1)
  int hidden = 0;                          ///< 0: the task's default (Cora 128, MUTAG 64)
  int epochs = 0;                          ///< 0: the task's default (Cora 200, MUTAG 100)
  int layers = 3;                          ///< MUTAG: GINE layers
  bool parallel = true;                    ///< MUTAG: attention beside each GINE layer (GPS)
  /// The attention block's MLP width / hidden (0: none).
  int mlp_ratio = static_cast<int>(models::GraphAttentionLayerOptions(1, 1).mlp_ratio());
  /// The attention's feature map, as --feature-map names it (models::feature_map_names()).
  std::string feature_map = "elu";
};

/// Accuracy of always predicting the training nodes' most frequent class (node labels of one
/// graph; graph-level samples use training::majority_class_accuracy).
double majority_baseline(const torch::Tensor& train_y, const torch::Tensor& test_y,
                         int64_t classes) {
  const int64_t majority = torch::bincount(train_y, {}, classes).argmax().item<int64_t>();
  return (test_y == majority).to(torch::kDouble).mean().item<double>();
}

/// "adjacency" or "diffusion:time=2" etc. joined by " + ", or "none".
std::string describe(const std::vector<attention::MaskSpec>& masks) {
  std::string text;
  for (const auto& m : masks) text += (text.empty() ? "" : " + ") + attention::to_string(m);
  return text.empty() ? "none (the user's layers alone)" : text;
}

/// ", MLP ratio N, feature map NAME" when there is an attention layer, else nothing.
std::string describe_layer(const Options& options) {
  return options.masks.empty() ? ""
                               : ", MLP ratio " + std::to_string(options.mlp_ratio) +
                                     ", feature map " + options.feature_map;
}

int cora(const std::string& content, const std::string& cites, const Options& options) {
  const int runs = options.seeds > 0 ? options.seeds : 5;
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
  const auto train_idx = torch::tensor(train), val_idx = torch::tensor(rest).slice(0, 0, 500),
             test_idx = torch::tensor(rest).slice(0, 500, 1500);
  const auto x = g.x / g.x.sum(1, true).clamp_min(1);  // row-normalised bag of words
  // Citations are directed (citing → cited); message passing uses them both ways.
  const auto edges = graph::Graph(g.edge_index, {}, g.x.size(0)).edge_index();
  const int hidden = options.hidden > 0 ? options.hidden : 128;
  const auto graph = models::make_graph_batch(torch::empty({g.x.size(0), 0}), edges);
  const int epochs = options.epochs > 0 ? options.epochs : 200;
  std::vector<double> results;
  for (int run = 0; run < runs; ++run) {
    torch::manual_seed(run);
    NodeClassifier model(g.x.size(1), hidden, data.num_classes, 0.7, options.masks,
                         options.mlp_ratio,
                         models::feature_map_kind_from_string(options.feature_map));
    torch::optim::AdamW optimizer(model->parameters(),
                                  torch::optim::AdamWOptions(1e-2).weight_decay(5e-2));
    double best_val = 0, test_at_best = 0;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      model->train();
      optimizer.zero_grad();
      const auto logits = model->forward(x, edges, graph);
      torch::nn::functional::cross_entropy(logits.index_select(0, train_idx),
                                           g.y.index_select(0, train_idx))
          .backward();
      optimizer.step();
      model->eval();
      torch::NoGradGuard guard;
      const auto eval_logits = model->forward(x, edges, graph);
      const double val =
          accuracy(eval_logits.index_select(0, val_idx), g.y.index_select(0, val_idx));
      if (val > best_val) {  // model selection on validation only
        best_val = val;
        test_at_best =
            accuracy(eval_logits.index_select(0, test_idx), g.y.index_select(0, test_idx));
      }
    }
    std::fprintf(stderr, "seed %d: test accuracy %.4f at the best validation accuracy %.4f\n", run,
                 test_at_best, best_val);
    results.push_back(test_at_best);
  }
  const auto t = torch::tensor(results, torch::kDouble);
  std::printf(
      "Cora, attention mask %s (hidden %d%s, %d epochs): test accuracy %.4f ± %.4f (mean ± std "
      "over %d seeds; 140/500/1000 seeded split); majority-class baseline %.4f\n",
      describe(options.masks).c_str(), hidden, describe_layer(options).c_str(), epochs,
      t.mean().item<double>(), runs > 1 ? t.std().item<double>() : 0.0, runs,
      majority_baseline(g.y.index_select(0, train_idx), g.y.index_select(0, test_idx),
                        data.num_classes));
  return 0;
}

int mutag(const std::string& folder, const Options& options) {
  const auto data = datasets::read_tu_dataset(folder, "MUTAG");
  const auto folds = datasets::k_fold(static_cast<int64_t>(data.samples.size()), 10, 0);
  const int hidden = options.hidden > 0 ? options.hidden : 64;
  const int epochs = options.epochs > 0 ? options.epochs : 100;
  const int runs = options.seeds > 0 ? options.seeds : 1;
  double baseline = 0;  // the same folds for every seed: computed once
  for (const auto& [train, test] : folds)
    baseline += training::majority_class_accuracy(datasets::select(data.samples, train),
                                                  datasets::select(data.samples, test));
  std::vector<double> results;  // one 10-fold accuracy per seed
  for (int run = 0; run < runs; ++run) {
    double sum = 0;
    for (size_t f = 0; f < folds.size(); ++f) {
      const auto train = datasets::select(data.samples, folds[f].first),
                 test = datasets::select(data.samples, folds[f].second);
      // The same folds for every seed; seed s draws other initial weights and batch orders
      // (s = 0: the seeds of the single-run results in BENCHMARKS.md).
      const uint64_t seed = f + 1000 * static_cast<uint64_t>(run);
      torch::manual_seed(seed);
      GraphClassifier model(data.samples[0].x.size(1), data.samples[0].edge_attr.size(1), hidden,
                            data.num_classes, 0.5, options.masks, options.layers, options.parallel,
                            options.mlp_ratio,
                            models::feature_map_kind_from_string(options.feature_map));
      const double lr = 1e-2;
      torch::optim::AdamW optimizer(model->parameters(),
                                    torch::optim::AdamWOptions(lr).weight_decay(1e-2));
      datasets::DataLoaderOptions lo;
      lo.batch_size = 32;
      lo.seed = seed;
      datasets::DataLoader loader(std::make_shared<const std::vector<datasets::Sample>>(train), lo);
      for (int epoch = 0; epoch < epochs; ++epoch) {
        for (auto& group : optimizer.param_groups()) {  // cosine decay
          static_cast<torch::optim::AdamWOptions&>(group.options())
              .lr(lr * 0.5 * (1 + std::cos(M_PI * epoch / epochs)));
        }
        model->train();
        loader.start_epoch(epoch);
        while (auto batch = loader.next()) {
          const auto b = datasets::collate(*batch);
          optimizer.zero_grad();
          torch::nn::functional::cross_entropy(model->forward(b), b.data.y).backward();
          optimizer.step();
        }
      }
      model->eval();
      torch::NoGradGuard guard;
      const auto b = datasets::collate(test);
      const double acc = accuracy(model->forward(b), b.data.y);
      std::fprintf(stderr, "seed %d fold %zu: %.4f\n", run, f + 1, acc);
      sum += acc;
    }
    results.push_back(sum / folds.size());
    std::fprintf(stderr, "seed %d: 10-fold accuracy %.4f\n", run, results.back());
  }
  const auto t = torch::tensor(results, torch::kDouble);
  std::printf(
      "MUTAG, attention mask %s (%s, %d GINE layers, hidden %d%s, %d epochs): 10-fold "
      "cross-validated accuracy %.4f ± %.4f (mean ± std over %d seeds); majority-class "
      "baseline %.4f\n",
      describe(options.masks).c_str(),
      options.masks.empty() ? "no attention"
      : options.parallel    ? "parallel"
                            : "stacked",
      options.layers, hidden, describe_layer(options).c_str(), epochs, t.mean().item<double>(),
      runs > 1 ? t.std().item<double>() : 0.0, runs, baseline / folds.size());
  return 0;
}

int main(int argc, char** argv) try {
  topo::reuse_freed_memory();  // common/allocator.h
  topo::set_num_threads(1);
  const std::string task = argc > 1 ? argv[1] : "";
  const int files = task == "cora" ? 2 : 1;
  if ((task != "cora" && task != "mutag") || argc < 2 + files) {
    std::fprintf(
        stderr,
        "usage: custom_gnn cora <content> <cites> [--seeds N] [--hidden N] [--epochs N]\n"
        "           [--mlp-ratio N] [--feature-map NAME] [--mask SPEC|none]...\n"
        "       custom_gnn mutag <folder> [--seeds N] [--hidden N] [--epochs N] [--layers N]\n"
        "           [--arrangement parallel|stacked] [--mlp-ratio N] [--feature-map NAME]\n"
        "           [--mask SPEC|none]...\n"
        "SPEC: a graph mask of `topoformer masks`, e.g. diffusion:time=2\n");
    return 2;
  }
  Options options;
  bool masks_given = false, none = false;
  std::string layer_flag;  // the last flag given that sets the attention layer
  const auto count = [](const std::string& flag, const std::string& text, int least = 1) {
    size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(text, &used);
    } catch (const std::logic_error&) {
    }
    if (used != text.size() || value < least)
      throw std::invalid_argument("custom_gnn: " + flag + " must be a whole number >= " +
                                  std::to_string(least) + ", got \"" + text + "\"");
    return value;
  };
  for (int i = 2 + files; i < argc; ++i) {
    const std::string flag = argv[i];
    if (task == "cora" && i == 4 && flag.rfind("--", 0) != 0) {  // the older positional [runs]
      options.seeds = count("runs", flag);
      continue;
    }
    const bool known = flag == "--mask" || flag == "--hidden" || flag == "--epochs" ||
                       flag == "--mlp-ratio" || flag == "--feature-map" || flag == "--seeds" ||
                       ((flag == "--layers" || flag == "--arrangement") && task == "mutag");
    if (!known)
      throw std::invalid_argument("custom_gnn " + task + ": unknown option " + flag +
                                  (task == "cora"
                                       ? " (expected --mask, --hidden, --epochs, --mlp-ratio, "
                                         "--feature-map or --seeds)"
                                       : " (expected --mask, --hidden, --epochs, --mlp-ratio, "
                                         "--feature-map, --seeds, --layers or --arrangement)"));
    if (i + 1 >= argc) throw std::invalid_argument("custom_gnn: " + flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--seeds") {
      options.seeds = count("--seeds", value);
    } else if (flag == "--hidden") {
      options.hidden = count("--hidden", value);
    } else if (flag == "--epochs") {
      options.epochs = count("--epochs", value);
    } else if (flag == "--arrangement") {
      if (value != "parallel" && value != "stacked")
        throw std::invalid_argument(
            "custom_gnn mutag: --arrangement must be parallel or stacked, got \"" + value + "\"");
      options.parallel = value == "parallel";
      layer_flag = flag;
    } else if (flag == "--mlp-ratio") {
      options.mlp_ratio = count("--mlp-ratio", value, 0);
      layer_flag = flag;
    } else if (flag == "--feature-map") {
      models::feature_map_kind_from_string(value);  // names the choices when unknown
      options.feature_map = value;
      layer_flag = flag;
    } else if (flag == "--layers") {
      options.layers = count("--layers", value);
    } else {
      masks_given = true;
      if (value == "none")
        none = true;
      else
        options.masks.push_back(attention::parse_mask_spec(value));
      if (none && !options.masks.empty())
        throw std::invalid_argument("custom_gnn: --mask none cannot be combined with other masks");
    }
  }
  if (task == "mutag" && !options.parallel && options.layers < 2 && !none)
    throw std::invalid_argument(
        "custom_gnn mutag: stacked attention sits between GINE layers: --layers must be >= 2 "
        "(or give --arrangement parallel or --mask none), got " +
        std::to_string(options.layers));
  if (none && !layer_flag.empty())
    throw std::invalid_argument("custom_gnn: " + layer_flag +
                                " sets the attention layer, which --mask none removes");
  if (!masks_given) options.masks = {{task == "cora" ? "adjacency" : "diffusion", {}}};
  return task == "cora" ? cora(argv[2], argv[3], options) : mutag(argv[2], options);
} catch (const std::exception& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
