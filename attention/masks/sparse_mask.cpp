// SPDX-License-Identifier: Apache-2.0
#include "attention/masks/sparse_mask.h"

#include <torch/torch.h>

#include "common/check.h"
#include "graph/sparse_matmul.h"

namespace topo::attention {

SparseMaskImpl::SparseMaskImpl(torch::Tensor edge_index_, torch::Tensor values_,
                               int64_t batch_size_, int64_t length_, int64_t key_length_)
    : edge_index(std::move(edge_index_)),
      values(std::move(values_)),
      batch_size(batch_size_),
      length(length_),
      key_length(key_length_ < 0 ? length_ : key_length_) {
  TOPO_CHECK_ARG(batch_size >= 1 && length >= 1, "SparseMask", "batch_size and length", ">= 1",
                 c10::str(batch_size, " and ", length));
  TOPO_CHECK_ARG(edge_index.dim() == 2 && edge_index.size(0) == 2 &&
                     edge_index.scalar_type() == torch::kLong,
                 "SparseMask", "edge_index", "an int64 tensor [2, E]", shape_string(edge_index));
  TOPO_CHECK_ARG(values.dim() == 2 && values.size(1) == edge_index.size(1), "SparseMask",
                 "values", c10::str("[H, ", edge_index.size(1), "] or [1, ", edge_index.size(1), "]"),
                 shape_string(values));
  if (edge_index.size(1) > 0) {
    const auto query_batch = edge_index[0].div(length, "floor");
    const auto key_batch = edge_index[1].div(key_length, "floor");
    TOPO_CHECK_ARG(edge_index[0].min().item<int64_t>() >= 0 &&
                       edge_index[0].max().item<int64_t>() < batch_size * length,
                   "SparseMask", "edge_index[0]",
                   c10::str("in [0, batch_size·length = ", batch_size * length, ")"),
                   value_range(edge_index[0]));
    TOPO_CHECK_ARG(edge_index[1].min().item<int64_t>() >= 0 &&
                       edge_index[1].max().item<int64_t>() < batch_size * key_length,
                   "SparseMask", "edge_index[1]",
                   c10::str("in [0, batch_size·key_length = ", batch_size * key_length, ")"),
                   value_range(edge_index[1]));
    if (!query_batch.equal(key_batch)) {
      const int64_t e = (query_batch != key_batch).nonzero()[0][0].item<int64_t>();
      TOPO_CHECK_ARG(false, "SparseMask", "edge_index", "edges inside one batch element",
                     c10::str("edge ", e, " from batch element ", query_batch[e].item<int64_t>(), " to ",
                              key_batch[e].item<int64_t>()));
    }
  }
}

torch::Tensor SparseMaskImpl::apply(const torch::Tensor& x) {
  ShapeChecker check("SparseMask::apply");
  check.bind("B", batch_size, "the mask").bind("S", key_length, "the mask");
  check(x, "x", {"B", "H", "S", "C"});
  TOPO_CHECK_ARG(values.size(0) == 1 || values.size(0) == x.size(1), "SparseMask::apply", "x",
                 c10::str(values.size(0), " heads (rows of `values`)"), shape_string(x));
  const int64_t heads = x.size(1), channels = x.size(3);
  // [B, H, S, C] → [H, B·S, C]: one sparse product per head over the flattened tokens.
  const auto flat = x.transpose(0, 1).reshape({heads, batch_size * key_length, channels});
  const auto out = graph::sparse_matmul(edge_index.to(x.device()), values.to(x.scalar_type()),
                                        flat, batch_size * length);
  return out.view({heads, batch_size, length, channels}).transpose(0, 1);
}

torch::Tensor SparseMaskImpl::dense(int64_t length_, const torch::TensorOptions& options) {
  TORCH_CHECK_VALUE(length_ == length, "SparseMask::dense: `length` must be ", length, ", got ",
                    length_);
  const int64_t heads = values.size(0);
  const auto query_batch = edge_index[0].div(length, "floor");
  const auto flat = (query_batch * heads * length + edge_index[0] % length) * key_length +
                    edge_index[1] % key_length;  // index of [b, 0, i, j]
  auto out = torch::zeros({batch_size * heads * length * key_length}, options);
  for (int64_t h = 0; h < heads; ++h) {
    out.index_put_({flat + h * length * key_length}, values[h].to(options), /*accumulate=*/true);
  }
  return out.view({batch_size, heads, length, key_length});
}

void SparseMaskImpl::pretty_print(std::ostream& stream) const {
  stream << "topo::attention::SparseMask(edges=" << edge_index.size(1) << ", heads="
         << values.size(0) << ")";
}

}  // namespace topo::attention
