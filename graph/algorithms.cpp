// SPDX-License-Identifier: Apache-2.0
#include "graph/algorithms.h"

#include <torch/torch.h>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/breadth_first_search.hpp>
#include <boost/graph/compressed_sparse_row_graph.hpp>
#include <boost/graph/connected_components.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/graph/kruskal_min_spanning_tree.hpp>
#include <boost/graph/random_spanning_tree.hpp>
#include <cstdint>
#include <limits>
#include <vector>

#include "common/check.h"

namespace topo::graph {
namespace {

struct Arc {
  double weight;
};
/// Directed CSR view of our arcs (an undirected graph stores both directions).
using CsrGraph = boost::compressed_sparse_row_graph<boost::directedS, boost::no_property, Arc>;
using UndirectedGraph =
    boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, boost::no_property,
                          boost::property<boost::edge_weight_t, double>>;

CsrGraph to_csr(const Graph& graph) {
  const auto edges = graph.edge_index();
  const auto* e = edges.data_ptr<int64_t>();
  const auto* w = graph.weight().data_ptr<double>();
  const int64_t arcs = graph.num_arcs();
  std::vector<std::pair<size_t, size_t>> pairs(arcs);
  std::vector<Arc> properties(arcs);
  for (int64_t i = 0; i < arcs; ++i) {
    pairs[i] = {static_cast<size_t>(e[i]), static_cast<size_t>(e[arcs + i])};
    properties[i] = {w[i]};
  }
  return CsrGraph(boost::edges_are_sorted, pairs.begin(), pairs.end(), properties.begin(),
                  static_cast<size_t>(graph.num_nodes()));
}

/// Undirected Boost graph over the nodes `nodes` (renumbered 0…), each edge once.
UndirectedGraph to_undirected(const Graph& graph, const std::vector<int64_t>& nodes,
                              const std::vector<int64_t>& local) {
  UndirectedGraph g(nodes.size());
  const auto* rp = graph.row_ptr().data_ptr<int64_t>();
  const auto* c = graph.col().data_ptr<int64_t>();
  const auto* w = graph.weight().data_ptr<double>();
  for (const int64_t u : nodes) {
    for (int64_t a = rp[u]; a < rp[u + 1]; ++a) {
      if (u < c[a]) boost::add_edge(local[u], local[c[a]], w[a], g);
    }
  }
  return g;
}

void require_undirected(const char* function, const Graph& graph) {
  TOPO_CHECK_ARG(!graph.directed(), function, "graph", "undirected", "a directed graph");
}

torch::Tensor checked_sources(const char* function, const Graph& graph,
                              const torch::Tensor& sources) {
  TOPO_CHECK_ARG(sources.dim() == 1 && sources.scalar_type() == torch::kLong, function, "sources",
                 "a 1-D int64 tensor", shape_string(sources));
  const auto s = sources.cpu().contiguous();
  for (int64_t i = 0; i < s.size(0); ++i) {
    const int64_t v = s.data_ptr<int64_t>()[i];
    TOPO_CHECK_ARG(v >= 0 && v < graph.num_nodes(), function, "sources",
                   c10::str("node ids in [0, ", graph.num_nodes(), ")"), v);
  }
  return s;
}

/// Uniform random bits from torch's default generator, drawn in blocks (a Boost URNG).
class TorchBits {
 public:
  using result_type = uint32_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<uint32_t>::max(); }
  result_type operator()() {
    if (next_ == buffer_.size(0)) {
      buffer_ = torch::randint(0, int64_t{1} << 32, {4096}, torch::kLong);
      next_ = 0;
    }
    return static_cast<result_type>(buffer_.data_ptr<int64_t>()[next_++]);
  }

 private:
  torch::Tensor buffer_ = torch::empty({0}, torch::kLong);
  int64_t next_ = 0;
};

/// Nodes of every component, in node order.
std::vector<std::vector<int64_t>> components(const Graph& graph) {
  const auto ids = connected_components(graph);
  const auto* id = ids.data_ptr<int64_t>();
  const int64_t count = graph.num_nodes() == 0 ? 0 : ids.max().item<int64_t>() + 1;
  std::vector<std::vector<int64_t>> out(count);
  for (int64_t v = 0; v < graph.num_nodes(); ++v) out[id[v]].push_back(v);
  return out;
}

std::pair<torch::Tensor, torch::Tensor> forest_tensors(
    const std::vector<std::tuple<int64_t, int64_t, double>>& edges) {
  auto index = torch::empty({2, static_cast<int64_t>(edges.size())}, torch::kLong);
  auto weights = torch::empty({static_cast<int64_t>(edges.size())}, torch::kDouble);
  for (size_t i = 0; i < edges.size(); ++i) {
    const auto& [u, v, w] = edges[i];
    index[0][i] = std::min(u, v);
    index[1][i] = std::max(u, v);
    weights[i] = w;
  }
  return {index, weights};
}

}  // namespace

torch::Tensor bfs_distances(const Graph& graph, const torch::Tensor& sources) {
  const auto s = checked_sources("bfs_distances", graph, sources);
  const auto g = to_csr(graph);
  const int64_t n = graph.num_nodes();
  auto out = torch::full({s.size(0), n}, -1, torch::kLong);
  for (int64_t i = 0; i < s.size(0); ++i) {
    std::vector<int64_t> distance(n, -1);
    const int64_t source = s.data_ptr<int64_t>()[i];
    distance[source] = 0;
    struct Recorder : boost::default_bfs_visitor {
      std::vector<int64_t>* distance;
      void tree_edge(CsrGraph::edge_descriptor e, const CsrGraph& g) const {
        (*distance)[boost::target(e, g)] = (*distance)[boost::source(e, g)] + 1;
      }
    } recorder;
    recorder.distance = &distance;
    boost::breadth_first_search(g, static_cast<size_t>(source), boost::visitor(recorder));
    std::copy(distance.begin(), distance.end(), out[i].data_ptr<int64_t>());
  }
  return out;
}

torch::Tensor dijkstra_distances(const Graph& graph, const torch::Tensor& sources) {
  const auto s = checked_sources("dijkstra_distances", graph, sources);
  const auto g = to_csr(graph);
  const int64_t n = graph.num_nodes();
  auto out = torch::empty({s.size(0), n}, torch::kDouble);
  for (int64_t i = 0; i < s.size(0); ++i) {
    std::vector<double> distance(n);
    boost::dijkstra_shortest_paths(g, static_cast<size_t>(s.data_ptr<int64_t>()[i]),
                                   boost::weight_map(boost::get(&Arc::weight, g))
                                       .distance_map(boost::make_iterator_property_map(
                                           distance.begin(), boost::get(boost::vertex_index, g)))
                                       .distance_inf(std::numeric_limits<double>::infinity()));
    std::copy(distance.begin(), distance.end(), out[i].data_ptr<double>());
  }
  return out;
}

torch::Tensor connected_components(const Graph& graph) {
  require_undirected("connected_components", graph);
  std::vector<int64_t> all(graph.num_nodes());
  for (int64_t v = 0; v < graph.num_nodes(); ++v) all[v] = v;
  const auto g = to_undirected(graph, all, all);
  std::vector<int> component(graph.num_nodes());
  boost::connected_components(g, component.data());
  // Renumber in order of each component's smallest node.
  std::vector<int64_t> renumber(graph.num_nodes(), -1);
  auto out = torch::empty({graph.num_nodes()}, torch::kLong);
  int64_t next = 0;
  for (int64_t v = 0; v < graph.num_nodes(); ++v) {
    if (renumber[component[v]] < 0) renumber[component[v]] = next++;
    out.data_ptr<int64_t>()[v] = renumber[component[v]];
  }
  return out;
}

std::pair<torch::Tensor, torch::Tensor> minimum_spanning_tree(const Graph& graph) {
  require_undirected("minimum_spanning_tree", graph);
  std::vector<int64_t> all(graph.num_nodes());
  for (int64_t v = 0; v < graph.num_nodes(); ++v) all[v] = v;
  const auto g = to_undirected(graph, all, all);
  std::vector<UndirectedGraph::edge_descriptor> tree;
  boost::kruskal_minimum_spanning_tree(g, std::back_inserter(tree));
  const auto weight = boost::get(boost::edge_weight, g);
  std::vector<std::tuple<int64_t, int64_t, double>> edges;
  for (const auto& e : tree) {
    edges.emplace_back(static_cast<int64_t>(boost::source(e, g)),
                       static_cast<int64_t>(boost::target(e, g)), boost::get(weight, e));
  }
  return forest_tensors(edges);
}

std::pair<torch::Tensor, torch::Tensor> random_spanning_tree(const Graph& graph) {
  require_undirected("random_spanning_tree", graph);
  TorchBits bits;
  std::vector<int64_t> local(graph.num_nodes(), -1);
  std::vector<std::tuple<int64_t, int64_t, double>> edges;
  const auto* rp = graph.row_ptr().data_ptr<int64_t>();
  const auto* c = graph.col().data_ptr<int64_t>();
  const auto* w = graph.weight().data_ptr<double>();
  // Wilson's algorithm needs a connected graph: one tree per component, rooted at its first node.
  for (const auto& nodes : components(graph)) {
    if (nodes.size() < 2) continue;
    for (size_t i = 0; i < nodes.size(); ++i) local[nodes[i]] = static_cast<int64_t>(i);
    const auto g = to_undirected(graph, nodes, local);
    std::vector<size_t> parent(nodes.size());
    std::vector<boost::default_color_type> color(nodes.size());
    boost::random_spanning_tree(
        g, bits,
        boost::root_vertex(size_t{0}).predecessor_map(parent.data()).color_map(color.data()));
    for (size_t i = 1; i < nodes.size(); ++i) {
      const int64_t u = nodes[i], v = nodes[parent[i]];
      double weight = 0;
      for (int64_t a = rp[u]; a < rp[u + 1]; ++a) {
        if (c[a] == v) weight = w[a];
      }
      edges.emplace_back(u, v, weight);
    }
  }
  return forest_tensors(edges);
}

}  // namespace topo::graph
