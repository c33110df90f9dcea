// SPDX-License-Identifier: Apache-2.0
#include "datasets/graphs.h"

#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "datasets/file_io.h"
#include "datasets/parsers/graph_parsers.h"
#include "datasets/parsers/text_parsing.h"

namespace topo::datasets {
namespace {

std::vector<int64_t> distinct(std::vector<int64_t> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

/// One-hot rows for labels mapped to their rank among `values` (sorted); a label outside
/// them is an error naming `file` and the line.
torch::Tensor one_hot(const std::vector<int64_t>& labels, const std::vector<int64_t>& values,
                      const std::string& file) {
  auto out =
      torch::zeros({static_cast<int64_t>(labels.size()), static_cast<int64_t>(values.size())});
  auto rows = out.accessor<float, 2>();
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto it = std::lower_bound(values.begin(), values.end(), labels[i]);
    if (it == values.end() || *it != labels[i]) {
      std::string known;
      for (const auto v : values) known += (known.empty() ? "" : ", ") + std::to_string(v);
      throw std::runtime_error(file + ":" + std::to_string(i + 1) + ": node label " +
                               std::to_string(labels[i]) + " is not one of the expected labels {" +
                               known + "}");
    }
    rows[static_cast<int64_t>(i)][it - values.begin()] = 1.0f;
  }
  return out;
}

}  // namespace

GraphDataset read_tu_dataset(const std::string& dir, const std::string& name,
                             const std::vector<int64_t>& node_label_values) {
  namespace fs = std::filesystem;
  const auto path = [&](const std::string& suffix) {
    return (fs::path(dir) / (name + "_" + suffix)).string();
  };
  const auto optional = [&](const std::string& suffix) {
    return fs::exists(path(suffix)) ? read_file(path(suffix)) : std::string();
  };
  TuFiles files;
  files.name = (fs::path(dir) / name).string();
  files.a = read_file(path("A.txt"));
  files.graph_indicator = read_file(path("graph_indicator.txt"));
  files.graph_labels = read_file(path("graph_labels.txt"));
  files.node_labels = optional("node_labels.txt");
  files.edge_labels = optional("edge_labels.txt");
  files.node_attributes = optional("node_attributes.txt");
  files.edge_attributes = optional("edge_attributes.txt");
  const auto parsed = parse_tu_dataset(files);
  std::vector<torch::Tensor> features;
  const auto vocabulary =
      node_label_values.empty() ? distinct(parsed.node_labels) : distinct(node_label_values);
  if (!parsed.node_labels.empty())
    features.push_back(one_hot(parsed.node_labels, vocabulary, path("node_labels.txt")));
  if (!parsed.node_attributes.empty()) {
    features.push_back(torch::tensor(parsed.node_attributes, torch::kDouble)
                           .view({parsed.num_nodes, parsed.node_attribute_dim})
                           .to(torch::kFloat));
  }
  const auto x = features.empty() ? torch::ones({parsed.num_nodes, 1}) : torch::cat(features, 1);
  const int64_t num_edges = static_cast<int64_t>(parsed.edges.size() / 2);
  const auto edges = torch::tensor(parsed.edges, torch::kLong).view({num_edges, 2}).t();
  const auto edge_features =
      parsed.edge_labels.empty()
          ? torch::Tensor()
          : one_hot(parsed.edge_labels, distinct(parsed.edge_labels), path("edge_labels.txt"));
  auto graph_classes = parsed.graph_labels;
  std::sort(graph_classes.begin(), graph_classes.end());
  graph_classes.erase(std::unique(graph_classes.begin(), graph_classes.end()), graph_classes.end());
  GraphDataset out;
  if (!parsed.node_labels.empty()) out.node_label_values = vocabulary;
  out.num_classes = static_cast<int64_t>(graph_classes.size());
  for (const auto c : graph_classes) out.class_names.push_back(std::to_string(c));
  const auto indicator = torch::tensor(parsed.graph_indicator, torch::kLong);
  const auto edge_graph = indicator.index_select(0, edges[0]);
  const auto offsets = torch::zeros({parsed.num_graphs + 1}, torch::kLong);
  offsets.slice(0, 1).copy_(torch::bincount(indicator, {}, parsed.num_graphs).cumsum(0));
  for (int64_t g = 0; g < parsed.num_graphs; ++g) {
    const int64_t begin = offsets[g].item<int64_t>(), end = offsets[g + 1].item<int64_t>();
    const auto mine = (edge_graph == g).nonzero().squeeze(1);
    Sample s;
    s.name = files.name + "#" + std::to_string(g + 1);
    s.x = x.slice(0, begin, end);
    s.edge_index = edges.index_select(1, mine) - begin;
    if (edge_features.defined()) s.edge_attr = edge_features.index_select(0, mine);
    s.y = torch::tensor(
        static_cast<int64_t>(
            std::lower_bound(graph_classes.begin(), graph_classes.end(), parsed.graph_labels[g]) -
            graph_classes.begin()),
        torch::kLong);
    out.samples.push_back(std::move(s));
  }
  return out;
}

GraphDataset read_citation_graph(const std::string& content_path, const std::string& cites_path) {
  const auto parsed = parse_citation_graph(read_file(content_path), content_path,
                                           read_file(cites_path), cites_path);
  const int64_t n = static_cast<int64_t>(parsed.paper_ids.size());
  Sample s;
  s.name = content_path;
  s.x = torch::tensor(parsed.features, torch::kDouble)
            .view({n, parsed.num_features})
            .to(torch::kFloat);
  s.y = torch::tensor(parsed.labels, torch::kLong);
  s.edge_index = torch::tensor(parsed.edges, torch::kLong).view({-1, 2}).t().contiguous();
  GraphDataset out;
  out.samples.push_back(std::move(s));
  out.class_names = parsed.class_names;
  out.num_classes = static_cast<int64_t>(parsed.class_names.size());
  return out;
}

}  // namespace topo::datasets
