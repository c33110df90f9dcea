// SPDX-License-Identifier: Apache-2.0
// Neighbourhoods, sampling and voxel grids of point clouds; graph kernels and random walks,
// for Python, in torch-cluster's and PyTorch Geometric's conventions (edge_index, batch).
#include <torch/torch.h>

#include "bindings.h"
#include "geometry/farthest_point_sampling.h"
#include "geometry/knn.h"
#include "geometry/radius.h"
#include "geometry/voxel_grid.h"
#include "graph/graph.h"
#include "graph/graph_kernels.h"
#include "graph/random_walks.h"
#include "graph/sparse_operator.h"

namespace topo::python {
namespace {

using OT = std::optional<torch::Tensor>;

graph::Normalization normalization_from_string(const std::string& name) {
  if (name == "none") return graph::Normalization::kNone;
  if (name == "symmetric") return graph::Normalization::kSymmetric;
  if (name == "random-walk") return graph::Normalization::kRandomWalk;
  TORCH_CHECK_VALUE(false,
                    "`normalization` must be \"none\", \"symmetric\" or \"random-walk\", got \"",
                    name, "\"");
}

graph::Graph make_graph(const torch::Tensor& edge_index, const OT& edge_weight, int64_t num_nodes,
                        const OT& batch) {
  return graph::Graph(edge_index.cpu(), edge_weight ? edge_weight->cpu() : torch::Tensor(),
                      num_nodes, batch ? batch->cpu() : torch::Tensor());
}

/// The operator W of a graph: "adjacency" (normalised as asked) or "laplacian".
graph::SparseOperator make_operator(const graph::Graph& g, const std::string& matrix,
                                    const std::string& normalization) {
  TORCH_CHECK_VALUE(matrix == "adjacency" || matrix == "laplacian",
                    "`matrix` must be \"adjacency\" or \"laplacian\", got \"", matrix, "\"");
  const auto n = normalization_from_string(normalization);
  return matrix == "adjacency" ? graph::adjacency_operator(g, n) : graph::laplacian_operator(g, n);
}

}  // namespace

void bind_geometry(py::module_& m) {
  m.def(
      "knn",
      [](const torch::Tensor& x, const torch::Tensor& y, int64_t k, const OT& batch_x,
         const OT& batch_y) {
        return geometry::knn(x, y, k, value_or_undefined(batch_x), value_or_undefined(batch_y));
      },
      py::arg("x"), py::arg("y"), py::arg("k"), py::arg("batch_x") = py::none(),
      py::arg("batch_y") = py::none());
  m.def(
      "knn_graph",
      [](const torch::Tensor& x, int64_t k, const OT& batch, bool loop, const std::string& flow) {
        return geometry::knn_graph(x, k, value_or_undefined(batch), loop, flow);
      },
      py::arg("x"), py::arg("k"), py::arg("batch") = py::none(), py::arg("loop") = false,
      py::arg("flow") = "source_to_target");
  m.def(
      "radius",
      [](const torch::Tensor& x, const torch::Tensor& y, double r, const OT& batch_x,
         const OT& batch_y, int64_t max_num_neighbors) {
        return geometry::radius(x, y, r, value_or_undefined(batch_x), value_or_undefined(batch_y),
                                max_num_neighbors);
      },
      py::arg("x"), py::arg("y"), py::arg("r"), py::arg("batch_x") = py::none(),
      py::arg("batch_y") = py::none(), py::arg("max_num_neighbors") = 32);
  m.def(
      "radius_graph",
      [](const torch::Tensor& x, double r, const OT& batch, bool loop, int64_t max_num_neighbors,
         const std::string& flow) {
        return geometry::radius_graph(x, r, value_or_undefined(batch), loop, max_num_neighbors,
                                      flow);
      },
      py::arg("x"), py::arg("r"), py::arg("batch") = py::none(), py::arg("loop") = false,
      py::arg("max_num_neighbors") = 32, py::arg("flow") = "source_to_target");
  m.def(
      "edge_lengths",
      [](const torch::Tensor& edge_index, const torch::Tensor& pos, const OT& pos_target) {
        return geometry::edge_lengths(edge_index, pos, value_or_undefined(pos_target));
      },
      py::arg("edge_index"), py::arg("pos"), py::arg("pos_target") = py::none());
  m.def(
      "farthest_point_sampling",
      [](const torch::Tensor& pos, const OT& batch, std::optional<double> ratio,
         std::optional<int64_t> num_samples, bool random_start) {
        TORCH_CHECK_VALUE(!(ratio && num_samples),
                          "farthest_point_sampling: give `ratio` or `num_samples`, not both");
        if (num_samples) {
          return geometry::farthest_point_sampling(pos, value_or_undefined(batch), *num_samples,
                                                   random_start);
        }
        return geometry::farthest_point_sampling(pos, value_or_undefined(batch),
                                                 ratio.value_or(0.5), random_start);
      },
      py::arg("pos"), py::arg("batch") = py::none(), py::arg("ratio") = py::none(),
      py::arg("num_samples") = py::none(), py::arg("random_start") = true);
  m.def(
      "voxel_grid",
      [](const torch::Tensor& pos, const std::vector<double>& voxel_size,
         const std::vector<int64_t>& grid_shape, const std::vector<double>& origin,
         const OT& batch) {
        const auto grid = geometry::voxel_grid(
            pos, geometry::VoxelGridOptions(voxel_size).grid_shape(grid_shape).origin(origin),
            value_or_undefined(batch));
        py::dict d;
        d["coords"] = grid.coords;
        d["cell"] = grid.cell;
        d["origin"] = grid.origin;
        d["shape"] = grid.shape;
        return d;
      },
      py::arg("pos"), py::arg("voxel_size"), py::arg("grid_shape") = std::vector<int64_t>{},
      py::arg("origin") = std::vector<double>{}, py::arg("batch") = py::none(),
      "Where every point falls: dict(coords [N, d], cell [N], origin [B, d], shape)");

  // --- graphs -----------------------------------------------------------------------------
  m.def(
      "graph_operator",
      [](const torch::Tensor& edge_index, int64_t num_nodes, const std::string& matrix,
         const std::string& normalization, const OT& edge_weight, const OT& batch) {
        const auto w = make_operator(make_graph(edge_index, edge_weight, num_nodes, batch), matrix,
                                     normalization);
        return py::make_tuple(w.edge_index, w.values);
      },
      py::arg("edge_index"), py::arg("num_nodes") = -1, py::arg("matrix") = "adjacency",
      py::arg("normalization") = "symmetric", py::arg("edge_weight") = py::none(),
      py::arg("batch") = py::none(), "(edge_index, values) of W as COO, float64");
  m.def(
      "diffusion",
      [](const torch::Tensor& edge_index, const torch::Tensor& t, const torch::Tensor& x,
         const std::string& matrix, const std::string& normalization, const OT& edge_weight,
         double tolerance) {
        const int64_t n = x.size(x.dim() - 2);
        const auto w =
            make_operator(make_graph(edge_index, edge_weight, n, {}), matrix, normalization);
        return graph::diffusion(w, t, x, tolerance);
      },
      py::arg("edge_index"), py::arg("t"), py::arg("x"), py::arg("matrix") = "adjacency",
      py::arg("normalization") = "symmetric", py::arg("edge_weight") = py::none(),
      py::arg("tolerance") = 1e-10, "exp(t·W)·x for x [N, C] or [H, N, C]");
  m.def(
      "random_walk_kernel",
      [](const torch::Tensor& edge_index, const torch::Tensor& alpha, const torch::Tensor& x,
         const std::string& matrix, const std::string& normalization, const OT& edge_weight) {
        const int64_t n = x.size(x.dim() - 2);
        const auto w =
            make_operator(make_graph(edge_index, edge_weight, n, {}), matrix, normalization);
        return graph::random_walk_kernel(w, alpha, x);
      },
      py::arg("edge_index"), py::arg("alpha"), py::arg("x"), py::arg("matrix") = "adjacency",
      py::arg("normalization") = "symmetric", py::arg("edge_weight") = py::none(), "Σ_k α_k W^k x");
  m.def(
      "regularized_laplacian",
      [](const torch::Tensor& edge_index, const torch::Tensor& sigma, const torch::Tensor& x,
         const OT& edge_weight, double tolerance, int64_t max_iterations) {
        const auto u = graph::adjacency_operator(make_graph(edge_index, edge_weight, x.size(0), {}),
                                                 graph::Normalization::kSymmetric);
        return graph::regularized_laplacian(u, sigma, x, tolerance, max_iterations);
      },
      py::arg("edge_index"), py::arg("sigma"), py::arg("x"), py::arg("edge_weight") = py::none(),
      py::arg("tolerance") = 1e-10, py::arg("max_iterations") = 1000,
      "(I − σU)^(-1)·x with U the symmetric normalised adjacency");
  m.def(
      "stationary_distribution",
      [](const torch::Tensor& edge_index, int64_t num_nodes, const OT& edge_weight,
         const OT& batch) {
        return graph::stationary_distribution(
            make_graph(edge_index, edge_weight, num_nodes, batch));
      },
      py::arg("edge_index"), py::arg("num_nodes") = -1, py::arg("edge_weight") = py::none(),
      py::arg("batch") = py::none());
  m.def(
      "random_walks",
      [](const torch::Tensor& edge_index, int64_t num_nodes, int64_t walks_per_node,
         int64_t max_length, double halt_probability, bool weighted, bool antithetic,
         const OT& starts, const OT& edge_weight) {
        const auto walks =
            graph::sample_random_walks(make_graph(edge_index, edge_weight, num_nodes, {}),
                                       graph::RandomWalkOptions()
                                           .walks_per_node(walks_per_node)
                                           .max_length(max_length)
                                           .halt_probability(halt_probability)
                                           .weighted(weighted)
                                           .antithetic(antithetic),
                                       value_or_undefined(starts));
        py::dict d;
        d["nodes"] = walks.nodes;
        d["length"] = walks.length;
        d["start"] = walks.start;
        return d;
      },
      py::arg("edge_index"), py::arg("num_nodes") = -1, py::arg("walks_per_node") = 16,
      py::arg("max_length") = 8, py::arg("halt_probability") = 0.0, py::arg("weighted") = false,
      py::arg("antithetic") = false, py::arg("starts") = py::none(),
      py::arg("edge_weight") = py::none(),
      "dict(nodes [W, max_length + 1] (−1 after the end), length [W], start [W]); seeded by "
      "torch.manual_seed");
}

}  // namespace topo::python
