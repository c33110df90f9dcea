// SPDX-License-Identifier: Apache-2.0
/// \file
/// Graph datasets as published: the TU Dortmund format (MUTAG, ENZYMES, PROTEINS, NCI1, …)
/// and the LINQS citation format (Cora).
#pragma once

#include <string>
#include <vector>

#include "datasets/sample.h"

namespace topo::datasets {

struct GraphDataset {
  std::vector<Sample> samples;
  int64_t num_classes = 0;
  std::vector<std::string> class_names;
  /// TU datasets: the node labels behind the one-hot columns of `x`, in column order.
  std::vector<int64_t> node_label_values;
};

/// `<dir>/<name>_A.txt`, `_graph_indicator.txt`, `_graph_labels.txt` and, when present,
/// `_node_labels.txt`, `_edge_labels.txt`, `_node_attributes.txt`, `_edge_attributes.txt`.
/// Per graph: `edge_index` (local ids, as listed), `x` = [one-hot node label, attributes],
/// `edge_attr` = one-hot edge label, `y` = graph label mapped to 0 … C−1 (sorted).
/// `node_label_values` fixes the one-hot columns (e.g. the training set's, to read new graphs
/// for a trained model; a label outside them is an error); empty: the labels found.
GraphDataset read_tu_dataset(const std::string& dir, const std::string& name,
                             const std::vector<int64_t>& node_label_values = {});

/// One citation graph: `x` [N, F] word indicators, `y` [N] class ids, `edge_index` citing →
/// cited. Files `<dir>/<name>.content[.gz]` (or `content_file`) and `<dir>/<name>.cites`.
GraphDataset read_citation_graph(const std::string& content_path, const std::string& cites_path);

}  // namespace topo::datasets
