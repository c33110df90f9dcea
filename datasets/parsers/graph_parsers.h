// SPDX-License-Identifier: Apache-2.0
/// \file
/// Graph dataset formats (pure C++): the TU Dortmund layout and the LINQS citation layout.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace topo::datasets {

/// The files of one TU dataset, already read (missing optional files: empty text).
struct TuFiles {
  std::string name;  ///< e.g. "MUTAG"; file names in messages are `<name>_A.txt` etc.
  std::string a, graph_indicator, graph_labels, node_labels, edge_labels, node_attributes,
      edge_attributes;
};

struct ParsedTuDataset {
  int64_t num_nodes = 0, num_graphs = 0;
  std::vector<int64_t> edges;                            ///< E × 2, 0-based node ids
  std::vector<int64_t> graph_indicator;                  ///< per node, 0-based graph id
  std::vector<int64_t> graph_labels;                     ///< per graph, as in the file
  std::vector<int64_t> node_labels, edge_labels;         ///< per node / edge, or empty
  std::vector<double> node_attributes, edge_attributes;  ///< row-major, or empty
  int64_t node_attribute_dim = 0, edge_attribute_dim = 0;
};

/// Parses and cross-checks a TU dataset: 1-based ids within range, edges inside one graph,
/// graph ids 1…G contiguous and sorted, one label per node/edge/graph.
ParsedTuDataset parse_tu_dataset(const TuFiles& files);

struct ParsedCitationGraph {
  std::vector<std::string> paper_ids;  ///< node order = order in the content file
  std::vector<double> features;        ///< N × F binary word indicators
  int64_t num_features = 0;
  std::vector<std::string> class_names;  ///< sorted
  std::vector<int64_t> labels;           ///< per node, index into class_names
  std::vector<int64_t> edges;            ///< E × 2 (citing, cited), 0-based
};

/// LINQS layout (Cora, CiteSeer): `<id> <w1> … <wF> <class>` lines and `<cited> <citing>`
/// lines. A citation of a paper missing from the content file is an error.
ParsedCitationGraph parse_citation_graph(std::string_view content, const std::string& content_file,
                                         std::string_view cites, const std::string& cites_file);

}  // namespace topo::datasets
