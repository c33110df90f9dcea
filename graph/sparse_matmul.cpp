// SPDX-License-Identifier: Apache-2.0
#include "graph/sparse_matmul.h"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "common/check.h"

namespace topo::graph {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

void check_edges(const char* function, const torch::Tensor& edge_index, int64_t rows,
                 int64_t cols) {
  TOPO_CHECK_ARG(
      edge_index.dim() == 2 && edge_index.size(0) == 2 && edge_index.scalar_type() == torch::kLong,
      function, "edge_index", "an int64 tensor [2, E]", shape_string(edge_index));
  if (edge_index.size(1) == 0) return;
  const auto low = std::get<0>(edge_index.min(1)).cpu();
  const auto high = std::get<0>(edge_index.max(1)).cpu();
  TOPO_CHECK_ARG(
      low[0].item<int64_t>() >= 0 && high[0].item<int64_t>() < rows, function, "edge_index[0]",
      "in [0, " + std::to_string(rows) + ")",
      c10::str("values in [", low[0].item<int64_t>(), ", ", high[0].item<int64_t>(), "]"));
  TOPO_CHECK_ARG(
      low[1].item<int64_t>() >= 0 && high[1].item<int64_t>() < cols, function, "edge_index[1]",
      "in [0, " + std::to_string(cols) + ")",
      c10::str("values in [", low[1].item<int64_t>(), ", ", high[1].item<int64_t>(), "]"));
}

/// CSR view of an edge list by its row 0: a stable row-sorted permutation and row pointers.
struct Csr {
  torch::Tensor order;    // [E] edge ids sorted by row (stable)
  torch::Tensor pointer;  // [rows + 1]
};

Csr to_csr(const torch::Tensor& rows, int64_t num_rows) {
  Csr csr;
  csr.order = std::get<1>(torch::sort(rows, /*stable=*/c10::optional<bool>(true), 0)).contiguous();
  csr.pointer = torch::zeros({num_rows + 1}, torch::kLong);
  csr.pointer.slice(0, 1).copy_(torch::bincount(rows, {}, num_rows).cumsum(0));
  return csr;
}

torch::Tensor spmm_cpu(const torch::Tensor& edge_index, const torch::Tensor& values,
                       const torch::Tensor& x, int64_t num_rows) {
  const auto csr = to_csr(edge_index[0].contiguous(), num_rows);
  const auto cols = edge_index[1].contiguous();
  const auto w = values.contiguous();
  const auto in = x.contiguous();
  const int64_t heads = in.size(0), n_in = in.size(1), channels = in.size(2);
  const int64_t edges = cols.size(0);
  auto out = torch::zeros({heads, num_rows, channels}, in.options());
  AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "sparse_matmul", [&] {
    const auto* order = csr.order.data_ptr<int64_t>();
    const auto* pointer = csr.pointer.data_ptr<int64_t>();
    const auto* col = cols.data_ptr<int64_t>();
    const auto* weight = w.data_ptr<scalar_t>();
    const auto* src = in.data_ptr<scalar_t>();
    auto* dst = out.data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, channels));
    at::parallel_for(0, heads * num_rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t h = task / num_rows, i = task % num_rows;
        scalar_t* target = dst + (h * num_rows + i) * channels;
        for (int64_t p = pointer[i]; p < pointer[i + 1]; ++p) {
          const int64_t e = order[p];
          const scalar_t a = weight[h * edges + e];
          const scalar_t* source = src + (h * n_in + col[e]) * channels;
          for (int64_t c = 0; c < channels; ++c) target[c] += a * source[c];
        }
      }
    });
  });
  return out;
}

torch::Tensor sampled_dot_cpu(const torch::Tensor& edge_index, const torch::Tensor& a_in,
                              const torch::Tensor& b_in) {
  const auto rows = edge_index[0].contiguous();
  const auto cols = edge_index[1].contiguous();
  const auto a = a_in.contiguous();
  const auto b = b_in.contiguous();
  const int64_t heads = a.size(0), n_a = a.size(1), n_b = b.size(1), channels = a.size(2);
  const int64_t edges = rows.size(0);
  auto out = torch::empty({heads, edges}, a.options());
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "sampled_dot", [&] {
    const auto* row = rows.data_ptr<int64_t>();
    const auto* col = cols.data_ptr<int64_t>();
    const auto* pa = a.data_ptr<scalar_t>();
    const auto* pb = b.data_ptr<scalar_t>();
    auto* dst = out.data_ptr<scalar_t>();
    const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, channels));
    at::parallel_for(0, heads * edges, grain, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t h = task / edges, e = task % edges;
        const scalar_t* u = pa + (h * n_a + row[e]) * channels;
        const scalar_t* v = pb + (h * n_b + col[e]) * channels;
        scalar_t sum = 0;
        for (int64_t c = 0; c < channels; ++c) sum += u[c] * v[c];
        dst[task] = sum;
      }
    });
  });
  return out;
}

torch::Tensor transpose_edges(const torch::Tensor& edge_index) { return edge_index.flip(0); }

class SparseMatmulFunction : public torch::autograd::Function<SparseMatmulFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& values,
                               const torch::Tensor& x, const torch::Tensor& edge_index,
                               int64_t num_rows) {
    ctx->save_for_backward({values, x, edge_index});
    return spmm_cpu(edge_index, values, x, num_rows);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &values = saved[0], &x = saved[1], &edge_index = saved[2];
    const auto& grad = grads[0];
    torch::Tensor grad_values, grad_x;
    // Both gradients are again sparse products, so higher derivatives exist too.
    if (ctx->needs_input_grad(0)) grad_values = sampled_dot(edge_index, grad, x);
    if (ctx->needs_input_grad(1)) {
      grad_x = sparse_matmul(transpose_edges(edge_index), values, grad, x.size(1));
    }
    return {grad_values, grad_x, torch::Tensor(), torch::Tensor()};
  }
};

class SampledDotFunction : public torch::autograd::Function<SampledDotFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& a, const torch::Tensor& b,
                               const torch::Tensor& edge_index) {
    ctx->save_for_backward({a, b, edge_index});
    return sampled_dot_cpu(edge_index, a, b);
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &a = saved[0], &b = saved[1], &edge_index = saved[2];
    const auto& grad = grads[0];
    torch::Tensor grad_a, grad_b;
    if (ctx->needs_input_grad(0)) grad_a = sparse_matmul(edge_index, grad, b, a.size(1));
    if (ctx->needs_input_grad(1)) {
      grad_b = sparse_matmul(transpose_edges(edge_index), grad, a, b.size(1));
    }
    return {grad_a, grad_b, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor sparse_matmul(const torch::Tensor& edge_index, const torch::Tensor& values,
                            const torch::Tensor& x, int64_t num_rows) {
  ShapeChecker check("sparse_matmul");
  check(x, "x", {"H", "N", "C"});
  check(values, "values", {"*", "E"});
  check.floating(x, "x").same_dtype({{x, "x"}, {values, "values"}});
  check.same_device({{x, "x"}, {values, "values"}, {edge_index, "edge_index"}});
  TOPO_CHECK_ARG(num_rows >= 0, "sparse_matmul", "num_rows", ">= 0", num_rows);
  TOPO_CHECK_ARG(values.size(0) == 1 || values.size(0) == x.size(0), "sparse_matmul", "values",
                 c10::str("[1, E] or [", x.size(0), ", E] (one row per head of `x`)"),
                 shape_string(values));
  check_edges("sparse_matmul", edge_index, num_rows, x.size(1));
  TOPO_CHECK_ARG(edge_index.size(1) == values.size(1), "sparse_matmul", "values",
                 c10::str("one column per edge (", edge_index.size(1), ")"), shape_string(values));
  const auto w = values.expand({x.size(0), values.size(1)});
  if (!x.device().is_cpu()) return detail::sparse_matmul_reference(edge_index, w, x, num_rows);
  return SparseMatmulFunction::apply(w, x, edge_index, num_rows);
}

torch::Tensor sampled_dot(const torch::Tensor& edge_index, const torch::Tensor& a,
                          const torch::Tensor& b) {
  ShapeChecker check("sampled_dot");
  check(a, "a", {"H", "*", "C"});
  check(b, "b", {"H", "*", "C"});
  check.floating(a, "a").same_dtype({{a, "a"}, {b, "b"}});
  check.same_device({{a, "a"}, {b, "b"}, {edge_index, "edge_index"}});
  check_edges("sampled_dot", edge_index, a.size(1), b.size(1));
  if (!a.device().is_cpu()) return detail::sampled_dot_reference(edge_index, a, b);
  return SampledDotFunction::apply(a, b, edge_index);
}

namespace detail {

torch::Tensor sparse_matmul_reference(const torch::Tensor& edge_index, const torch::Tensor& values,
                                      const torch::Tensor& x, int64_t num_rows) {
  const auto messages = x.index_select(1, edge_index[1]) * values.unsqueeze(-1);
  return torch::zeros({x.size(0), num_rows, x.size(2)}, x.options())
      .index_add(1, edge_index[0], messages);
}

torch::Tensor sampled_dot_reference(const torch::Tensor& edge_index, const torch::Tensor& a,
                                    const torch::Tensor& b) {
  return (a.index_select(1, edge_index[0]) * b.index_select(1, edge_index[1])).sum(-1);
}

}  // namespace detail
}  // namespace topo::graph
