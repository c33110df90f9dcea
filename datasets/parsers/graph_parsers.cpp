// SPDX-License-Identifier: Apache-2.0
#include "datasets/parsers/graph_parsers.h"

#include <algorithm>
#include <unordered_map>

#include "datasets/parsers/text_parsing.h"

namespace topo::datasets {
namespace {

/// Integer rows of a comma/space separated file: each line has exactly `width` integers.
std::vector<int64_t> int_rows(std::string_view text, const std::string& file, size_t width) {
  LineReader reader(text, file);
  std::vector<int64_t> out;
  std::string_view line;
  while (reader.next(line)) {
    if (trim(line).empty()) continue;
    const auto fields = split_fields(line, true);
    if (fields.size() != width) reader.fail(std::to_string(width) + " integer field(s)", line);
    for (size_t i = 0; i < width; ++i) out.push_back(field_int(reader, fields, i, "an integer"));
  }
  return out;
}

std::vector<double> double_rows(std::string_view text, const std::string& file, int64_t& width) {
  LineReader reader(text, file);
  std::vector<double> out;
  std::string_view line;
  width = -1;
  while (reader.next(line)) {
    if (trim(line).empty()) continue;
    const auto fields = split_fields(line, true);
    if (width < 0) width = static_cast<int64_t>(fields.size());
    if (static_cast<int64_t>(fields.size()) != width || width == 0) {
      reader.fail(std::to_string(width) + " attribute values (as on the first line)", line);
    }
    for (size_t i = 0; i < fields.size(); ++i)
      out.push_back(field_double(reader, fields, i, "an attribute value"));
  }
  if (width < 0) width = 0;
  return out;
}

}  // namespace

ParsedTuDataset parse_tu_dataset(const TuFiles& files) {
  const std::string prefix = files.name + "_";
  ParsedTuDataset out;
  out.graph_indicator = int_rows(files.graph_indicator, prefix + "graph_indicator.txt", 1);
  out.num_nodes = static_cast<int64_t>(out.graph_indicator.size());
  if (out.num_nodes == 0)
    throw ParseError(prefix + "graph_indicator.txt",
                     "expected one graph id per node, got an empty file");
  int64_t previous = 1;
  for (size_t i = 0; i < out.graph_indicator.size(); ++i) {
    const int64_t g = out.graph_indicator[i];
    if (g < previous || g > previous + 1 || (i == 0 && g != 1)) {
      throw ParseError(prefix + "graph_indicator.txt", static_cast<int64_t>(i + 1),
                       "graph ids starting at 1, sorted and contiguous",
                       std::to_string(g) + " after " + std::to_string(previous));
    }
    previous = g;
    out.graph_indicator[i] = g - 1;
  }
  out.num_graphs = previous;
  out.graph_labels = int_rows(files.graph_labels, prefix + "graph_labels.txt", 1);
  if (static_cast<int64_t>(out.graph_labels.size()) != out.num_graphs) {
    throw ParseError(prefix + "graph_labels.txt", "expected " + std::to_string(out.num_graphs) +
                                                      " labels (one per graph), got " +
                                                      std::to_string(out.graph_labels.size()));
  }
  out.edges = int_rows(files.a, prefix + "A.txt", 2);
  for (size_t e = 0; e < out.edges.size() / 2; ++e) {
    for (int side = 0; side < 2; ++side) {
      int64_t& id = out.edges[2 * e + side];
      if (id < 1 || id > out.num_nodes) {
        throw ParseError(prefix + "A.txt", static_cast<int64_t>(e + 1),
                         "node ids in [1, " + std::to_string(out.num_nodes) + "]",
                         std::to_string(id));
      }
      --id;
    }
    if (out.graph_indicator[out.edges[2 * e]] != out.graph_indicator[out.edges[2 * e + 1]]) {
      throw ParseError(prefix + "A.txt", static_cast<int64_t>(e + 1), "an edge inside one graph",
                       "an edge between graphs " +
                           std::to_string(out.graph_indicator[out.edges[2 * e]] + 1) + " and " +
                           std::to_string(out.graph_indicator[out.edges[2 * e + 1]] + 1));
    }
  }
  const int64_t num_edges = static_cast<int64_t>(out.edges.size() / 2);
  const auto per_item = [&](const std::string& text, const std::string& file, int64_t expected,
                            const char* what) {
    if (text.empty()) return std::vector<int64_t>();
    auto labels = int_rows(text, file, 1);
    if (static_cast<int64_t>(labels.size()) != expected) {
      throw ParseError(file, "expected " + std::to_string(expected) + " labels (one per " + what +
                                 "), got " + std::to_string(labels.size()));
    }
    return labels;
  };
  out.node_labels = per_item(files.node_labels, prefix + "node_labels.txt", out.num_nodes, "node");
  out.edge_labels = per_item(files.edge_labels, prefix + "edge_labels.txt", num_edges, "edge");
  if (!files.node_attributes.empty()) {
    out.node_attributes =
        double_rows(files.node_attributes, prefix + "node_attributes.txt", out.node_attribute_dim);
    if (static_cast<int64_t>(out.node_attributes.size()) !=
        out.num_nodes * out.node_attribute_dim) {
      throw ParseError(prefix + "node_attributes.txt",
                       "expected one row per node (" + std::to_string(out.num_nodes) + ")");
    }
  }
  if (!files.edge_attributes.empty()) {
    out.edge_attributes =
        double_rows(files.edge_attributes, prefix + "edge_attributes.txt", out.edge_attribute_dim);
    if (static_cast<int64_t>(out.edge_attributes.size()) != num_edges * out.edge_attribute_dim) {
      throw ParseError(prefix + "edge_attributes.txt",
                       "expected one row per edge (" + std::to_string(num_edges) + ")");
    }
  }
  return out;
}

ParsedCitationGraph parse_citation_graph(std::string_view content, const std::string& content_file,
                                         std::string_view cites, const std::string& cites_file) {
  ParsedCitationGraph out;
  LineReader reader(content, content_file);
  std::string_view line;
  std::vector<std::string> class_of;
  std::unordered_map<std::string, int64_t> index;
  while (reader.next(line)) {
    if (trim(line).empty()) continue;
    const auto fields = split_fields(line);
    if (fields.size() < 3) reader.fail("`<paper id> <word indicators…> <class>`", line);
    const int64_t words = static_cast<int64_t>(fields.size()) - 2;
    if (out.num_features == 0) out.num_features = words;
    if (words != out.num_features)
      reader.fail(std::to_string(out.num_features) + " word indicators (as on the first line)",
                  line);
    const std::string id(fields[0]);
    if (!index.emplace(id, static_cast<int64_t>(out.paper_ids.size())).second)
      reader.fail("a new paper id", fields[0]);
    out.paper_ids.push_back(id);
    for (int64_t w = 0; w < words; ++w) {
      const double value =
          field_double(reader, fields, static_cast<size_t>(w + 1), "a 0/1 word indicator");
      if (value != 0 && value != 1) reader.fail("a 0/1 word indicator", fields[w + 1]);
      out.features.push_back(value);
    }
    class_of.emplace_back(fields.back());
  }
  if (out.paper_ids.empty()) throw ParseError(content_file, 1, "paper lines", "an empty file");
  out.class_names = class_of;
  std::sort(out.class_names.begin(), out.class_names.end());
  out.class_names.erase(std::unique(out.class_names.begin(), out.class_names.end()),
                        out.class_names.end());
  for (const auto& c : class_of) {
    out.labels.push_back(std::lower_bound(out.class_names.begin(), out.class_names.end(), c) -
                         out.class_names.begin());
  }
  LineReader links(cites, cites_file);
  while (links.next(line)) {
    if (trim(line).empty()) continue;
    const auto fields = split_fields(line);
    if (fields.size() != 2) links.fail("`<cited id> <citing id>`", line);
    const auto cited = index.find(std::string(fields[0])),
               citing = index.find(std::string(fields[1]));
    if (cited == index.end()) links.fail("a paper id of " + content_file, fields[0]);
    if (citing == index.end()) links.fail("a paper id of " + content_file, fields[1]);
    out.edges.push_back(citing->second);
    out.edges.push_back(cited->second);
  }
  return out;
}

}  // namespace topo::datasets
